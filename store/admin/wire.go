package admin

import (
	"encoding/hex"
	"fmt"
	"time"

	"johnlocke/modes"
	"johnlocke/store"
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

type registerRequest struct {
	Torrents []wireTorrent `json:"torrents"`
}

type wireResult struct {
	InfoHash    string `json:"infohash"`
	Added       bool   `json:"added,omitempty"`
	ModeChanged bool   `json:"mode_changed,omitempty"`
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
