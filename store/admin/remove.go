package admin

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"johnlocke/store"
)

// Paths of the deny-list endpoints.
const (
	pathRemove = "/v1/remove"
	pathUnban  = "/v1/unban"
	pathBanned = "/v1/banned"
)

// maxRemoveBatch is the most infohashes one remove or unban request may
// carry; the client splits longer lists. At 43 bytes an infohash on the
// wire it keeps the body well under maxRemoveBody.
const (
	maxRemoveBatch = 4096
	maxRemoveBody  = 1 << 20
)

// Banlist is what remove, unban and stats --banned work on, live or on the
// file, like Registry.
type Banlist interface {
	// Remove unregisters hashes and, with ban, puts them on the deny list.
	Remove(hashes [][20]byte, ban bool, reason string) ([]store.RemoveResult, error)
	// Unban lifts bans; each result tells whether the hash was banned.
	Unban(hashes [][20]byte) ([]bool, error)
	// Banned lists the deny list.
	Banned() ([]store.Ban, error)
}

type removeRequest struct {
	InfoHashes []string `json:"infohashes"`
	Ban        bool     `json:"ban,omitempty"`
	Reason     string   `json:"reason,omitempty"`
}

type removeResult struct {
	InfoHash string `json:"infohash"`
	Removed  bool   `json:"removed,omitempty"`
	Banned   bool   `json:"banned,omitempty"`
}

type removeResponse struct {
	Results []removeResult `json:"results"`
}

type unbanRequest struct {
	InfoHashes []string `json:"infohashes"`
}

type unbanResponse struct {
	WasBanned []bool `json:"was_banned"`
}

type wireBan struct {
	InfoHash string    `json:"infohash"`
	At       time.Time `json:"at"`
	Reason   string    `json:"reason,omitempty"`
	Link     string    `json:"link,omitempty"`
}

type bannedResponse struct {
	Banned []wireBan `json:"banned"`
}

// routeBanlist adds the deny-list endpoints to mux.
func (s *Server) routeBanlist(mux *http.ServeMux) {
	mux.HandleFunc("POST "+pathRemove, s.handleRemove)
	mux.HandleFunc("POST "+pathUnban, s.handleUnban)
	mux.HandleFunc("GET "+pathBanned, s.handleBanned)
}

// parseHashes reads a request's infohashes, answering the client itself
// when it cannot.
func parseHashes(w http.ResponseWriter, in []string) ([][20]byte, bool) {
	if len(in) > maxRemoveBatch {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("more than %d infohashes in one request", maxRemoveBatch))
		return nil, false
	}
	hashes := make([][20]byte, len(in))
	for i, s := range in {
		h, err := parseHex(s)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("infohash %d: %v", i, err))
			return nil, false
		}
		hashes[i] = h
	}
	return hashes, true
}

func (s *Server) handleRemove(w http.ResponseWriter, r *http.Request) {
	var req removeRequest
	if !decodeBody(w, r, maxRemoveBody, &req) {
		return
	}
	hashes, ok := parseHashes(w, req.InfoHashes)
	if !ok {
		return
	}
	results, err := s.st.Remove(hashes, req.Ban, req.Reason)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	resp := removeResponse{Results: make([]removeResult, len(results))}
	removed := 0
	for i, res := range results {
		resp.Results[i] = removeResult{InfoHash: hex.EncodeToString(res.InfoHash[:]), Removed: res.Removed, Banned: res.Banned}
		if res.Removed {
			removed++
		}
	}
	s.cfg.Log.Info().Int("asked", len(hashes)).Int("removed", removed).Bool("ban", req.Ban).Msg("admin: removed torrents")
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handleUnban(w http.ResponseWriter, r *http.Request) {
	var req unbanRequest
	if !decodeBody(w, r, maxRemoveBody, &req) {
		return
	}
	hashes, ok := parseHashes(w, req.InfoHashes)
	if !ok {
		return
	}
	was, err := s.st.Unban(hashes)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.cfg.Log.Info().Int("asked", len(hashes)).Msg("admin: lifted bans")
	writeJSON(w, http.StatusOK, unbanResponse{WasBanned: was})
}

func (s *Server) handleBanned(w http.ResponseWriter, _ *http.Request) {
	bans, err := s.st.Banned()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	resp := bannedResponse{Banned: make([]wireBan, len(bans))}
	for i, b := range bans {
		resp.Banned[i] = wireBan{InfoHash: hex.EncodeToString(b.InfoHash[:]), At: b.At, Reason: b.Reason}
		if b.HasLink {
			resp.Banned[i].Link = hex.EncodeToString(b.Link[:])
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

func hexHashes(hs [][20]byte) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = hex.EncodeToString(h[:])
	}
	return out
}

// Remove unregisters hashes through the server (and bans them with ban),
// in batches of maxRemoveBatch.
func (c *Client) Remove(hashes [][20]byte, ban bool, reason string) ([]store.RemoveResult, error) {
	results := make([]store.RemoveResult, 0, len(hashes))
	for start := 0; start < len(hashes); start += maxRemoveBatch {
		batch := hashes[start:min(start+maxRemoveBatch, len(hashes))]
		var resp removeResponse
		if err := c.call(http.MethodPost, pathRemove, removeRequest{InfoHashes: hexHashes(batch), Ban: ban, Reason: reason}, &resp); err != nil {
			return results, err
		}
		if len(resp.Results) != len(batch) {
			return results, fmt.Errorf("admin socket %s: %d results for %d infohashes", c.path, len(resp.Results), len(batch))
		}
		for _, r := range resp.Results {
			h, err := parseHex(r.InfoHash)
			if err != nil {
				return results, fmt.Errorf("admin socket %s: result: %w", c.path, err)
			}
			results = append(results, store.RemoveResult{InfoHash: h, Removed: r.Removed, Banned: r.Banned})
		}
	}
	return results, nil
}

// Unban lifts bans through the server, in batches of maxRemoveBatch.
func (c *Client) Unban(hashes [][20]byte) ([]bool, error) {
	was := make([]bool, 0, len(hashes))
	for start := 0; start < len(hashes); start += maxRemoveBatch {
		batch := hashes[start:min(start+maxRemoveBatch, len(hashes))]
		var resp unbanResponse
		if err := c.call(http.MethodPost, pathUnban, unbanRequest{InfoHashes: hexHashes(batch)}, &resp); err != nil {
			return was, err
		}
		if len(resp.WasBanned) != len(batch) {
			return was, fmt.Errorf("admin socket %s: %d results for %d infohashes", c.path, len(resp.WasBanned), len(batch))
		}
		was = append(was, resp.WasBanned...)
	}
	return was, nil
}

// Banned lists the server's deny list.
func (c *Client) Banned() ([]store.Ban, error) {
	var resp bannedResponse
	if err := c.call(http.MethodGet, pathBanned, nil, &resp); err != nil {
		return nil, err
	}
	bans := make([]store.Ban, len(resp.Banned))
	for i, w := range resp.Banned {
		h, err := parseHex(w.InfoHash)
		if err != nil {
			return nil, fmt.Errorf("admin socket %s: banned: %w", c.path, err)
		}
		bans[i] = store.Ban{InfoHash: h, At: w.At, Reason: w.Reason}
		if w.Link != "" {
			if bans[i].Link, err = parseHex(w.Link); err != nil {
				return nil, fmt.Errorf("admin socket %s: banned: %w", c.path, err)
			}
			bans[i].HasLink = true
		}
	}
	return bans, nil
}

func (r liveRegistry) Remove(hashes [][20]byte, ban bool, reason string) ([]store.RemoveResult, error) {
	res, err := r.cl.Remove(hashes, ban, reason)
	return res, liveError(err)
}

func (r liveRegistry) Unban(hashes [][20]byte) ([]bool, error) {
	was, err := r.cl.Unban(hashes)
	return was, liveError(err)
}

func (r liveRegistry) Banned() ([]store.Ban, error) {
	bans, err := r.cl.Banned()
	return bans, liveError(err)
}

func (r fileRegistry) Remove(hashes [][20]byte, ban bool, reason string) ([]store.RemoveResult, error) {
	res, _, err := r.db.Remove(hashes, ban, reason, r.now)
	return res, dbError(err)
}

func (r fileRegistry) Unban(hashes [][20]byte) ([]bool, error) {
	was, _, err := r.db.Unban(hashes)
	return was, dbError(err)
}

func (r fileRegistry) Banned() ([]store.Ban, error) {
	bans, err := r.db.Banned()
	return bans, dbError(err)
}
