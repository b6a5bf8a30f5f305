package store

import (
	"path/filepath"
	"testing"

	"johnlocke/modes"
)

// TestFlushWritesOnlyChangedSwarms: a peer announcing again within the
// minute, as it was, changes nothing the file holds, so the next flush
// writes nothing; a change of its flags, or a later minute's stamp, is
// written.
func TestFlushWritesOnlyChangedSwarms(t *testing.T) {
	clk := newClock()
	st := openStore(t, filepath.Join(t.TempDir(), "t.db"), Config{Locked: false, Mode: modes.Large, Now: clk.Now})
	defer st.Close()
	h := hash(3)
	announce(t, st, h, 7001, 100, EventStarted)
	announce(t, st, h, 7002, 100, EventStarted)
	flushed := func(what string) (torrents, bytes uint64) {
		t.Helper()
		before := st.Figures().Flush
		if err := st.Flush(); err != nil {
			t.Fatalf("flush after %s: %v", what, err)
		}
		after := st.Figures().Flush
		return after.Torrents - before.Torrents, after.Bytes - before.Bytes
	}
	if n, b := flushed("two peers started"); n != 1 || b == 0 {
		t.Fatalf("first flush wrote %d torrents, %d swarm bytes; want the one swarm", n, b)
	}

	clk.Add(modes.Tick / 4)
	announce(t, st, h, 7001, 100, EventNone)
	announce(t, st, h, 7002, 100, EventNone)
	if n, b := flushed("the same peers again within the minute"); n != 0 || b != 0 {
		t.Fatalf("flush after unchanged announces wrote %d torrents, %d swarm bytes; want nothing", n, b)
	}

	announce(t, st, h, 7001, 0, EventCompleted)
	if _, b := flushed("a completion"); b == 0 {
		t.Fatal("a peer turned seeder, and the flush wrote no swarm")
	}

	clk.Add(modes.Tick)
	announce(t, st, h, 7002, 100, EventNone)
	if _, b := flushed("an announce a minute later"); b == 0 {
		t.Fatal("a peer announced in a later minute, and the flush wrote no swarm (its stamp moved)")
	}
}

// BenchmarkFlushAllDirty is a flush of 10,000 swarms of 20 peers each,
// every one of them changed (one peer a swarm announcing in a new minute).
func BenchmarkFlushAllDirty(b *testing.B) {
	clk := newClock()
	st, err := Open(filepath.Join(b.TempDir(), "t.db"), Config{Locked: false, Mode: modes.Large, Now: clk.Now})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	const torrents, peers = 10000, 20
	req := Request{Left: 1}
	resp := &Response{}
	touch := func(p int) {
		for t := range torrents {
			req.InfoHash = hash(byte(t))
			req.InfoHash[18] = byte(t >> 8)
			req.Addr = [16]byte{10, byte(p), 0, 1}
			req.Port = uint16(p + 1000)
			resp.Reset()
			if err := st.Announce(&req, resp); err != nil {
				b.Fatal(err)
			}
		}
	}
	for p := range peers {
		touch(p)
	}
	if err := st.Flush(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		clk.Add(modes.Tick)
		touch(i % peers)
		b.StartTimer()
		if err := st.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}
