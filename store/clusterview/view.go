// Package clusterview turns a cluster node's running totals into what the
// displays show: `johnlocke stats` (through the admin socket), the status
// page and /metrics. It owns the per-second rates, derived from samples a
// second apart, so every display shows the same ones. It knows nothing of
// NATS or of the node itself: serve hands it a function that reads the
// node's totals (store/cluster's Stats).
package clusterview

import (
	"context"
	"slices"
	"sync"
	"time"
)

// SampleInterval is how often a Tracker samples the totals: rates are the
// change between the last two samples, so they are at most this old.
const SampleInterval = time.Second

// Peer is another node as this one last heard of it.
type Peer struct {
	Name     string    `json:"name"`
	LastSeen time.Time `json:"last_seen"`
	// Live: heard within the node's liveness window (its heartbeats).
	Live bool `json:"live"`
}

// Figures are a node's totals at one moment.
type Figures struct {
	// NodeName is this node's --node-name.
	NodeName string
	// Seen are the other nodes ever heard from, live or not.
	Seen []Peer
	// ChangesSent and ChangesApplied count peer and registry changes
	// published and applied since start.
	ChangesSent, ChangesApplied uint64
	// BatchesLost counts batches missed (gaps in a node's sequence).
	BatchesLost uint64
	// ChangesDropped were captured here but never sent (the buffer was
	// full); ChangesRefused came from other nodes and were not applied
	// (the same rules as an announce: locked, bounds).
	ChangesDropped, ChangesRefused uint64
	// LagP50 and LagMax: from a batch's send time to its apply, over the
	// node's recent batches.
	LagP50, LagMax time.Duration
	// SnapshotApplied is when the join snapshot was applied; zero when
	// none was (no peer answered, or the node is the first).
	SnapshotApplied time.Time
	// SnapshotRegistryPartial: the join snapshot's registry part was
	// partial, so removals and mode changes made elsewhere while this
	// node was down may be missing here (the log says which window).
	SnapshotRegistryPartial bool
}

// View is what the displays show: Figures, with rates.
type View struct {
	NodeName         string  `json:"node_name"`
	NodesSeen        []Peer  `json:"nodes_seen"`
	NodesLive        int     `json:"nodes_live"`
	ChangesSent      uint64  `json:"changes_sent"`
	ChangesApplied   uint64  `json:"changes_applied"`
	SentPerSecond    float64 `json:"changes_sent_per_second"`
	AppliedPerSecond float64 `json:"changes_applied_per_second"`
	BatchesLost      uint64  `json:"batches_lost"`
	ChangesDropped   uint64  `json:"changes_dropped"`
	ChangesRefused   uint64  `json:"changes_refused"`
	LagP50MS         float64 `json:"lag_p50_ms"`
	LagMaxMS         float64 `json:"lag_max_ms"`
	// SnapshotApplied is RFC 3339 (UTC), empty when no snapshot was.
	SnapshotApplied string `json:"snapshot_applied,omitempty"`
	// SnapshotRegistryPartial is Figures.SnapshotRegistryPartial.
	SnapshotRegistryPartial bool `json:"snapshot_registry_partial,omitempty"`
}

// Tracker reads a node's totals and keeps the samples rates come from.
type Tracker struct {
	src func() Figures

	mu         sync.Mutex
	prev, last sample // last is the newer; at is zero before a sample
}

type sample struct {
	at            time.Time
	sent, applied uint64
}

// NewTracker tracks the totals src returns; src must be safe to call from
// any goroutine.
func NewTracker(src func() Figures) *Tracker {
	return &Tracker{src: src}
}

// Run samples every SampleInterval until ctx ends.
func (t *Tracker) Run(ctx context.Context) {
	t.sample(time.Now())
	tick := time.NewTicker(SampleInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			t.sample(now)
		}
	}
}

func (t *Tracker) sample(at time.Time) {
	f := t.src()
	t.mu.Lock()
	t.prev, t.last = t.last, sample{at: at, sent: f.ChangesSent, applied: f.ChangesApplied}
	t.mu.Unlock()
}

// View returns the totals now and the rates of the last sample interval
// (zero until two samples were taken).
func (t *Tracker) View() View {
	f := t.src()
	v := View{
		NodeName:       f.NodeName,
		NodesSeen:      slices.Clone(f.Seen),
		ChangesSent:    f.ChangesSent,
		ChangesApplied: f.ChangesApplied,
		BatchesLost:    f.BatchesLost,
		ChangesDropped: f.ChangesDropped,
		ChangesRefused: f.ChangesRefused,
		LagP50MS:       ms(f.LagP50),
		LagMaxMS:       ms(f.LagMax),
	}
	if v.NodesSeen == nil {
		v.NodesSeen = []Peer{} // [] in JSON: a node alone, not "unknown"
	}
	slices.SortFunc(v.NodesSeen, func(a, b Peer) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	for i, p := range v.NodesSeen {
		// To the second, in UTC: as the text displays print it.
		v.NodesSeen[i].LastSeen = p.LastSeen.UTC().Truncate(time.Second)
		if p.Live {
			v.NodesLive++
		}
	}
	if !f.SnapshotApplied.IsZero() {
		v.SnapshotApplied = f.SnapshotApplied.UTC().Format(time.RFC3339)
		v.SnapshotRegistryPartial = f.SnapshotRegistryPartial
	}
	t.mu.Lock()
	prev, last := t.prev, t.last
	t.mu.Unlock()
	if !prev.at.IsZero() {
		if d := last.at.Sub(prev.at).Seconds(); d > 0 {
			v.SentPerSecond = float64(last.sent-prev.sent) / d
			v.AppliedPerSecond = float64(last.applied-prev.applied) / d
		}
	}
	return v
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
