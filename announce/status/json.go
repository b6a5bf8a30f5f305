package status

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"runtime"
	"time"

	"johnlocke/announce/tally"
	"johnlocke/modes"
	"johnlocke/store"
	"johnlocke/store/clusterview"
)

// topN is how many torrents each top table lists.
const topN = 20

// Stats is /stats.json; the README lists its keys. Every count is the same
// as the metric of the same meaning.
type Stats struct {
	Version       string  `json:"version"`
	GoVersion     string  `json:"go_version"`
	Started       string  `json:"started"` // RFC 3339, UTC
	UptimeSeconds float64 `json:"uptime_seconds"`
	Database      struct {
		Path      string `json:"path"`
		SizeBytes int64  `json:"size_bytes"`
	} `json:"database"`
	// Announces counts answered announces by protocol ("http", "udp"),
	// then mode, then event.
	Announces map[string]map[string]map[string]uint64 `json:"announces"`
	// Scrapes and Failures are per protocol (a listener that does not
	// run is left out); Failures then by reason.
	Scrapes  map[string]uint64            `json:"scrapes"`
	Failures map[string]map[string]uint64 `json:"failures"`
	// UDPConnects counts answered UDP connects.
	UDPConnects uint64 `json:"udp_connects"`
	// UDPPacedReads counts UDP reads made after waiting for a window.
	UDPPacedReads uint64 `json:"udp_paced_reads"`
	// Modes holds each mode's torrents (by origin) and peers (by role).
	Modes map[string]ModeStats `json:"modes"`
	// PeerBudget and PeerBudgetRefusals: --max-peers-total and the new
	// peers it left unstored.
	PeerBudget         int    `json:"peer_budget"`
	PeerBudgetRefusals uint64 `json:"peer_budget_refusals"`
	HTTPOpenConns      int    `json:"http_open_connections"`
	// LastFlush is the last flush that wrote something, null before the
	// first.
	LastFlush     *Flush `json:"last_flush"`
	FlushFailures uint64 `json:"flush_failures"`
	TopLeechers   []Top  `json:"top_leechers"`
	TopSeeders    []Top  `json:"top_seeders"`
	History       Series `json:"history"`
	// Cluster is this node's cluster figures, absent without cluster
	// mode (the same as `johnlocke stats` prints).
	Cluster *clusterview.View `json:"cluster,omitempty"`
}

// ModeStats is one mode's torrents and peers.
type ModeStats struct {
	Torrents map[string]int64 `json:"torrents"` // by origin: imported, dir, organic
	Seeders  int64            `json:"seeders"`
	Leechers int64            `json:"leechers"`
}

// Flush is the last successful flush.
type Flush struct {
	At       string  `json:"at"` // RFC 3339, UTC
	TookMS   float64 `json:"took_ms"`
	Bytes    int     `json:"bytes"`
	Torrents int     `json:"torrents"`
}

// Top is one line of a top table.
type Top struct {
	InfoHash  string `json:"info_hash"` // hex
	Name      string `json:"name"`
	Mode      string `json:"mode"`
	Seeders   int    `json:"seeders"`
	Leechers  int    `json:"leechers"`
	Completed uint32 `json:"completed"`
}

// stats gathers /stats.json (and the page's figures).
func (s *Server) stats() *Stats {
	snap := s.src.snapshot()
	st := &Stats{
		Version:            s.src.Version,
		GoVersion:          runtime.Version(),
		Started:            s.src.Started.UTC().Format(time.RFC3339),
		UptimeSeconds:      time.Since(s.src.Started).Truncate(time.Second).Seconds(),
		Announces:          map[string]map[string]map[string]uint64{},
		Scrapes:            map[string]uint64{},
		Failures:           map[string]map[string]uint64{},
		UDPConnects:        snap.udp.Connects,
		UDPPacedReads:      snap.udp.PacedReads,
		Modes:              map[string]ModeStats{},
		PeerBudget:         snap.store.PeerBudget,
		PeerBudgetRefusals: snap.store.TurnedAway,
		HTTPOpenConns:      snap.http.OpenConns,
		FlushFailures:      snap.store.Flush.Failures,
	}
	st.Database.Path, st.Database.SizeBytes = snap.store.DBPath, snap.store.DBSize
	for _, p := range protos {
		byMode := map[string]map[string]uint64{}
		for _, m := range everyMode {
			byEvent := map[string]uint64{}
			for e, name := range eventNames {
				byEvent[name] = snap.store.Announces[p][m][e]
			}
			byMode[m.String()] = byEvent
		}
		st.Announces[p.String()] = byMode
		if p == store.ProtoHTTP && !snap.hasHTTP || p == store.ProtoUDP && !snap.hasUDP {
			continue
		}
		w := snap.wire(p)
		st.Scrapes[p.String()] = w.Scrapes
		reasons := map[string]uint64{}
		for r := range tally.NumReasons {
			reasons[r.String()] = w.Failures[r]
		}
		st.Failures[p.String()] = reasons
	}
	for _, m := range everyMode {
		ms := ModeStats{Torrents: map[string]int64{}}
		for o, name := range originNames {
			ms.Torrents[name] = snap.store.Torrents[m][o]
		}
		ms.Seeders, ms.Leechers = snap.peers(m)
		st.Modes[m.String()] = ms
	}
	if fl := &snap.store.Flush; !fl.LastWrite.IsZero() {
		st.LastFlush = &Flush{At: fl.LastWrite.UTC().Format(time.RFC3339), TookMS: float64(fl.LastTook) / float64(time.Millisecond),
			Bytes: fl.LastBytes, Torrents: fl.LastTorrents}
	}
	if s.src.Cluster != nil {
		v := s.src.Cluster.View()
		st.Cluster = &v
	}
	st.TopLeechers = tops(s.src.Store.Top(topN, false))
	st.TopSeeders = tops(s.src.Store.Top(topN, true))
	s.mu.Lock()
	st.History = s.history.series()
	s.mu.Unlock()
	return st
}

func tops(ts []store.TopTorrent) []Top {
	out := make([]Top, len(ts))
	for i, t := range ts {
		out[i] = Top{InfoHash: hex.EncodeToString(t.InfoHash[:]), Name: t.Name, Mode: t.Mode.Or(modes.Large).String(),
			Seeders: t.Seeders, Leechers: t.Leechers, Completed: t.Completed}
	}
	return out
}

func (s *Server) serveJSON(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s.stats()); err != nil {
		s.log.Debug().Err(err).Msg("status: writing stats.json")
	}
}
