package store

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"
	"unsafe"

	"johnlocke/modes"
)

// zipfWorkload returns, for each of peers peers, the torrent (an index
// below torrents) it joins: popularity skewed as the load generator skews
// it (Zipf 1.1), so a few swarms are huge and most hold a peer or two.
func zipfWorkload(torrents, peers int, seed uint64) []uint32 {
	r := rand.New(rand.NewPCG(seed, 0xbf58476d1ce4e5b9))
	perm := r.Perm(torrents)
	zipf := rand.NewZipf(r, 1.1, 1, uint64(torrents-1))
	out := make([]uint32, peers)
	for i := range out {
		out[i] = uint32(perm[zipf.Uint64()])
	}
	return out
}

func workloadHash(i uint32) [20]byte {
	var h [20]byte
	x := uint64(i)*0x9e3779b97f4a7c15 + 0x5851f42d4c957f2d
	for j := 0; j < 20; j += 8 {
		x ^= x >> 31
		x *= 0xbf58476d1ce4e5b9
		x ^= x >> 29
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], x)
		copy(h[j:], b[:])
	}
	return h
}

// loadWorkload announces every peer of the workload once (started; a
// quarter of them seeding), each from its own address and port.
func loadWorkload(tb testing.TB, st *Store, torrentOf []uint32) {
	tb.Helper()
	req := Request{NumWant: 50, Event: EventStarted}
	resp := &Response{Peers4: make([]byte, 0, 50*6), Peers6: make([]byte, 0, 50*18)}
	for i, tor := range torrentOf {
		req.InfoHash = workloadHash(tor)
		binary.BigEndian.PutUint32(req.Addr[:], 0x0a000000+uint32(i/7))
		req.Port = uint16(1000 + i%7)
		req.Left = 1
		if i%4 == 0 {
			req.Left = 0
		}
		resp.Reset()
		if err := st.Announce(&req, resp); err != nil {
			tb.Fatalf("announce %d: %v", i, err)
		}
	}
}

func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestFootprint measures the live heap a million peers over 100,000
// torrents cost (the memory run of testdata/bench/compare.sh, without the
// network). It is slow, so it runs only when JOHNLOCKE_FOOTPRINT is set;
// JOHNLOCKE_HEAPPROFILE names a file for a heap profile.
func TestFootprint(t *testing.T) {
	if os.Getenv("JOHNLOCKE_FOOTPRINT") == "" {
		t.Skip("set JOHNLOCKE_FOOTPRINT=1 to measure")
	}
	const torrents, peers = 100_000, 1_000_000
	torrentOf := zipfWorkload(torrents, peers, 1)
	for _, mode := range []modes.Mode{modes.Surge, modes.Large} {
		t.Run(mode.String(), func(t *testing.T) {
			st := openStore(t, filepath.Join(t.TempDir(), "t.db"), Config{Locked: false, Mode: mode})
			defer st.Close()
			before := liveHeap()
			start := time.Now()
			loadWorkload(t, st, torrentOf)
			took := time.Since(start)
			start = time.Now()
			if err := st.Flush(); err != nil {
				t.Fatal(err)
			}
			t.Logf("first flush took %v", time.Since(start))
			after := liveHeap()
			nt, np := st.Counts()
			var values, slots, recs, lists int
			for i := range st.shards {
				sh := &st.shards[i]
				values += len(sh.pages) * int(unsafe.Sizeof(page{}))
				slots += 4 * len(sh.slots)
				for j := range sh.n {
					recs += sh.at(j).v4.Bytes()
					if sh.at(j).v4.Len() > 0 {
						lists++
					}
				}
			}
			t.Logf("torrent values %d, index %d, peer records %d (%d lists, %d bytes of records)",
				values, slots, recs, lists, np*modes.Record4)
			t.Logf("%d torrents, %d peers in %v: live heap %d -> %d bytes, %.1f bytes/peer",
				nt, np, took, before, after, float64(after-before)/float64(np))
			if path := os.Getenv("JOHNLOCKE_HEAPPROFILE"); path != "" {
				f, err := os.Create(path + "." + mode.String())
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
					t.Fatal(err)
				}
			}
			runtime.KeepAlive(st)
		})
	}
}
