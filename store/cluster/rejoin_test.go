package cluster

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"johnlocke/modes"
	"johnlocke/store"
)

// restartable is a node that a test stops and starts again on its file.
type restartable struct {
	*testNode
	stopped bool
}

// startOn starts node name on dir/name.db (new or not), with routes to
// peers. Its SinceMargin is a millisecond: the nodes share one clock.
func startOn(t *testing.T, dir, name string, joinTimeout time.Duration, peers ...string) *restartable {
	t.Helper()
	lb := &logBuffer{}
	log := zerolog.New(lb).Level(zerolog.InfoLevel)
	st, err := store.Open(filepath.Join(dir, name+".db"), store.Config{Locked: true, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	n, err := Start(context.Background(), Config{Listen: "127.0.0.1:0", Peers: peers, Secret: testSecret, NodeName: name,
		Log: log, JoinTimeout: joinTimeout, PublishInterval: 20 * time.Millisecond, SinceMargin: time.Millisecond}, st)
	if err != nil {
		st.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	r := &restartable{testNode: &testNode{name: name, st: st, node: n, log: lb}}
	t.Cleanup(func() {
		if !r.stopped {
			r.stop(t)
		}
	})
	return r
}

func (r *restartable) stop(t *testing.T) {
	t.Helper()
	r.stopped = true
	if err := r.node.Close(); err != nil {
		t.Errorf("close %s: %v", r.name, err)
	}
	if err := r.st.Close(); err != nil {
		t.Errorf("close %s's store: %v", r.name, err)
	}
}

func registerMode(t *testing.T, tn *testNode, h [20]byte, mode modes.Mode) {
	t.Helper()
	if _, err := tn.st.Register([]store.Torrent{{InfoHash: h, Name: "t", Source: store.SourceImport, Mode: mode}}); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, tn *testNode, h [20]byte) {
	t.Helper()
	if _, err := tn.st.Remove([][20]byte{h}, false, ""); err != nil {
		t.Fatal(err)
	}
}

// modeOf returns h's registered mode on tn, failing when it is not
// registered.
func modeOf(t *testing.T, tn *testNode, h [20]byte) modes.Mode {
	t.Helper()
	tr, ok, err := tn.st.Torrent(h)
	if err != nil || !ok {
		t.Fatalf("%x on %s: registered %v, %v", h[:4], tn.name, ok, err)
	}
	return tr.Mode
}

// TestRejoiningNodeMissesNoRegistryChange: a node stopped and started
// again on its file gets every registry change made elsewhere while it
// was down: a removal, a mode change, a removal followed by a new
// registration, and a ban lifted.
func TestRejoiningNodeMissesNoRegistryChange(t *testing.T) {
	dir := t.TempDir()
	a := startOn(t, dir, "a", -1)
	j := startOn(t, dir, "j", 3*time.Second, a.node.ClusterAddr())
	waitFor(t, "a and j see each other", func() bool { return a.sees("j") && j.sees("a") })

	removed, remoded, back, kept, unbanned := infohash(11), infohash(12), infohash(13), infohash(14), infohash(15)
	for _, h := range [][20]byte{removed, back, kept, unbanned} {
		register(t, a.testNode, h)
	}
	registerMode(t, a.testNode, remoded, modes.Small)
	waitFor(t, "j has a's torrents", func() bool {
		for _, h := range [][20]byte{removed, remoded, back, kept, unbanned} {
			if _, ok := j.scrape(h); !ok {
				return false
			}
		}
		return true
	})
	if _, err := a.st.Remove([][20]byte{unbanned}, true, "test"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the ban reaches j", func() bool { _, ok := j.scrape(unbanned); return !ok })
	j.stop(t)

	remove(t, a.testNode, removed)
	registerMode(t, a.testNode, remoded, modes.Large)
	remove(t, a.testNode, back)
	register(t, a.testNode, back)
	if _, err := a.st.Unban([][20]byte{unbanned}); err != nil {
		t.Fatal(err)
	}
	register(t, a.testNode, unbanned)

	j = startOn(t, dir, "j", 3*time.Second, a.node.ClusterAddr())
	if st := j.node.Stats(); !st.SnapshotApplied || st.PartialRegistry != 0 {
		t.Fatalf("j's join: applied %v, partial registry %d; want a complete snapshot", st.SnapshotApplied, st.PartialRegistry)
	}
	if _, ok := j.scrape(removed); ok {
		t.Error("the torrent removed on a while j was down is still registered on j")
	}
	if m := modeOf(t, j.testNode, remoded); m != modes.Large {
		t.Errorf("the torrent moved to large on a while j was down is %v on j", m)
	}
	for _, h := range [][20]byte{back, kept, unbanned} {
		if _, ok := j.scrape(h); !ok {
			t.Errorf("%x, registered on a, is not registered on j", h[:4])
		}
	}
	if bans, err := j.st.Banned(); err != nil || len(bans) != 0 {
		t.Errorf("j's deny list %+v, %v; want the ban lifted on a gone", bans, err)
	}
	// The journal answer names the torrents changed, not the registry.
	if n := j.node.Stats().SnapshotTorrents; n != 3 {
		t.Errorf("j's snapshot registered %d torrents, want the 3 changed (remoded, back, unbanned)", n)
	}
}

// TestRejoinAcrossAResponderRestartIsPartial: the only node that can
// answer started after the rejoining node's last write, so its journal
// cannot list the removals made before it started: the joiner says so.
func TestRejoinAcrossAResponderRestartIsPartial(t *testing.T) {
	dir := t.TempDir()
	a := startOn(t, dir, "a", -1)
	j := startOn(t, dir, "j", 3*time.Second, a.node.ClusterAddr())
	waitFor(t, "a and j see each other", func() bool { return a.sees("j") && j.sees("a") })
	h := infohash(21)
	register(t, a.testNode, h)
	waitFor(t, "j has a's torrent", func() bool { _, ok := j.scrape(h); return ok })
	j.stop(t)
	a.stop(t)

	a = startOn(t, dir, "a", -1)
	j = startOn(t, dir, "j", 3*time.Second, a.node.ClusterAddr())
	st := j.node.Stats()
	if !st.SnapshotApplied || st.PartialRegistry != 1 {
		t.Fatalf("j's join: applied %v, partial registry %d; want applied and 1 partial", st.SnapshotApplied, st.PartialRegistry)
	}
	if !j.log.contains("registry part is partial") || !j.log.contains("re-run the removal") {
		t.Error("j did not log that its registry may be stale and what to do")
	}

	// A node whose file is new gets the whole registry: that is complete.
	k := startOn(t, dir, "k", 3*time.Second, a.node.ClusterAddr())
	if st := k.node.Stats(); !st.SnapshotApplied || st.PartialRegistry != 0 {
		t.Fatalf("new node k: applied %v, partial registry %d; want a complete snapshot", st.SnapshotApplied, st.PartialRegistry)
	}
	if _, ok := k.scrape(h); !ok {
		t.Error("the new node lacks the registry")
	}
}

// TestRegistryChangesWaitForTheSnapshot: a registry change arriving while
// the node joins is applied after the snapshot, which may predate it.
func TestRegistryChangesWaitForTheSnapshot(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "joining.db"), store.Config{Locked: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h := infohash(31)
	n := &Node{cfg: Config{NodeName: "me", Log: zerolog.Nop()}, st: st, senders: map[string]*sender{}, joining: true}
	b, _ := json.Marshal(registryMsg{Node: "other", Op: opRegister, Torrents: []store.Torrent{{InfoHash: h, Name: "t", Source: store.SourceImport}}})
	n.onRegistry(&nats.Msg{Data: b})
	if _, ok := st.Scrape(h); ok {
		t.Fatal("a registry change was applied while the node was still joining")
	}
	// The snapshot (older) says it is not registered.
	if err := n.applyJournal(&journalChunk{Removed: [][20]byte{h}}, &joinState{}); err != nil {
		t.Fatal(err)
	}
	n.endJoin()
	if _, ok := st.Scrape(h); !ok {
		t.Fatal("the registration held back during the join was lost")
	}
	if s := n.Stats(); s.RegistryApplied != 1 {
		t.Fatalf("registry applied %d, want 1", s.RegistryApplied)
	}
}

// TestJournalWraps: once the journal drops entries it no longer covers
// times before the newest one dropped, and it lists each torrent once.
func TestJournalWraps(t *testing.T) {
	var j registryJournal
	t0 := time.Unix(1_000_000, 0)
	if _, covered := j.since(t0); covered {
		t.Fatal("covered before start")
	}
	j.start(t0)
	j.add(t0.Add(time.Second), infohash(1), infohash(1), infohash(2))
	if hs, covered := j.since(t0); !covered || len(hs) != 2 {
		t.Fatalf("since start: %d hashes, covered %v; want 2, true", len(hs), covered)
	}
	if _, covered := j.since(t0.Add(-time.Nanosecond)); covered {
		t.Fatal("covered before start")
	}
	for i := range journalSize {
		j.add(t0.Add(2*time.Second+time.Duration(i)), infohash(3))
	}
	if _, covered := j.since(t0.Add(time.Second)); covered {
		t.Fatal("still covered after the entries of that time were dropped")
	}
	if hs, covered := j.since(t0.Add(2 * time.Second)); !covered || len(hs) != 1 || hs[0] != infohash(3) {
		t.Fatalf("after the wrap: %x, covered %v; want only the kept torrent", hs, covered)
	}
}
