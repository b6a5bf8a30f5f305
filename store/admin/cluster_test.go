package admin

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"johnlocke/modes"
	"johnlocke/store"
	"johnlocke/store/clusterview"
	"johnlocke/store/report"
)

// The cluster figures reach `stats` through the socket: OpenRegistry's
// Info carries them, and the summary prints them.
func TestClusterFiguresThroughTheSocket(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "j.db")
	st, err := store.Open(db, store.Config{Mode: modes.Large})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	tracker := clusterview.NewTracker(func() clusterview.Figures {
		return clusterview.Figures{NodeName: "a", Seen: []clusterview.Peer{{Name: "b", Live: true}}, ChangesSent: 7, ChangesApplied: 9, BatchesLost: 1}
	})
	srv, err := Listen(st, Config{Path: SocketPath(db, ""), DB: db, Version: "test", Log: zerolog.Nop(), Cluster: tracker})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })

	reg, err := OpenRegistry(db, "", store.OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	info := reg.Info()
	if !info.Live || info.Cluster == nil || info.Cluster.NodeName != "a" || info.Cluster.ChangesApplied != 9 {
		t.Fatalf("info = %+v, cluster %+v", info, info.Cluster)
	}
	sum := report.Summary{View: report.View{Live: true, Cluster: info.Cluster}}
	var out bytes.Buffer
	if err := sum.Write(&out, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"cluster node", "nodes seen", "1 live (b)", "changes sent", "7 (0.0/s)", "lost batches"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := sum.Write(&out, true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"cluster": {`) || !strings.Contains(out.String(), `"node_name": "a"`) {
		t.Errorf("summary JSON lacks the cluster section:\n%s", out.String())
	}

	// Without cluster mode: no section.
	_, _, sock := serve(t)
	c := dial(t, sock)
	if c.Status().Cluster != nil {
		t.Fatalf("status of a server without a cluster: %+v", c.Status().Cluster)
	}
}
