// Package report writes what the subcommands tell an operator: import
// results, one torrent's figures, a registry summary and purge results, as
// readable text or (for stats) JSON for scripts. It only formats; it reads
// and changes nothing.
package report

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"johnlocke/modes"
	"johnlocke/store"
	"johnlocke/store/clusterview"
)

// Import reports each registered torrent and a closing summary line.
func Import(w io.Writer, ts []store.Torrent, results []store.RegisterResult, failed int) {
	var added, known, changed int
	for i := range results {
		t, r := &ts[i], &results[i]
		what := "known"
		switch {
		case r.Banned:
			// Counted by the caller, which fails the import for it.
			what = "banned"
		case r.Added:
			what = "added"
			added++
		case r.ModeChanged:
			what = "mode"
			changed++
		default:
			known++
		}
		name := t.Name
		if name == "" {
			name = "(name unknown)"
		}
		fmt.Fprintf(w, "%-8s %x %s (%s)\n", what, t.InfoHash, name, t.Origin)
	}
	fmt.Fprintf(w, "imported %d new, %d already registered, %d mode changed, %d failed\n", added, known, changed, failed)
}

// View says where the figures come from: what the operator must be told
// to read them right.
type View struct {
	// Live: seeders, leechers and last activity are a running server's.
	// Otherwise they are those of the server's last flush to the file.
	Live bool
	// ServeMode is the mode a torrent of mode Default follows: the running
	// server's --mode, or the last server's; ServeModeKnown is false when
	// no server has run on the database yet.
	ServeMode      modes.Mode
	ServeModeKnown bool
	// Cluster is the running server's cluster figures (nil: no cluster).
	Cluster *clusterview.View
}

// effectiveMode is the mode a torrent follows.
func (v View) effectiveMode(m modes.Mode) modes.Mode {
	if m != modes.Default {
		return m
	}
	if v.ServeModeKnown {
		return v.ServeMode
	}
	return modes.Large // serve's default --mode
}

// torrentJSON is the stable JSON shape of one torrent for scripts.
type torrentJSON struct {
	InfoHash string `json:"infohash"`
	Alias    string `json:"alias,omitempty"`
	Name     string `json:"name"`
	Size     int64  `json:"size"`
	Private  bool   `json:"private"`
	// Mode is the torrent's own mode ("default": it follows the server's);
	// ModeInEffect is the one it follows.
	Mode         string `json:"mode"`
	ModeInEffect string `json:"mode_in_effect"`
	// Live tells that seeders, leechers and last_active are a running
	// server's, not those of its last flush.
	Live       bool       `json:"live"`
	Seeders    int        `json:"seeders"`
	Leechers   int        `json:"leechers"`
	Completed  uint64     `json:"completed"`
	LastActive *time.Time `json:"last_active"`
	Added      time.Time  `json:"added"`
	Source     string     `json:"source"`
	Origin     string     `json:"origin,omitempty"`
}

func toJSON(t *store.Torrent, v View) torrentJSON {
	j := torrentJSON{
		InfoHash:     hex.EncodeToString(t.InfoHash[:]),
		Name:         t.Name,
		Size:         t.Size,
		Private:      t.Private,
		Mode:         t.Mode.String(),
		ModeInEffect: v.effectiveMode(t.Mode).String(),
		Live:         v.Live,
		Seeders:      t.Seeders,
		Leechers:     t.Leechers,
		Completed:    t.Completed,
		Added:        t.Added,
		Source:       t.Source.String(),
		Origin:       t.Origin,
	}
	if t.HasAlias {
		j.Alias = hex.EncodeToString(t.Alias[:])
	}
	if !t.LastActive.IsZero() {
		la := t.LastActive
		j.LastActive = &la
	}
	return j
}

// Torrent writes one torrent's figures.
func Torrent(w io.Writer, t *store.Torrent, now time.Time, v View, asJSON bool) error {
	if asJSON {
		return writeJSON(w, toJSON(t, v))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "infohash\t%x\n", t.InfoHash)
	if t.HasAlias {
		fmt.Fprintf(tw, "v2 infohash\t%x (truncated SHA-256)\n", t.Alias)
	}
	name := t.Name
	if name == "" {
		name = "(unknown: registered by an announce or by infohash)"
	}
	fmt.Fprintf(tw, "name\t%s\n", name)
	if t.Size > 0 {
		fmt.Fprintf(tw, "size\t%d bytes\n", t.Size)
	}
	fmt.Fprintf(tw, "mode\t%s\n", modeLine(t.Mode, v))
	effective := v.effectiveMode(t.Mode)
	fmt.Fprintf(tw, "seeders\t%d%s\n", t.Seeders, countNote(effective, v))
	fmt.Fprintf(tw, "leechers\t%d%s\n", t.Leechers, countNote(effective, v))
	fmt.Fprintf(tw, "completed\t%d\n", t.Completed)
	last := when(t.LastActive, now)
	if !v.Live && !t.LastActive.IsZero() {
		// The file gets the time of the latest announce when a flush
		// writes the torrent, at most once a minute.
		last += ", as of the last flush (to within a minute)"
	}
	fmt.Fprintf(tw, "last active\t%s\n", last)
	fmt.Fprintf(tw, "added\t%s\n", when(t.Added, now))
	source := t.Source.String()
	if t.Origin != "" {
		source += " (" + t.Origin + ")"
	}
	fmt.Fprintf(tw, "source\t%s\n", source)
	if t.Private {
		fmt.Fprintf(tw, "private\tyes\n")
	}
	return tw.Flush()
}

// modeLine names the mode in effect and why.
func modeLine(m modes.Mode, v View) string {
	switch {
	case m != modes.Default:
		return m.String() + " (its own, set by import --mode)"
	case v.Live:
		return v.ServeMode.String() + ", the server's default (serve --mode)"
	case v.ServeModeKnown:
		return v.ServeMode.String() + ", the default of the last serve (serve --mode)"
	}
	return "large, serve's default (no server has run on this database yet; serve --mode changes it)"
}

// countNote says how to read seeders and leechers that are not live.
func countNote(effective modes.Mode, v View) string {
	switch {
	case v.Live:
		return ""
	case effective.PersistsPeers():
		return " (as of the last flush; no server is running)"
	}
	return fmt.Sprintf(" (%s keeps no peers on disk: a running server shows live counts)", effective)
}

func when(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return fmt.Sprintf("%s (%s ago)", t.UTC().Format(time.DateTime+" MST"), now.Sub(t).Round(time.Second))
}

// Summary adds up the registry for `stats` without an infohash.
type Summary struct {
	// View says where the figures come from; set it before Write.
	View      View           `json:"-"`
	Live      bool           `json:"live"`
	Torrents  int            `json:"torrents"`
	ByMode    map[string]int `json:"by_mode"`
	Seeders   int            `json:"seeders"`
	Leechers  int            `json:"leechers"`
	Completed uint64         `json:"completed"`
	Active    int            `json:"active_last_day"`
	// Cluster is the running node's cluster section, absent without one.
	Cluster *clusterview.View `json:"cluster,omitempty"`
	now     time.Time
}

// Add counts one torrent in.
func (s *Summary) Add(t *store.Torrent) {
	if s.ByMode == nil {
		s.ByMode = map[string]int{}
		s.now = time.Now()
	}
	s.Torrents++
	s.ByMode[t.Mode.String()]++
	s.Seeders += t.Seeders
	s.Leechers += t.Leechers
	s.Completed += t.Completed
	if !t.LastActive.IsZero() && s.now.Sub(t.LastActive) < 24*time.Hour {
		s.Active++
	}
}

// Write prints the summary.
func (s *Summary) Write(w io.Writer, asJSON bool) error {
	if s.ByMode == nil {
		s.ByMode = map[string]int{}
	}
	s.Live = s.View.Live
	s.Cluster = s.View.Cluster
	if asJSON {
		return writeJSON(w, s)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "torrents\t%d\n", s.Torrents)
	names := make([]string, 0, len(s.ByMode))
	for m := range s.ByMode {
		names = append(names, m)
	}
	sort.Strings(names)
	for _, m := range names {
		label := m
		if m == modes.Default.String() {
			label = "default (" + s.View.effectiveMode(modes.Default).String() + ")"
		}
		fmt.Fprintf(tw, "  %s\t%d\n", label, s.ByMode[m])
	}
	note := ""
	if !s.View.Live {
		note = " (as of the last flush, large torrents only; no server is running)"
	}
	fmt.Fprintf(tw, "seeders\t%d%s\n", s.Seeders, note)
	fmt.Fprintf(tw, "leechers\t%d%s\n", s.Leechers, note)
	fmt.Fprintf(tw, "completed\t%d\n", s.Completed)
	fmt.Fprintf(tw, "active in the last day\t%d\n", s.Active)
	if c := s.Cluster; c != nil {
		writeCluster(tw, c)
	}
	return tw.Flush()
}

// NodesSeen says how many other nodes are live and names each, with when
// a silent one was last heard: "2 live (b, c; d silent since ...)".
func NodesSeen(c *clusterview.View) string {
	var live, silent []string
	for _, p := range c.NodesSeen {
		if p.Live {
			live = append(live, p.Name)
		} else {
			silent = append(silent, p.Name+" silent since "+p.LastSeen.UTC().Format(time.RFC3339))
		}
	}
	names := strings.Join(append(live, silent...), ", ")
	if names == "" {
		names = "none"
	}
	return fmt.Sprintf("%d live (%s)", c.NodesLive, names)
}

// writeCluster is the cluster section of the summary: rates are over the
// server's last second, lag over its recent batches.
func writeCluster(tw io.Writer, c *clusterview.View) {
	fmt.Fprintf(tw, "cluster node\t%s\n", c.NodeName)
	fmt.Fprintf(tw, "  nodes seen\t%s\n", NodesSeen(c))
	fmt.Fprintf(tw, "  changes sent\t%d (%.1f/s)\n", c.ChangesSent, c.SentPerSecond)
	fmt.Fprintf(tw, "  changes applied\t%d (%.1f/s)\n", c.ChangesApplied, c.AppliedPerSecond)
	fmt.Fprintf(tw, "  lag\tp50 %.1f ms, max %.1f ms\n", c.LagP50MS, c.LagMaxMS)
	fmt.Fprintf(tw, "  lost batches\t%d\n", c.BatchesLost)
	fmt.Fprintf(tw, "  changes dropped, refused\t%d, %d\n", c.ChangesDropped, c.ChangesRefused)
	snap := "none"
	if c.SnapshotApplied != "" {
		snap = c.SnapshotApplied
		if c.SnapshotRegistryPartial {
			snap += " (registry partial: removals and mode changes made while this node was down may be missing; see the log)"
		}
	}
	fmt.Fprintf(tw, "  join snapshot\t%s\n", snap)
}

// Purge says what a purge removed, or would remove.
func Purge(w io.Writer, rep *store.PurgeReport, dryRun bool) {
	verb := "removed"
	if dryRun {
		verb = "would remove"
	}
	for _, h := range rep.Torrents {
		fmt.Fprintf(w, "%s torrent %x\n", verb, h)
	}
	for _, k := range rep.Kept {
		fmt.Fprintf(w, "skipped torrent %x: %s\n", k.InfoHash, k.Reason)
	}
	fmt.Fprintf(w, "%s %d torrents, %d expired peers, %d empty swarms", verb, len(rep.Torrents), rep.Peers, rep.SwarmsDropped)
	if len(rep.Kept) > 0 {
		fmt.Fprintf(w, "; skipped %d stale torrents still under --dir", len(rep.Kept))
	}
	fmt.Fprintln(w)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
