package store

import (
	"encoding/base32"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"go.etcd.io/bbolt"

	"johnlocke/migrate"
	"johnlocke/modes"
)

// clock is a settable clock for tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)} }

func hash(b byte) [20]byte {
	var h [20]byte
	for i := range h {
		h[i] = b + byte(i)
	}
	return h
}

func openStore(t *testing.T, path string, cfg Config) *Store {
	t.Helper()
	st, err := Open(path, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return st
}

func announce(t *testing.T, st *Store, h [20]byte, port uint16, left uint64, ev Event) *Response {
	t.Helper()
	req := Request{InfoHash: h, Port: port, Left: left, Event: ev, NumWant: -1}
	copy(req.Addr[:], []byte{127, 0, 0, 1})
	resp := &Response{}
	if err := st.Announce(&req, resp); err != nil {
		t.Fatalf("Announce port %d: %v", port, err)
	}
	return resp
}

func TestRecordRoundTrip(t *testing.T) {
	in := Torrent{
		InfoHash: hash(1), Alias: hash(9), HasAlias: true, Name: "debian.iso", Size: 1 << 33,
		Private: true, Mode: modes.Surge, Source: SourceDir, Origin: "/srv/t/debian.torrent",
		Added: time.Unix(1700000000, 0).UTC(), LastActive: time.Unix(1700000600, 0).UTC(), Completed: 77,
	}
	got, err := decodeRecord(in.InfoHash[:], encodeRecord(nil, &in))
	if err != nil {
		t.Fatal(err)
	}
	if got != in {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, in)
	}
	for _, bad := range [][]byte{nil, {2}, encodeRecord(nil, &in)[:recordFixed+1]} {
		if _, err := decodeRecord(in.InfoHash[:], bad); err == nil {
			t.Errorf("decodeRecord(%x) accepted a malformed record", bad)
		}
	}
}

func TestSwarmRoundTrip(t *testing.T) {
	v4 := []byte{1, 2, 3, 4, 0, 80, 7, 1, 5, 6, 7, 8, 0, 81, 7, 0}
	v6 := make([]byte, modes.Record6)
	v6[0], v6[17] = 0x20, 1
	b := appendSwarm(nil, 12345, v4, v6)
	tick, g4, g6, err := decodeSwarm(b)
	if err != nil {
		t.Fatal(err)
	}
	if tick != 12345 || string(g4) != string(v4) || string(g6) != string(v6) {
		t.Fatalf("got tick %d v4 %x v6 %x", tick, g4, g6)
	}
	for n := range len(b) {
		if _, _, _, err := decodeSwarm(b[:n]); err == nil {
			t.Fatalf("decodeSwarm accepted %d of %d bytes", n, len(b))
		}
	}
}

func TestRestamp(t *testing.T) {
	const timeout = 61 * time.Minute
	tests := []struct {
		name       string
		stamp      uint8
		saved, now uint32
		wantStamp  uint8
		wantOK     bool
	}{
		{"fresh", 230, 1000 + 256*3, 1000 + 256*3 + 5, 0, true},
		{"aged in file", 250, 4, 4 + 50, 0, true},
		{"expired while down", 0, 256, 256 + 62, 0, false},
		{"expired before write", 0, 100, 100, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := restamp(tt.stamp, tt.saved, tt.now, timeout)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if !ok {
				return
			}
			wantAge := uint32(modes.Age(uint8(tt.saved), tt.stamp)) + tt.now - tt.saved
			if gotAge := uint32(modes.Age(uint8(tt.now), got)); gotAge != wantAge {
				t.Fatalf("age after restamp %d, want %d", gotAge, wantAge)
			}
		})
	}
}

func TestParseInfoHash(t *testing.T) {
	want := hash(0x10)
	hexed := hex.EncodeToString(want[:])
	tests := []struct {
		in   string
		want [20]byte
		ok   bool
	}{
		{hexed, want, true},
		{"  " + hexed + "\n", want, true},
		{base32.StdEncoding.EncodeToString(want[:]), want, true},
		{strings.ToLower(base32.StdEncoding.EncodeToString(want[:])), want, true},
		{"magnet:?xt=urn:btih:" + hexed + "&dn=x", want, true},
		{"magnet:?dn=x&xt=urn:btmh:1220" + hexed + "000000000000000000000000", want, true},
		{"magnet:?dn=x", [20]byte{}, false},
		{hexed[:39], [20]byte{}, false},
		{"zz" + hexed[2:], [20]byte{}, false},
	}
	for _, tt := range tests {
		got, err := ParseInfoHash(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseInfoHash(%q) error %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if tt.ok && got != tt.want {
			t.Errorf("ParseInfoHash(%q) = %x, want %x", tt.in, got, tt.want)
		}
	}
}

func TestLockedRefusesAndCreatesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	st := openStore(t, path, Config{Locked: true, Now: newClock().Now})
	defer st.Close()
	req := Request{InfoHash: hash(3), Port: 1, NumWant: -1}
	if err := st.Announce(&req, &Response{}); err != ErrUnregistered {
		t.Fatalf("Announce = %v, want %v", err, ErrUnregistered)
	}
	if _, ok := st.Scrape(hash(3)); ok {
		t.Fatal("a refused announce created a torrent")
	}
	if n, _ := st.Counts(); n != 0 {
		t.Fatalf("torrent count %d, want 0", n)
	}
}

func TestOrganicBoundAndPersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	clk := newClock()
	st := openStore(t, path, Config{Locked: false, MaxTorrents: 2, MaxTorrentsPerAddr: -1, Now: clk.Now})
	announce(t, st, hash(1), 1, 0, EventStarted)
	announce(t, st, hash(2), 1, 0, EventStarted)
	req := Request{InfoHash: hash(3), Port: 1, NumWant: -1}
	if err := st.Announce(&req, &Response{}); err != ErrTorrentLimit {
		t.Fatalf("third organic torrent: %v, want %v", err, ErrTorrentLimit)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := OpenDB(path, OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tor, ok, err := db.Torrent(hash(2), clk.Now(), time.Hour)
	if err != nil || !ok {
		t.Fatalf("organic torrent not persisted: ok=%v err=%v", ok, err)
	}
	if tor.Source != SourceOrganic || tor.LastActive.IsZero() {
		t.Fatalf("organic record %+v", tor)
	}
}

func TestLargeSwarmSurvivesRestartSmallDoesNot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	clk := newClock()
	cfg := Config{Locked: true, Mode: modes.Large, Now: clk.Now}
	st := openStore(t, path, cfg)
	large, small := hash(1), hash(2)
	if _, err := st.Register([]Torrent{{InfoHash: large}, {InfoHash: small, Mode: modes.Small}}); err != nil {
		t.Fatal(err)
	}
	for port := uint16(1); port <= 5; port++ {
		announce(t, st, large, port, uint64(port%2), EventStarted)
		announce(t, st, small, port, 1, EventStarted)
	}
	announce(t, st, large, 9, 1, EventStarted)
	announce(t, st, large, 9, 0, EventCompleted)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	err := func() error {
		b, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
		if err != nil {
			return err
		}
		defer b.Close()
		return b.View(func(tx *bbolt.Tx) error {
			sw := tx.Bucket(migrate.BucketSwarms)
			if sw.Get(small[:]) != nil {
				t.Error("a small swarm was written to disk")
			}
			if sw.Get(large[:]) == nil {
				t.Error("the large swarm was not written to disk")
			}
			return nil
		})
	}()
	if err != nil {
		t.Fatal(err)
	}

	clk.Add(10 * time.Minute)
	st = openStore(t, path, cfg)
	counts, _ := st.Scrape(large)
	if want := (ScrapeCounts{Complete: 3, Incomplete: 3, Downloaded: 1}); counts != want {
		t.Fatalf("large after restart %+v, want %+v", counts, want)
	}
	if counts, _ := st.Scrape(small); counts.Complete+counts.Incomplete != 0 {
		t.Fatalf("small swarm came back: %+v", counts)
	}
	resp := announce(t, st, large, 100, 1, EventStarted)
	if got := len(resp.Peers4) / 6; got != 6 {
		t.Fatalf("restored swarm gave %d peers, want 6", got)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// Long after the peer timeout, the persisted peers are gone.
	clk.Add(24 * time.Hour)
	st = openStore(t, path, cfg)
	defer st.Close()
	if counts, _ := st.Scrape(large); counts.Complete+counts.Incomplete != 0 || counts.Downloaded != 1 {
		t.Fatalf("after a day down: %+v, want no peers and the completed count kept", counts)
	}
}

func TestSweepExpiresPeers(t *testing.T) {
	clk := newClock()
	st := openStore(t, filepath.Join(t.TempDir(), "t.db"), Config{Locked: false, Mode: modes.Small, Now: clk.Now})
	defer st.Close()
	h := hash(4)
	announce(t, st, h, 1, 1, EventStarted)
	clk.Add(3 * time.Minute)
	announce(t, st, h, 2, 1, EventStarted)
	timeout := st.Timing(modes.Small).PeerTimeout
	clk.Add(timeout - 2*time.Minute)
	st.Sweep()
	if c, _ := st.Scrape(h); c.Incomplete != 1 {
		t.Fatalf("after sweep %+v, want only the later peer", c)
	}
	if _, peers := st.Counts(); peers != 1 {
		t.Fatalf("peer count %d, want 1", peers)
	}
}

func TestPurgeLive(t *testing.T) {
	clk := newClock()
	st := openStore(t, filepath.Join(t.TempDir(), "t.db"), Config{Locked: true, Now: clk.Now})
	defer st.Close()
	old, fresh := hash(5), hash(6)
	if _, err := st.Register([]Torrent{{InfoHash: old}}); err != nil {
		t.Fatal(err)
	}
	clk.Add(48 * time.Hour)
	if _, err := st.Register([]Torrent{{InfoHash: fresh}}); err != nil {
		t.Fatal(err)
	}
	dry, err := st.Purge(PurgeOptions{OlderThan: 24 * time.Hour, DryRun: true})
	if err != nil || len(dry.Torrents) != 1 || dry.Torrents[0] != old {
		t.Fatalf("dry run %+v, %v", dry, err)
	}
	if _, ok := st.Scrape(old); !ok {
		t.Fatal("a dry run removed a torrent")
	}
	rep, err := st.Purge(PurgeOptions{OlderThan: 24 * time.Hour})
	if err != nil || len(rep.Torrents) != 1 {
		t.Fatalf("purge %+v, %v", rep, err)
	}
	if _, ok := st.Scrape(old); ok {
		t.Fatal("purged torrent still in memory")
	}
	if _, ok, _ := st.Torrent(old); ok {
		t.Fatal("purged torrent still on disk")
	}
	if _, ok := st.Scrape(fresh); !ok {
		t.Fatal("fresh torrent purged")
	}
}

func TestRegisterIsIdempotentAndSetsMode(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "t.db"), Config{Locked: true, Now: newClock().Now})
	defer st.Close()
	h := hash(7)
	res, err := st.Register([]Torrent{{InfoHash: h, Name: "a"}})
	if err != nil || !res[0].Added {
		t.Fatalf("first register %+v %v", res, err)
	}
	announce(t, st, h, 1, 1, EventStarted)
	announce(t, st, h, 1, 0, EventCompleted)
	res, err = st.Register([]Torrent{{InfoHash: h, Name: "a"}})
	if err != nil || res[0].Added || res[0].ModeChanged {
		t.Fatalf("second register %+v %v", res, err)
	}
	res, err = st.Register([]Torrent{{InfoHash: h, Mode: modes.Surge}})
	if err != nil || !res[0].ModeChanged {
		t.Fatalf("mode change %+v %v", res, err)
	}
	tor, ok, err := st.Torrent(h)
	if err != nil || !ok || tor.Mode != modes.Surge || tor.Completed != 1 || tor.Name != "a" {
		t.Fatalf("after re-register: %+v ok=%v err=%v", tor, ok, err)
	}
}

func TestAliasReachesSameSwarm(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "t.db"), Config{Locked: true, Now: newClock().Now})
	defer st.Close()
	v1, v2 := hash(0x01), hash(0xf0) // different shards
	if _, err := st.Register([]Torrent{{InfoHash: v1, Alias: v2, HasAlias: true}}); err != nil {
		t.Fatal(err)
	}
	announce(t, st, v1, 1, 0, EventStarted)
	resp := announce(t, st, v2, 2, 1, EventStarted)
	if len(resp.Peers4) != 6 || resp.Complete != 1 || resp.Incomplete != 1 {
		t.Fatalf("alias announce got %d peer bytes, counts %d/%d", len(resp.Peers4), resp.Complete, resp.Incomplete)
	}
	a, _ := st.Scrape(v1)
	b, _ := st.Scrape(v2)
	if a != b {
		t.Fatalf("scrape by v1 %+v, by v2 %+v", a, b)
	}
}

func TestAnnounceAllocatesNothing(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "t.db"), Config{Locked: false, Now: newClock().Now})
	defer st.Close()
	h := hash(8)
	for port := uint16(1); port <= 1000; port++ {
		announce(t, st, h, port, uint64(port%3), EventStarted)
	}
	req := Request{InfoHash: h, Port: 500, Left: 1, NumWant: -1, BothFamilies: true}
	copy(req.Addr[:], []byte{127, 0, 0, 1})
	resp := &Response{Peers4: make([]byte, 0, 50*6), Peers6: make([]byte, 0, 50*18)}
	allocs := testing.AllocsPerRun(500, func() {
		resp.Reset()
		if err := st.Announce(&req, resp); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Announce allocates %v times per call", allocs)
	}
}

func BenchmarkAnnounce(b *testing.B) {
	st, err := Open(filepath.Join(b.TempDir(), "t.db"), Config{Locked: false})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	const torrents, peers = 1000, 100
	req := Request{NumWant: -1, Left: 1}
	copy(req.Addr[:], []byte{10, 0, 0, 1})
	resp := &Response{Peers4: make([]byte, 0, 50*6), Peers6: make([]byte, 0, 50*18)}
	for i := range torrents * peers {
		req.InfoHash = hash(byte(i % torrents))
		req.InfoHash[19] = byte(i % torrents >> 8)
		req.Port = uint16(i / torrents)
		resp.Reset()
		_ = st.Announce(&req, resp)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		req.InfoHash = hash(byte(i % torrents))
		req.InfoHash[19] = byte(i % torrents >> 8)
		req.Port = uint16(i % peers)
		resp.Reset()
		_ = st.Announce(&req, resp)
	}
}

func TestTorrentValueSize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the 56 bytes assume 8-byte pointers")
	}
	if got := unsafe.Sizeof(torrent{}); got != 56 {
		t.Fatalf("a torrent value is %d bytes, want 56", got)
	}
}

func TestFullTick(t *testing.T) {
	for _, now := range []uint32{70000, 65536, 131071, 29000000} {
		for _, ago := range []uint32{0, 1, 255, 65535} {
			if got := fullTick(uint16(now-ago), now); got != now-ago {
				t.Fatalf("fullTick(%d, %d) = %d, want %d", uint16(now-ago), now, got, now-ago)
			}
		}
	}
}

func TestAppendPatched(t *testing.T) {
	in := Torrent{InfoHash: hash(2), Name: "n", Origin: "o", Mode: modes.Large, Source: SourceImport,
		Added: time.Unix(1700000000, 0).UTC(), Completed: 3}
	last := time.Unix(1700000900, 0).UTC()
	b, err := appendPatched([]byte("x"), in.InfoHash[:], encodeRecord(nil, &in), 9, last)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeRecord(in.InfoHash[:], b[1:])
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.Completed, want.LastActive = 9, last
	if got != want {
		t.Fatalf("patched record %+v, want %+v", got, want)
	}
	if _, err := appendPatched(nil, in.InfoHash[:], []byte{9, 9}, 1, last); err == nil {
		t.Fatal("a malformed record was patched")
	}
}

func announce6(t *testing.T, st *Store, h [20]byte, port uint16, left uint64, ev Event) *Response {
	t.Helper()
	req := Request{InfoHash: h, Port: port, Left: left, Event: ev, NumWant: -1, Is6: true, BothFamilies: true}
	req.Addr = [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}
	resp := &Response{}
	if err := st.Announce(&req, resp); err != nil {
		t.Fatalf("Announce port %d: %v", port, err)
	}
	return resp
}

// TestIPv6PeersComeAndGo checks the IPv6 side of a swarm, which lives
// outside the torrent value: both families answered, counted, persisted,
// restored, swept, and forgotten once empty.
func TestIPv6PeersComeAndGo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	clk := newClock()
	cfg := Config{Locked: false, Mode: modes.Large, Now: clk.Now}
	st := openStore(t, path, cfg)
	h := hash(0x30)
	announce(t, st, h, 1, 0, EventStarted)
	announce6(t, st, h, 2, 1, EventStarted)
	resp := announce6(t, st, h, 3, 1, EventStarted)
	if len(resp.Peers4) != 6 || len(resp.Peers6) != 18 || resp.Complete != 1 || resp.Incomplete != 2 {
		t.Fatalf("v6 announce: %d v4 bytes, %d v6 bytes, counts %d/%d", len(resp.Peers4), len(resp.Peers6), resp.Complete, resp.Incomplete)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = openStore(t, path, cfg)
	if c, _ := st.Scrape(h); c.Complete != 1 || c.Incomplete != 2 {
		t.Fatalf("after restart %+v, want 1 seeder and 2 leechers", c)
	}
	announce6(t, st, h, 2, 1, EventStopped)
	announce6(t, st, h, 3, 1, EventStopped)
	sh, pos := st.find(&h)
	has6, lists := sh.at(pos).has6(), len(sh.v6)
	sh.mu.Unlock()
	if has6 || lists != 0 {
		t.Fatalf("an emptied IPv6 list stays: has6 %v, %d lists", has6, lists)
	}
	announce6(t, st, h, 4, 1, EventStarted)
	clk.Add(3 * time.Hour)
	st.Sweep()
	if _, peers := st.Counts(); peers != 0 {
		t.Fatalf("%d peers after every one expired", peers)
	}
	sh, _ = st.find(&h)
	lists = len(sh.v6)
	sh.mu.Unlock()
	if lists != 0 {
		t.Fatal("a swept IPv6 list stays")
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestPurgeMovesNeighbour purges a torrent whose shard neighbour then
// takes its place in the table: the neighbour's later state must reach the
// file, and the purged torrent must not come back.
func TestPurgeMovesNeighbour(t *testing.T) {
	clk := newClock()
	st := openStore(t, filepath.Join(t.TempDir(), "t.db"), Config{Locked: false, Now: clk.Now})
	defer st.Close()
	// Registered, not organic: the sweep that purge runs first would
	// remove an organic one whose peers expired by itself.
	old := hash(0x40)
	if _, err := st.Register([]Torrent{{InfoHash: old}}); err != nil {
		t.Fatal(err)
	}
	announce(t, st, old, 1, 0, EventStarted)
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	clk.Add(72 * time.Hour)
	fresh := old // same shard (first byte), after old in the table
	fresh[19] ^= 0xff
	if _, err := st.Register([]Torrent{{InfoHash: fresh}}); err != nil {
		t.Fatal(err)
	}
	announce(t, st, fresh, 1, 0, EventStarted)
	rep, err := st.Purge(PurgeOptions{OlderThan: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Torrents) != 1 || rep.Torrents[0] != old {
		t.Fatalf("purged %x, want only %x", rep.Torrents, old)
	}
	sh, pos := st.find(&fresh)
	sh.mu.Unlock()
	if pos != 0 {
		t.Fatalf("the neighbour sits at %d, want 0", pos)
	}
	announce(t, st, fresh, 2, 1, EventStarted)
	announce(t, st, fresh, 2, 0, EventCompleted)
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := st.Torrent(old); ok {
		t.Fatal("the purged torrent came back")
	}
	tor, ok, err := st.Torrent(fresh)
	if err != nil || !ok || tor.Completed != 1 {
		t.Fatalf("neighbour after purge: %+v ok=%v err=%v, want completed 1", tor, ok, err)
	}
}

// TestLastActiveToTheSecond: a running store reports the last announce to
// the second, also for announces after the first of their minute (which
// write nothing), and the file keeps the second a flush saw. Loading keeps
// the second too.
func TestLastActiveToTheSecond(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	clk := newClock()
	clk.Add(37 * time.Second)
	st := openStore(t, path, Config{Locked: false, Now: clk.Now})
	lastActive := func(st *Store) time.Time {
		t.Helper()
		tor, ok, err := st.Torrent(hash(1))
		if err != nil || !ok {
			t.Fatalf("Torrent: %v %v", ok, err)
		}
		return tor.LastActive
	}
	announce(t, st, hash(1), 1, 0, EventStarted)
	if got, want := lastActive(st), clk.Now(); !got.Equal(want) {
		t.Fatalf("last active after the first announce %v, want %v", got, want)
	}
	clk.Add(15 * time.Second) // :52, the same minute
	announce(t, st, hash(1), 2, 0, EventStarted)
	if got, want := lastActive(st), clk.Now(); !got.Equal(want) {
		t.Fatalf("last active after a second announce in the minute %v, want %v", got, want)
	}
	clk.Add(20 * time.Second) // :12 of the next minute
	announce(t, st, hash(1), 2, 0, EventNone)
	want := clk.Now()
	if got := lastActive(st); !got.Equal(want) {
		t.Fatalf("last active in the next minute %v, want %v", got, want)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = openStore(t, path, Config{Locked: false, Now: clk.Now})
	defer st.Close()
	if got := lastActive(st); !got.Equal(want) {
		t.Fatalf("last active after a restart %v, want %v", got, want)
	}
}

// TestPurgeKeepsTorrentsStillUnderDir: a stale torrent whose file is still
// in --dir would come back at the next scan with its counters reset, so
// purge keeps it, says why, and removes it once the file is gone.
func TestPurgeKeepsTorrentsStillUnderDir(t *testing.T) {
	dir := t.TempDir()
	torrents := filepath.Join(dir, "torrents")
	if err := os.Mkdir(torrents, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join("..", "testdata", "torrents", "v1-single.torrent"))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(torrents, "v1-single.torrent")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	st := openStore(t, filepath.Join(dir, "j.db"), Config{Now: clk.Now})
	defer st.Close()
	// A relative --dir, as an operator types it: the origin is stored
	// absolute, so a purge from anywhere finds the file.
	t.Chdir(dir)
	if res, err := st.ScanDir("torrents"); err != nil || res.Added != 1 {
		t.Fatalf("ScanDir: %+v, %v", res, err)
	}
	var h [20]byte
	if err := st.Torrents(func(tor *Torrent) error { h = tor.InfoHash; return nil }); err != nil {
		t.Fatal(err)
	}
	announce(t, st, h, 1, 100, EventStarted) // a completion counts from a known leecher
	announce(t, st, h, 1, 0, EventCompleted)
	clk.Add(48 * time.Hour)
	t.Chdir(t.TempDir())

	for _, dry := range []bool{true, false} {
		rep, err := st.Purge(PurgeOptions{OlderThan: 24 * time.Hour, DryRun: dry})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Torrents) != 0 || len(rep.Kept) != 1 || rep.Kept[0].InfoHash != h || !strings.Contains(rep.Kept[0].Reason, file) {
			t.Fatalf("dry run %v: %+v, want the torrent kept, naming %s", dry, rep, file)
		}
	}
	if tor, ok, err := st.Torrent(h); err != nil || !ok || tor.Completed != 1 {
		t.Fatalf("after purge: %+v, %v, %v; want it registered with its count", tor, ok, err)
	}

	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	rep, err := st.Purge(PurgeOptions{OlderThan: 24 * time.Hour})
	if err != nil || len(rep.Torrents) != 1 || len(rep.Kept) != 0 {
		t.Fatalf("purge after the file went: %+v, %v; want it removed", rep, err)
	}
}
