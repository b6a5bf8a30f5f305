package store

import (
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"
)

// takeAll returns every change captured on st since the last take.
func takeAll(st *Store) []byte {
	var out []byte
	st.TakeChanges(func(c []byte) { out = append(out, c...) })
	return out
}

// announceFrom announces a peer at 10.0.0.last:port (or an IPv6 address
// with is6).
func announcePeer(t *testing.T, st *Store, h [20]byte, last byte, is6 bool, port uint16, left uint64, ev Event) {
	t.Helper()
	req := Request{InfoHash: h, Port: port, Left: left, Event: ev, NumWant: -1, Is6: is6}
	if is6 {
		req.Addr = [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: last}
	} else {
		copy(req.Addr[:], []byte{10, 0, 0, last})
	}
	if err := st.Announce(&req, &Response{}); err != nil {
		t.Fatalf("Announce: %v", err)
	}
}

func scrapeOf(t *testing.T, st *Store, h [20]byte) ScrapeCounts {
	t.Helper()
	c, ok := st.Scrape(h)
	if !ok {
		t.Fatalf("%x not registered", h[:4])
	}
	return c
}

func TestCapturedChangesReplayOnAnotherStore(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	a := openStore(t, filepath.Join(dir, "a.db"), Config{Locked: false, Now: clk.Now})
	defer a.Close()
	b := openStore(t, filepath.Join(dir, "b.db"), Config{Locked: false, Now: clk.Now})
	defer b.Close()
	a.CaptureChanges()
	h := hash(0x31)

	ship := func(want int) {
		t.Helper()
		c := takeAll(a)
		if got := len(c) / ChangeSize; got != want {
			t.Fatalf("captured %d changes, want %d", got, want)
		}
		if applied, refused := b.ApplyChanges(c); applied != want || refused != 0 {
			t.Fatalf("applied %d refused %d, want %d and 0", applied, refused, want)
		}
	}

	announcePeer(t, a, h, 1, false, 6881, 100, EventStarted)
	announcePeer(t, a, h, 2, true, 6881, 0, EventStarted)
	ship(2)
	if got, want := scrapeOf(t, b, h), (ScrapeCounts{Complete: 1, Incomplete: 1}); got != want {
		t.Fatalf("after new peers: %+v, want %+v", got, want)
	}

	// A re-announce within the renewal period changes nothing to pass on.
	announcePeer(t, a, h, 1, false, 6881, 50, EventNone)
	ship(0)

	// A completion is passed on and counted once on the other store too.
	announcePeer(t, a, h, 1, false, 6881, 0, EventCompleted)
	ship(1)
	if got, want := scrapeOf(t, b, h), (ScrapeCounts{Complete: 2, Downloaded: 1}); got != want {
		t.Fatalf("after completed: %+v, want %+v", got, want)
	}

	// A renewal once the peer's announces cross into a new period.
	clk.Add(maxRenewalTicks * time.Minute)
	announcePeer(t, a, h, 1, false, 6881, 0, EventNone)
	ship(1)

	announcePeer(t, a, h, 2, true, 6881, 0, EventStopped)
	ship(1)
	if got, want := scrapeOf(t, b, h), (ScrapeCounts{Complete: 1, Downloaded: 1}); got != want {
		t.Fatalf("after stopped: %+v, want %+v", got, want)
	}
	// Nothing echoes: applying captured nothing on b (it has no buffers),
	// and a second application of the same change is harmless.
	if c := takeAll(b); len(c) != 0 {
		t.Fatalf("b captured %d bytes from applied changes", len(c))
	}
}

func TestApplyChangesIsIdempotentAndBounded(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	a := openStore(t, filepath.Join(dir, "a.db"), Config{Locked: false, Now: clk.Now})
	defer a.Close()
	a.CaptureChanges()
	h := hash(0x41)
	for i := range 5 {
		announcePeer(t, a, h, byte(i+1), false, 6881, 1, EventStarted)
	}
	c := takeAll(a)

	b := openStore(t, filepath.Join(dir, "b.db"), Config{Locked: false, MaxPeersTotal: 3, Now: clk.Now})
	defer b.Close()
	b.ApplyChanges(c)
	b.ApplyChanges(c)
	if got := scrapeOf(t, b, h); got.Incomplete != 3 {
		t.Fatalf("b holds %d peers, want its budget of 3", got.Incomplete)
	}

	locked := openStore(t, filepath.Join(dir, "c.db"), Config{Locked: true, Now: clk.Now})
	defer locked.Close()
	if applied, refused := locked.ApplyChanges(c); applied != 0 || refused != 5 {
		t.Fatalf("locked store applied %d refused %d, want 0 and 5", applied, refused)
	}
	if _, ok := locked.Scrape(h); ok {
		t.Fatal("a locked store registered an unregistered infohash from another node")
	}
	if _, err := locked.Register([]Torrent{{InfoHash: h, Source: SourceImport}}); err != nil {
		t.Fatal(err)
	}
	if applied, _ := locked.ApplyChanges(c); applied != 5 {
		t.Fatalf("registered torrent: applied %d, want 5", applied)
	}
}

func TestAppendSwarmsCarriesPeersWithTheirAges(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	a := openStore(t, filepath.Join(dir, "a.db"), Config{Locked: false, Now: clk.Now})
	defer a.Close()
	h1, h2 := hash(0x51), hash(0x99)
	announcePeer(t, a, h1, 1, false, 1, 0, EventStarted)
	clk.Add(3 * time.Minute)
	announcePeer(t, a, h1, 2, true, 2, 1, EventStarted)
	announcePeer(t, a, h2, 3, false, 3, 1, EventStarted)

	var snap []byte
	for i := range NumShards {
		snap = a.AppendSwarms(i, snap)
	}
	if got := len(snap) / ChangeSize; got != 3 {
		t.Fatalf("snapshot has %d peers, want 3", got)
	}
	b := openStore(t, filepath.Join(dir, "b.db"), Config{Locked: false, Now: clk.Now})
	defer b.Close()
	if applied, refused := b.ApplyChanges(snap); applied != 3 || refused != 0 {
		t.Fatalf("applied %d refused %d", applied, refused)
	}
	if got, want := scrapeOf(t, b, h1), (ScrapeCounts{Complete: 1, Incomplete: 1}); got != want {
		t.Fatalf("h1 on b: %+v, want %+v", got, want)
	}
	// The first peer is three minutes old on a, and so on b: it expires
	// on b when it would on a, not a full timeout later.
	sh, pos := b.find(&h1)
	rec := sh.at(pos).v4.Record(0)
	age := uint8(b.tickNow()) - rec[len(rec)-2]
	sh.mu.Unlock()
	if age != 3 {
		t.Fatalf("restored peer is %d ticks old, want 3", age)
	}
}

func TestCompletedCountsTravelUpOnly(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	a := openStore(t, filepath.Join(dir, "a.db"), Config{Locked: false, Now: clk.Now})
	defer a.Close()
	b := openStore(t, filepath.Join(dir, "b.db"), Config{Locked: false, Now: clk.Now})
	defer b.Close()
	h, other := hash(0x71), hash(0x72)
	for _, st := range []*Store{a, b} {
		announcePeer(t, st, h, 1, false, 1, 1, EventStarted)
	}
	announcePeer(t, b, other, 1, false, 1, 1, EventStarted)
	announcePeer(t, b, other, 1, false, 1, 0, EventCompleted)
	announcePeer(t, a, h, 1, false, 1, 0, EventCompleted)
	announcePeer(t, a, h, 2, false, 2, 1, EventStarted)
	announcePeer(t, a, h, 2, false, 2, 0, EventCompleted)

	var recs []byte
	for i := range NumShards {
		recs = a.AppendCompleted(i, recs)
	}
	if got := len(recs) / CompletedSize; got != 1 {
		t.Fatalf("a lists %d completed counts, want 1", got)
	}
	if raised := b.ApplyCompleted(recs); raised != 1 {
		t.Fatalf("raised %d counts, want 1", raised)
	}
	if got := scrapeOf(t, b, h).Downloaded; got != 2 {
		t.Fatalf("b's count %d, want a's 2", got)
	}
	// The other way a count would go down: it stays.
	recs = recs[:0]
	for i := range NumShards {
		recs = b.AppendCompleted(i, recs)
	}
	binary.BigEndian.PutUint32(recs[20:], 0) // whichever comes first, claim none
	binary.BigEndian.PutUint32(recs[CompletedSize+20:], 0)
	b.ApplyCompleted(recs)
	if got := scrapeOf(t, b, h).Downloaded; got != 2 {
		t.Fatalf("a lower count lowered b's to %d", got)
	}
}

type recordingListener struct {
	registered []Torrent
	removed    [][20]byte
	unbanned   [][20]byte
}

func (r *recordingListener) Registered(ts []Torrent) { r.registered = append(r.registered, ts...) }
func (r *recordingListener) Removed(hs [][20]byte, ban bool, reason string) {
	r.removed = append(r.removed, hs...)
}
func (r *recordingListener) Unbanned(hs [][20]byte) { r.unbanned = append(r.unbanned, hs...) }

func TestRegistryListenerHearsLocalChangesOnly(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "t.db"), Config{Locked: true, Now: newClock().Now})
	defer st.Close()
	var l recordingListener
	st.SetRegistryListener(&l)
	local, remote := hash(0x61), hash(0x62)
	if _, err := st.Register([]Torrent{{InfoHash: local, Source: SourceImport}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RegisterRemote([]Torrent{{InfoHash: remote, Source: SourceImport}}); err != nil {
		t.Fatal(err)
	}
	// Registering again changes nothing, and is not passed on.
	if _, err := st.Register([]Torrent{{InfoHash: local, Source: SourceImport}}); err != nil {
		t.Fatal(err)
	}
	if len(l.registered) != 1 || l.registered[0].InfoHash != local {
		t.Fatalf("listener heard %d registrations, want the local one", len(l.registered))
	}
	if _, err := st.Remove([][20]byte{local}, true, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RemoveRemote([][20]byte{remote}, false, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Unban([][20]byte{local}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UnbanRemote([][20]byte{local}); err != nil {
		t.Fatal(err)
	}
	if len(l.removed) != 1 || l.removed[0] != local || len(l.unbanned) != 1 {
		t.Fatalf("listener heard removals %d, unbans %d; want 1 and 1", len(l.removed), len(l.unbanned))
	}
	if _, ok := st.Scrape(remote); ok {
		t.Fatal("RemoveRemote left the torrent registered")
	}
}

func TestAnnounceWithNodeAttachedAllocatesNothing(t *testing.T) {
	clk := newClock()
	st := openStore(t, filepath.Join(t.TempDir(), "t.db"), Config{Locked: false, Now: clk.Now})
	defer st.Close()
	st.CaptureChanges()
	h := hash(8)
	for port := uint16(1); port <= 1000; port++ {
		announce(t, st, h, port, uint64(port%3), EventStarted)
	}
	req := Request{InfoHash: h, Port: 500, Left: 1, NumWant: -1, BothFamilies: true}
	copy(req.Addr[:], []byte{127, 0, 0, 1})
	resp := &Response{Peers4: make([]byte, 0, 50*6), Peers6: make([]byte, 0, 50*18)}
	takeAll(st)
	left := uint64(0)
	allocs := testing.AllocsPerRun(500, func() {
		// Every call changes the peer between seeder and leecher: each
		// one is captured (and, once the buffer is full, dropped).
		left ^= 1
		req.Left = left
		resp.Reset()
		if err := st.Announce(&req, resp); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Announce with a node attached allocates %v times per call", allocs)
	}
	if dropped := st.TakeChanges(func([]byte) {}); dropped == 0 {
		t.Fatal("no change was captured and dropped: the test did not exercise capture")
	}
}

func benchStore(b *testing.B, capture bool) (*Store, *Request, *Response) {
	st, err := Open(filepath.Join(b.TempDir(), "t.db"), Config{Locked: false})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if capture {
		st.CaptureChanges()
	}
	const torrents, peers = 1000, 100
	req := &Request{NumWant: -1, Left: 1}
	copy(req.Addr[:], []byte{10, 0, 0, 1})
	resp := &Response{Peers4: make([]byte, 0, 50*6), Peers6: make([]byte, 0, 50*18)}
	for i := range torrents * peers {
		req.InfoHash = hash(byte(i % torrents))
		req.InfoHash[19] = byte(i % torrents >> 8)
		req.Port = uint16(i / torrents)
		resp.Reset()
		_ = st.Announce(req, resp)
	}
	return st, req, resp
}

// BenchmarkAnnounceNodeAttached measures the cost of capture: the same
// announces with no cluster node attached and with one, every announce a
// seeder/leecher change (so, attached, every one is captured) and the
// changes taken every 1,000 announces as the publisher would.
func BenchmarkAnnounceNodeAttached(b *testing.B) {
	for _, attached := range []bool{false, true} {
		name := "detached"
		if attached {
			name = "attached"
		}
		b.Run(name, func(b *testing.B) {
			st, req, resp := benchStore(b, attached)
			const torrents, peers = 1000, 100
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				req.InfoHash = hash(byte(i % torrents))
				req.InfoHash[19] = byte(i % torrents >> 8)
				req.Port = uint16(i % peers)
				// The same peer comes back every 1,000 announces, each
				// time having switched between seeding and leeching.
				req.Left = uint64(i/torrents) & 1
				resp.Reset()
				_ = st.Announce(req, resp)
				if i%1000 == 999 {
					st.TakeChanges(func([]byte) {})
				}
			}
		})
	}
}

// BenchmarkApplyChanges applies one change from another node per
// operation, to swarms of the size BenchmarkAnnounce serves, alternating
// seeder and leecher so each one changes the swarm.
func BenchmarkApplyChanges(b *testing.B) {
	st, _, _ := benchStore(b, false)
	a, req, resp := benchStore(b, true)
	const torrents, peers = 1000, 100
	var changes []byte
	for i := range torrents * peers {
		req.InfoHash = hash(byte(i % torrents))
		req.InfoHash[19] = byte(i % torrents >> 8)
		req.Port = uint16(i / torrents)
		req.Left = 0
		resp.Reset()
		_ = a.Announce(req, resp)
		if i%1000 == 999 {
			a.TakeChanges(func(c []byte) { changes = append(changes, c...) })
		}
	}
	a.TakeChanges(func(c []byte) { changes = append(changes, c...) })
	n := len(changes) / ChangeSize
	if n == 0 {
		b.Fatal("nothing captured")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		off := (i % n) * ChangeSize
		c := changes[off : off+ChangeSize]
		c[changeOffFlags] ^= 1 // seeder, then leecher, then seeder...
		st.ApplyChanges(c)
	}
}
