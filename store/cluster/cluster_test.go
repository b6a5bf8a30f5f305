package cluster

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"johnlocke/store"
)

// waitFor polls cond until it holds, failing the test after five seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// logBuffer collects a node's log for a test to search.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Contains(l.buf.String(), s)
}

type testNode struct {
	name string
	st   *store.Store
	node *Node
	log  *logBuffer
}

var testSecret = []byte("0123456789abcdef-test-secret")

// startNode starts a node on a fresh database in dir, its embedded server
// on a random loopback port, with routes to peers.
func startNode(t *testing.T, dir, name string, secret []byte, joinTimeout time.Duration, peers ...string) *testNode {
	t.Helper()
	return startNodeEvery(t, dir, name, secret, joinTimeout, 20*time.Millisecond, peers...)
}

// startNodeEvery is startNode publishing every publishEvery.
func startNodeEvery(t *testing.T, dir, name string, secret []byte, joinTimeout, publishEvery time.Duration, peers ...string) *testNode {
	t.Helper()
	lb := &logBuffer{}
	log := zerolog.New(lb).Level(zerolog.InfoLevel)
	st, err := store.Open(filepath.Join(dir, name+".db"), store.Config{Locked: true, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	n, err := Start(context.Background(), Config{Listen: "127.0.0.1:0", Peers: peers, Secret: secret, NodeName: name,
		Log: log, JoinTimeout: joinTimeout, PublishInterval: publishEvery}, st)
	if err != nil {
		st.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	tn := &testNode{name: name, st: st, node: n, log: lb}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("close %s: %v", name, err)
		}
		st.Close()
	})
	return tn
}

func (tn *testNode) announce(t *testing.T, h [20]byte, addr byte, port uint16, left uint64, ev store.Event) *store.Response {
	t.Helper()
	req := store.Request{InfoHash: h, Port: port, Left: left, Event: ev, NumWant: -1}
	copy(req.Addr[:], []byte{127, 0, 0, addr})
	resp := &store.Response{}
	if err := tn.st.Announce(&req, resp); err != nil {
		t.Fatalf("announce on %s: %v", tn.name, err)
	}
	return resp
}

func (tn *testNode) scrape(h [20]byte) (store.ScrapeCounts, bool) { return tn.st.Scrape(h) }

func (tn *testNode) sees(names ...string) bool {
	live := map[string]bool{}
	for _, s := range tn.node.Stats().NodesSeen {
		live[s.Name] = s.Live
	}
	for _, n := range names {
		if !live[n] {
			return false
		}
	}
	return true
}

func infohash(b byte) [20]byte {
	var h [20]byte
	for i := range h {
		h[i] = b ^ byte(i*7)
	}
	return h
}

func register(t *testing.T, tn *testNode, h [20]byte) {
	t.Helper()
	if _, err := tn.st.Register([]store.Torrent{{InfoHash: h, Name: "t", Source: store.SourceImport}}); err != nil {
		t.Fatal(err)
	}
}

// hasPeer reports whether a compact peer list holds 127.0.0.addr:port.
func hasPeer(peers []byte, addr byte, port uint16) bool {
	want := []byte{127, 0, 0, addr, byte(port >> 8), byte(port)}
	for i := 0; i+6 <= len(peers); i += 6 {
		if bytes.Equal(peers[i:i+6], want) {
			return true
		}
	}
	return false
}

func TestThreeNodesShareSwarmsAndRegistry(t *testing.T) {
	dir := t.TempDir()
	a := startNode(t, dir, "a", testSecret, -1)
	b := startNode(t, dir, "b", testSecret, 3*time.Second, a.node.ClusterAddr())
	c := startNode(t, dir, "c", testSecret, 3*time.Second, a.node.ClusterAddr(), b.node.ClusterAddr())
	waitFor(t, "every node sees the others", func() bool {
		return a.sees("b", "c") && b.sees("a", "c") && c.sees("a", "b")
	})

	// A torrent imported on A answers on C (the trackers are locked).
	h := infohash(1)
	register(t, a, h)
	waitFor(t, "the torrent registered on A is registered on C", func() bool { _, ok := c.scrape(h); return ok })

	// A peer announced on A is in C's answers.
	a.announce(t, h, 1, 6881, 100, store.EventStarted)
	waitFor(t, "the peer announced on A counts on C", func() bool { s, _ := c.scrape(h); return s.Incomplete == 1 })
	if resp := c.announce(t, h, 3, 6883, 0, store.EventStarted); !hasPeer(resp.Peers4, 1, 6881) {
		t.Fatalf("C's answer %x lacks the peer announced on A", resp.Peers4)
	}

	// Its completion is counted on every node.
	a.announce(t, h, 1, 6881, 0, store.EventCompleted)
	for _, n := range []*testNode{b, c} {
		waitFor(t, "completed counted on "+n.name, func() bool {
			s, _ := n.scrape(h)
			return s.Downloaded == 1 && s.Complete == 2 && s.Incomplete == 0
		})
	}
	if s, _ := a.scrape(h); s.Downloaded != 1 || s.Complete != 2 {
		t.Fatalf("A's counts %+v, want 2 seeders and 1 download", s)
	}

	// The peer stops through B: C forgets it.
	b.announce(t, h, 1, 6881, 0, store.EventStopped)
	waitFor(t, "the peer stopped on B is gone from C", func() bool { s, _ := c.scrape(h); return s.Complete == 1 })
	waitFor(t, "... and from A", func() bool { s, _ := a.scrape(h); return s.Complete == 1 })

	// A node that starts later has the swarm and the registry from the
	// snapshot before any announce reaches it.
	b.announce(t, h, 2, 6882, 50, store.EventStarted)
	waitFor(t, "B's new peer reaches A", func() bool { s, _ := a.scrape(h); return s.Incomplete == 1 })
	d := startNode(t, dir, "d", testSecret, 5*time.Second, a.node.ClusterAddr())
	st := d.node.Stats()
	if !st.SnapshotApplied || st.SnapshotChanges != 2 || st.SnapshotTorrents != 1 {
		t.Fatalf("D's snapshot: applied %v, %d peers, %d torrents; want true, 2, 1", st.SnapshotApplied, st.SnapshotChanges, st.SnapshotTorrents)
	}
	if s, ok := d.scrape(h); !ok || s.Complete != 1 || s.Incomplete != 1 || s.Downloaded != 1 {
		t.Fatalf("D right after joining: %+v (registered %v), want 1 seeder, 1 leecher, 1 download", s, ok)
	}

	// Removing (and banning) on C removes everywhere.
	if _, err := c.st.Remove([][20]byte{h}, true, "test"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*testNode{a, b, d} {
		waitFor(t, "removal reaches "+n.name, func() bool { _, ok := n.scrape(h); return !ok })
	}
	// ... and a node that joins later gets the deny list with the
	// snapshot.
	e := startNode(t, dir, "e", testSecret, 5*time.Second, b.node.ClusterAddr())
	bans, err := e.st.Banned()
	if err != nil || len(bans) != 1 || bans[0].InfoHash != h || bans[0].Reason != "test" {
		t.Fatalf("E's deny list %+v, %v; want the ban made on C", bans, err)
	}
	if a.node.Stats().ChangesSent == 0 || c.node.Stats().ChangesApplied == 0 {
		t.Fatalf("stats count nothing: A %+v, C %+v", a.node.Stats(), c.node.Stats())
	}
}

func TestWrongSecretIsRefused(t *testing.T) {
	dir := t.TempDir()
	a := startNode(t, dir, "a", testSecret, -1)
	b := startNode(t, dir, "b", testSecret, 3*time.Second, a.node.ClusterAddr())
	intruder := startNode(t, dir, "x", []byte("another-secret-of-16-bytes-or-more"), -1, a.node.ClusterAddr())
	waitFor(t, "A refuses the intruder's route", func() bool {
		return a.log.contains("Authorization") || intruder.log.contains("Authorization")
	})
	h := infohash(2)
	register(t, intruder, h)
	intruder.announce(t, h, 9, 9999, 0, store.EventStarted)

	// A marker through the real cluster: once it arrives, anything the
	// intruder sent before would have too.
	marker := infohash(3)
	register(t, b, marker)
	waitFor(t, "B's torrent reaches A", func() bool { _, ok := a.scrape(marker); return ok })
	if _, ok := a.scrape(h); ok {
		t.Fatal("A registered a torrent from a node with the wrong secret")
	}
	if a.sees("x") || intruder.sees("a") {
		t.Fatal("a node with the wrong secret is seen in the cluster")
	}
}

func TestSequenceGapsAreCountedLost(t *testing.T) {
	dir := t.TempDir()
	a := startNode(t, dir, "a", testSecret, -1)
	b := startNode(t, dir, "b", testSecret, 3*time.Second, a.node.ClusterAddr())
	waitFor(t, "B sees A", func() bool { return b.sees("a") })
	// Batches from a node "ghost" with sequence numbers 1, 2 and 5: two
	// batches never arrived.
	for _, seq := range []uint64{1, 2, 5} {
		batch := batchHeader("ghost")
		stampBatch(batch, len(batch), seq, time.Now().UnixMilli())
		if err := a.node.nc.Publish(subjectPeers+"ghost", batch); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "B receives the ghost's three batches", func() bool { return b.node.Stats().BatchesReceived >= 3 })
	if got := b.node.Stats().BatchesLost; got != 2 {
		t.Fatalf("B counts %d batches lost, want 2", got)
	}
	// A restarted sender counts from 1 again: no loss.
	batch := batchHeader("ghost")
	stampBatch(batch, len(batch), 1, time.Now().UnixMilli())
	if err := a.node.nc.Publish(subjectPeers+"ghost", batch); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B receives the fourth", func() bool { return b.node.Stats().BatchesReceived >= 4 })
	if got := b.node.Stats().BatchesLost; got != 2 {
		t.Fatalf("after a restart B counts %d batches lost, want 2", got)
	}
}

// TestOperatorsNATS: two nodes on a NATS server of the operator's
// (--cluster-nats) share a swarm just as embedded ones do.
func TestOperatorsNATS(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	dir := t.TempDir()
	start := func(name string) *testNode {
		t.Helper()
		lb := &logBuffer{}
		log := zerolog.New(lb).Level(zerolog.InfoLevel)
		st, err := store.Open(filepath.Join(dir, name+".db"), store.Config{Locked: false, Log: log})
		if err != nil {
			t.Fatal(err)
		}
		n, err := Start(context.Background(), Config{NATSURLs: []string{ns.ClientURL()}, Secret: testSecret, NodeName: name,
			Log: log, JoinTimeout: 2 * time.Second, PublishInterval: 20 * time.Millisecond}, st)
		if err != nil {
			st.Close()
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close(); st.Close() })
		return &testNode{name: name, st: st, node: n, log: lb}
	}
	a := start("a")
	a.announce(t, infohash(4), 1, 1, 0, store.EventStarted)
	b := start("b")
	if s, ok := b.scrape(infohash(4)); !ok || s.Complete != 1 || !b.node.Stats().SnapshotApplied {
		t.Fatalf("B after joining through the operator's NATS: %+v (registered %v)", s, ok)
	}
	b.announce(t, infohash(4), 2, 2, 1, store.EventStarted)
	waitFor(t, "B's peer reaches A", func() bool { s, _ := a.scrape(infohash(4)); return s.Incomplete == 1 })

	// A second node named "a" is heard by the first, which says so.
	dir = t.TempDir()
	start("a")
	waitFor(t, "A logs that another node uses its name", func() bool {
		return a.log.contains("another node uses this node's name")
	})
}

func TestConnectionIDKeyIsTheClusters(t *testing.T) {
	k1, k2 := ConnectionIDKey(testSecret), ConnectionIDKey(append([]byte(nil), testSecret...))
	other := ConnectionIDKey([]byte("another-secret-of-16-bytes-or-more"))
	if len(k1) != 32 || !bytes.Equal(k1, k2) || bytes.Equal(k1, other) {
		t.Fatalf("keys %x, %x (same secret), %x (another): want 32 equal bytes, then different ones", k1, k2, other)
	}
	user, password := routeCredentials(testSecret)
	if bytes.Contains(k1, []byte(password)) || strings.Contains(password, string(testSecret)) || user == "" {
		t.Fatal("the route password must be derived, not the secret or the key")
	}
}

// TestLiveChangesWaitForTheSnapshot: while a node joins, the batches that
// arrive are held back, then applied in order once the snapshot is in.
func TestLiveChangesWaitForTheSnapshot(t *testing.T) {
	dir := t.TempDir()
	src, err := store.Open(filepath.Join(dir, "src.db"), store.Config{Locked: false})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	src.CaptureChanges()
	h := infohash(5)
	req := store.Request{InfoHash: h, Port: 1, Event: store.EventStarted, NumWant: -1}
	copy(req.Addr[:], []byte{127, 0, 0, 7})
	if err := src.Announce(&req, &store.Response{}); err != nil {
		t.Fatal(err)
	}
	var changes []byte
	src.TakeChanges(func(c []byte) { changes = append(changes, c...) })
	batch := func(seq uint64) *nats.Msg {
		b := batchHeader("other")
		stampBatch(b, len(b), seq, time.Now().UnixMilli())
		return &nats.Msg{Data: append(b, changes...)}
	}

	st, err := store.Open(filepath.Join(dir, "joining.db"), store.Config{Locked: false})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n := &Node{cfg: Config{NodeName: "me", Log: zerolog.Nop()}, st: st, senders: map[string]*sender{}, joining: true}
	n.onPeers(batch(1))
	if _, ok := st.Scrape(h); ok || n.Stats().BatchesReceived != 0 {
		t.Fatal("a batch was applied while the node was still joining")
	}
	n.endJoin()
	if s, ok := st.Scrape(h); !ok || s.Complete != 1 {
		t.Fatalf("after the join: %+v (registered %v), want the held-back peer", s, ok)
	}
	n.onPeers(batch(3))
	if s := n.Stats(); s.BatchesReceived != 2 || s.BatchesLost != 1 || s.ChangesApplied != 2 {
		t.Fatalf("stats %+v, want 2 batches received, 1 lost, 2 changes applied", s)
	}
}

// TestHotTorrentWakesThePublisher: one torrent's new peers all land in one
// shard, whose buffer holds far fewer changes than a patch-day swarm brings
// between two publishing rounds. A shard half full wakes the publisher, so
// nothing is dropped even when the next round is an hour away.
func TestHotTorrentWakesThePublisher(t *testing.T) {
	dir := t.TempDir()
	a := startNodeEvery(t, dir, "a", testSecret, -1, time.Hour)
	b := startNodeEvery(t, dir, "b", testSecret, 3*time.Second, time.Hour, a.node.ClusterAddr())
	waitFor(t, "the nodes see each other", func() bool { return a.sees("b") && b.sees("a") })
	h := infohash(9)
	register(t, a, h)
	waitFor(t, "the torrent registered on A is registered on B", func() bool { _, ok := b.scrape(h); return ok })

	// 10,000 new peers a second on one torrent, past any patch day's
	// rate but within what a publisher woken in time can carry; the old
	// code, waiting for its round, dropped all but the first buffer.
	const peers = 1000
	for port := uint16(1); port <= peers; port++ {
		a.announce(t, h, 1, port, 100, store.EventStarted)
		time.Sleep(100 * time.Microsecond)
	}
	// All but the last part-filled half buffer reach B without a round.
	waitFor(t, "B holds most of the hot swarm", func() bool { s, _ := b.scrape(h); return s.Incomplete >= peers*9/10 })
	if d := a.node.Stats().ChangesDropped; d != 0 {
		t.Fatalf("A dropped %d changes of a hot torrent", d)
	}
}
