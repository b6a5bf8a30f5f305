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
	"text/tabwriter"
	"time"

	"johnlocke/modes"
	"johnlocke/store"
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
		fmt.Fprintf(w, "%-8s %x %s (%s)\n", what, t.InfoHash, t.Name, t.Origin)
	}
	fmt.Fprintf(w, "imported %d new, %d already registered, %d mode changed, %d failed\n", added, known, changed, failed)
}

// torrentJSON is the stable JSON shape of one torrent for scripts.
type torrentJSON struct {
	InfoHash   string     `json:"infohash"`
	Alias      string     `json:"alias,omitempty"`
	Name       string     `json:"name"`
	Size       int64      `json:"size"`
	Private    bool       `json:"private"`
	Mode       string     `json:"mode"`
	Seeders    int        `json:"seeders"`
	Leechers   int        `json:"leechers"`
	Completed  uint64     `json:"completed"`
	LastActive *time.Time `json:"last_active"`
	Added      time.Time  `json:"added"`
	Source     string     `json:"source"`
	Origin     string     `json:"origin,omitempty"`
}

func toJSON(t *store.Torrent) torrentJSON {
	j := torrentJSON{
		InfoHash:  hex.EncodeToString(t.InfoHash[:]),
		Name:      t.Name,
		Size:      t.Size,
		Private:   t.Private,
		Mode:      t.Mode.String(),
		Seeders:   t.Seeders,
		Leechers:  t.Leechers,
		Completed: t.Completed,
		Added:     t.Added,
		Source:    t.Source.String(),
		Origin:    t.Origin,
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
func Torrent(w io.Writer, t *store.Torrent, now time.Time, asJSON bool) error {
	if asJSON {
		return writeJSON(w, toJSON(t))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "infohash\t%x\n", t.InfoHash)
	if t.HasAlias {
		fmt.Fprintf(tw, "v2 infohash\t%x (truncated SHA-256)\n", t.Alias)
	}
	name := t.Name
	if name == "" {
		name = "(unknown: registered by an announce)"
	}
	fmt.Fprintf(tw, "name\t%s\n", name)
	if t.Size > 0 {
		fmt.Fprintf(tw, "size\t%d bytes\n", t.Size)
	}
	mode := t.Mode.String()
	if t.Mode == modes.Default {
		mode = "default (follows serve --mode)"
	}
	fmt.Fprintf(tw, "mode\t%s\n", mode)
	fmt.Fprintf(tw, "seeders\t%d\n", t.Seeders)
	fmt.Fprintf(tw, "leechers\t%d\n", t.Leechers)
	fmt.Fprintf(tw, "completed\t%d\n", t.Completed)
	fmt.Fprintf(tw, "last active\t%s\n", when(t.LastActive, now))
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

func when(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return fmt.Sprintf("%s (%s ago)", t.UTC().Format(time.DateTime+" MST"), now.Sub(t).Round(time.Second))
}

// Summary adds up the registry for `stats` without an infohash.
type Summary struct {
	Torrents  int            `json:"torrents"`
	ByMode    map[string]int `json:"by_mode"`
	Seeders   int            `json:"seeders"`
	Leechers  int            `json:"leechers"`
	Completed uint64         `json:"completed"`
	Active    int            `json:"active_last_day"`
	now       time.Time
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
		fmt.Fprintf(tw, "  %s\t%d\n", m, s.ByMode[m])
	}
	fmt.Fprintf(tw, "seeders\t%d\n", s.Seeders)
	fmt.Fprintf(tw, "leechers\t%d\n", s.Leechers)
	fmt.Fprintf(tw, "completed\t%d\n", s.Completed)
	fmt.Fprintf(tw, "active in the last day\t%d\n", s.Active)
	return tw.Flush()
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
	fmt.Fprintf(w, "%s %d torrents, %d expired peers, %d empty swarms\n", verb, len(rep.Torrents), rep.Peers, rep.SwarmsDropped)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
