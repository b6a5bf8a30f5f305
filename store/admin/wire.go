package admin

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"johnlocke/modes"
	"johnlocke/store"
	"johnlocke/store/clusterview"
)

// API paths. The version prefix lets a newer server keep answering an older
// client.
const (
	pathStatus   = "/v1/status"
	pathRegister = "/v1/register"
	pathTorrents = "/v1/torrents"
	pathPurge    = "/v1/purge"
)

// Status describes the running server.
type Status struct {
	PID      int       `json:"pid"`
	DB       string    `json:"db"`
	Socket   string    `json:"socket"`
	Started  time.Time `json:"started"`
	Version  string    `json:"version"`
	Schema   int       `json:"schema"`
	Mode     string    `json:"mode"`
	Torrents int64     `json:"torrents"`
	Peers    int64     `json:"peers"`
	// Cluster is the node's cluster figures; absent when serve runs
	// without cluster mode (or is older than it).
	Cluster *clusterview.View `json:"cluster,omitempty"`
}

// wireTorrent is store.Torrent on the wire. Modes and sources travel by
// name, as `stats --json` prints them, so a script reading /v1/torrents and
// one reading `stats --json` see the same values; names map one to one onto
// the stored numbers, so the conversion is exact both ways.
type wireTorrent struct {
	InfoHash   string    `json:"infohash"`
	Alias      string    `json:"alias,omitempty"`
	Name       string    `json:"name"`
	Size       int64     `json:"size"`
	Private    bool      `json:"private,omitempty"`
	Mode       string    `json:"mode"`
	Source     string    `json:"source"`
	Origin     string    `json:"origin,omitempty"`
	Added      time.Time `json:"added,omitzero"`
	LastActive time.Time `json:"last_active,omitzero"`
	Completed  uint64    `json:"completed"`
	Seeders    int       `json:"seeders"`
	Leechers   int       `json:"leechers"`
}

func toWire(t *store.Torrent) wireTorrent {
	w := wireTorrent{
		InfoHash:   hex.EncodeToString(t.InfoHash[:]),
		Name:       t.Name,
		Size:       t.Size,
		Private:    t.Private,
		Mode:       t.Mode.String(),
		Source:     t.Source.String(),
		Origin:     t.Origin,
		Added:      t.Added,
		LastActive: t.LastActive,
		Completed:  t.Completed,
		Seeders:    t.Seeders,
		Leechers:   t.Leechers,
	}
	if t.HasAlias {
		w.Alias = hex.EncodeToString(t.Alias[:])
	}
	return w
}

func (w *wireTorrent) toStore() (store.Torrent, error) {
	t := store.Torrent{
		Name:       w.Name,
		Size:       w.Size,
		Private:    w.Private,
		Origin:     w.Origin,
		Added:      w.Added,
		LastActive: w.LastActive,
		Completed:  w.Completed,
		Seeders:    w.Seeders,
		Leechers:   w.Leechers,
	}
	var err error
	if t.Mode, err = modes.Parse(w.Mode); err != nil {
		return t, err
	}
	if t.Source, err = store.ParseSource(w.Source); err != nil {
		return t, err
	}
	if t.InfoHash, err = parseHex(w.InfoHash); err != nil {
		return t, fmt.Errorf("infohash: %w", err)
	}
	if w.Alias != "" {
		if t.Alias, err = parseHex(w.Alias); err != nil {
			return t, fmt.Errorf("alias: %w", err)
		}
		t.HasAlias = true
	}
	if t.Size < 0 {
		return t, fmt.Errorf("negative size %d", t.Size)
	}
	return t, nil
}

// parseHex reads an infohash written as 40 hex digits.
func parseHex(s string) ([20]byte, error) {
	var h [20]byte
	if len(s) != 2*len(h) {
		return h, fmt.Errorf("want 40 hex digits, got %d characters", len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("want 40 hex digits: %w", err)
	}
	return h, nil
}

// registerRequest is the body of a register request as the client writes
// it; the server reads it with decodeRegister.
type registerRequest struct {
	Torrents []wireTorrent `json:"torrents"`
}

type wireResult struct {
	InfoHash    string `json:"infohash"`
	Added       bool   `json:"added,omitempty"`
	ModeChanged bool   `json:"mode_changed,omitempty"`
	Banned      bool   `json:"banned,omitempty"`
}

type registerResponse struct {
	Results []wireResult `json:"results"`
}

type purgeRequest struct {
	// OlderThan is a duration in nanoseconds; zero keeps every torrent.
	OlderThan time.Duration `json:"older_than"`
	DryRun    bool          `json:"dry_run"`
}

type purgeResponse struct {
	Torrents      []string   `json:"torrents"`
	Kept          []wireKept `json:"kept,omitempty"`
	Peers         int        `json:"peers"`
	SwarmsDropped int        `json:"swarms_dropped"`
}

// wireKept is a store.PurgeKept on the wire.
type wireKept struct {
	InfoHash string `json:"infohash"`
	Reason   string `json:"reason"`
}

// streamItem is one line of the torrent stream: a torrent, or the closing
// line (End with the count, or Error). A stream without its closing line
// was cut short.
type streamItem struct {
	Torrent *wireTorrent `json:"torrent,omitempty"`
	End     bool         `json:"end,omitempty"`
	Count   int          `json:"count,omitempty"`
	Error   string       `json:"error,omitempty"`
}

// errorBody is the body of every non-2xx answer.
type errorBody struct {
	Error string `json:"error"`
}

// errTooManyTorrents is decodeRegister's refusal of a batch over
// maxRegisterBatch.
var errTooManyTorrents = fmt.Errorf("more than %d torrents in one request", maxRegisterBatch)

// decodeRegister reads a register request ({"torrents": [...]}) one torrent
// at a time and stops at the first torrent past maxRegisterBatch, so a body
// of millions of tiny objects costs at most the batch, not millions of
// decoded torrents. It accepts what json.Unmarshal into registerRequest
// accepts, except that it refuses a repeated "torrents" key (which of them
// counts would be a guess), a body that is not an object, and trailing data.
func decodeRegister(r io.Reader) ([]wireTorrent, error) {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{'); err != nil {
		return nil, err
	}
	var (
		ts   []wireTorrent
		seen bool
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string) // object keys are always strings
		// encoding/json matches field names case-insensitively; so do we.
		if !strings.EqualFold(key, "torrents") {
			// Unknown fields are ignored, as json.Unmarshal does; the
			// body limit bounds what skipping one may buffer.
			if err := dec.Decode(&json.RawMessage{}); err != nil {
				return nil, err
			}
			continue
		}
		if seen {
			return nil, fmt.Errorf("%q given twice", key)
		}
		seen = true
		if ts, err = decodeTorrents(dec); err != nil {
			return nil, err
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON value")
	}
	return ts, nil
}

// decodeTorrents reads the torrents array (or null) element by element.
func decodeTorrents(dec *json.Decoder) ([]wireTorrent, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if tok == nil {
		return nil, nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, fmt.Errorf("torrents: want an array, got %s", tokenKind(tok))
	}
	var ts []wireTorrent
	for dec.More() {
		if len(ts) == maxRegisterBatch {
			return nil, errTooManyTorrents
		}
		var t wireTorrent
		if err := dec.Decode(&t); err != nil {
			return nil, fmt.Errorf("torrent %d: %w", len(ts), err)
		}
		ts = append(ts, t)
	}
	return ts, expectDelim(dec, ']')
}

// expectDelim reads one token that must be the delimiter want.
func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("want %q, got %s", want, tokenKind(tok))
	}
	return nil
}

// tokenKind names a JSON token without quoting it: a client's string may be
// megabytes long, and an error message echoes none of it.
func tokenKind(tok json.Token) string {
	switch tok := tok.(type) {
	case json.Delim:
		return fmt.Sprintf("%q", rune(tok))
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", tok)
}
