package clusterview

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// counts is a source whose totals the test sets between samples.
type counts struct{ f Figures }

func (c *counts) figures() Figures { return c.f }

func TestViewRatesAndShape(t *testing.T) {
	src := &counts{f: Figures{NodeName: "b", Seen: []Peer{{Name: "c", Live: true}, {Name: "a"}}}}
	tr := NewTracker(src.figures)
	if v := tr.View(); v.SentPerSecond != 0 || v.AppliedPerSecond != 0 {
		t.Fatalf("rates before any sample: %+v", v)
	}
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	src.f.ChangesSent, src.f.ChangesApplied = 100, 50
	tr.sample(t0)
	if v := tr.View(); v.SentPerSecond != 0 {
		t.Fatalf("a rate from one sample: %+v", v)
	}
	src.f.ChangesSent, src.f.ChangesApplied = 400, 1050
	src.f.BatchesLost, src.f.LagP50, src.f.LagMax = 3, 1500*time.Microsecond, 40*time.Millisecond
	src.f.SnapshotApplied = t0.Add(-time.Minute)
	src.f.SnapshotRegistryPartial = true
	tr.sample(t0.Add(2 * time.Second))
	v := tr.View()
	if v.SentPerSecond != 150 || v.AppliedPerSecond != 500 {
		t.Fatalf("rates = %v sent/s, %v applied/s; want 150, 500", v.SentPerSecond, v.AppliedPerSecond)
	}
	if v.NodesSeen[0].Name != "a" || v.NodesSeen[1].Name != "c" || v.NodesLive != 1 {
		t.Fatalf("nodes seen not sorted by name: %+v", v.NodesSeen)
	}
	if v.LagP50MS != 1.5 || v.LagMaxMS != 40 || v.BatchesLost != 3 || v.SnapshotApplied != "2026-12-05T11:59:00Z" || !v.SnapshotRegistryPartial {
		t.Fatalf("view = %+v", v)
	}
}

func TestViewAloneIsAnEmptyList(t *testing.T) {
	tr := NewTracker(func() Figures { return Figures{NodeName: "a"} })
	b, err := json.Marshal(tr.View())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"nodes_seen":[]`) || strings.Contains(string(b), "snapshot_applied") || strings.Contains(string(b), "snapshot_registry_partial") {
		t.Fatalf("a node alone: %s", b)
	}
}
