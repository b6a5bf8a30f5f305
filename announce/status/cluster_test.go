package status_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/rs/zerolog"

	"johnlocke/announce/status"
	"johnlocke/modes"
	"johnlocke/store"
	"johnlocke/store/clusterview"
)

// startStatus serves the status listener of a real store alone, with
// cluster figures from src (nil: no cluster mode).
func startStatus(t *testing.T, src func() clusterview.Figures) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.Open(filepath.Join(t.TempDir(), "t.db"), store.Config{Mode: modes.Large, Locked: true})
	if err != nil {
		t.Fatal(err)
	}
	sources := status.Sources{Store: st, Version: "test", Started: time.Now()}
	if src != nil {
		sources.Cluster = clusterview.NewTracker(src)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- status.New(sources, time.Second, zerolog.Nop()).Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	return ln.Addr().String()
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%s: %s %v", url, resp.Status, err)
	}
	return string(b)
}

func TestClusterFiguresOnMetricsJSONAndPage(t *testing.T) {
	addr := startStatus(t, func() clusterview.Figures {
		return clusterview.Figures{NodeName: "node-a", Seen: []clusterview.Peer{{Name: "node-c", Live: true}, {Name: "node-b", Live: true},
			{Name: "node-d", LastSeen: time.Date(2026, 12, 5, 19, 0, 0, 0, time.UTC)}},
			ChangesSent: 1200, ChangesApplied: 3400, BatchesLost: 2, ChangesDropped: 5, ChangesRefused: 6, LagP50: 3 * time.Millisecond, LagMax: 250 * time.Millisecond}
	})

	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(get(t, "http://"+addr+"/metrics")))
	if err != nil {
		t.Fatal(err)
	}
	value := func(name string, labels ...string) float64 {
		t.Helper()
		fam, ok := fams[name]
		if !ok {
			t.Fatalf("no metric %s", name)
		}
	next:
		for _, m := range fam.GetMetric() {
			for i, l := range m.GetLabel() {
				if i >= len(labels) || l.GetName()+"="+l.GetValue() != labels[i] {
					continue next
				}
			}
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
		t.Fatalf("no sample of %s with %v", name, labels)
		return 0
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"johnlocke_cluster_nodes_seen", nil, 2},
		{"johnlocke_cluster_changes_sent_total", nil, 1200},
		{"johnlocke_cluster_changes_applied_total", nil, 3400},
		{"johnlocke_cluster_batches_lost_total", nil, 2},
		{"johnlocke_cluster_changes_dropped_total", nil, 5},
		{"johnlocke_cluster_changes_refused_total", nil, 6},
		{"johnlocke_cluster_lag_seconds", []string{"stat=p50"}, 0.003},
		{"johnlocke_cluster_lag_seconds", []string{"stat=max"}, 0.25},
	} {
		if got := value(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}

	st := getJSON(t, addr)
	if st.Cluster == nil || st.Cluster.NodeName != "node-a" || len(st.Cluster.NodesSeen) != 3 || st.Cluster.NodesLive != 2 ||
		st.Cluster.NodesSeen[0].Name != "node-b" || st.Cluster.ChangesApplied != 3400 || st.Cluster.LagMaxMS != 250 {
		t.Fatalf("stats.json cluster = %+v", st.Cluster)
	}
	page := get(t, "http://"+addr+"/")
	want := "cluster node node-a · nodes seen 2 live (node-b, node-c, node-d silent since 2026-12-05T19:00:00Z) · changes sent 1200"
	if !strings.Contains(page, want) || !strings.Contains(page, "lost batches 2") {
		t.Fatalf("page lacks the cluster line %q:\n%s", want, page)
	}
}

func TestNoClusterNoClusterFigures(t *testing.T) {
	addr := startStatus(t, nil)
	if m := get(t, "http://"+addr+"/metrics"); strings.Contains(m, "johnlocke_cluster_") {
		t.Fatal("cluster metrics without cluster mode")
	}
	if st := getJSON(t, addr); st.Cluster != nil {
		t.Fatalf("stats.json has a cluster section without cluster mode: %+v", st.Cluster)
	}
	if page := get(t, "http://"+addr+"/"); strings.Contains(page, `id="cluster"`) {
		t.Fatal("the page has a cluster line without cluster mode")
	}
}
