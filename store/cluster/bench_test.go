package cluster

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"johnlocke/store"
)

// BenchmarkPropagation measures how long a new peer announced on one node
// takes to count on another, three embedded nodes on loopback with the
// default publish interval: one infohash per operation, reported as the
// median and 99th percentile in milliseconds. Each announce waits a random
// part of the publish interval first, as announces arriving at any moment
// would (otherwise each one would come just after a publish, and wait a
// whole interval for the next).
func BenchmarkPropagation(b *testing.B) {
	dir := b.TempDir()
	start := func(name string, peers ...string) (*store.Store, *Node) {
		st, err := store.Open(filepath.Join(dir, name+".db"), store.Config{Locked: false, Log: zerolog.Nop()})
		if err != nil {
			b.Fatal(err)
		}
		n, err := Start(context.Background(), Config{Listen: "127.0.0.1:0", Peers: peers, Secret: testSecret,
			NodeName: name, Log: zerolog.Nop(), JoinTimeout: -1}, st)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { n.Close(); st.Close() })
		return st, n
	}
	a, an := start("a")
	_, bn := start("b", an.ClusterAddr())
	c, cn := start("c", an.ClusterAddr(), bn.ClusterAddr())
	for deadline := time.Now().Add(5 * time.Second); ; {
		s := cn.Stats()
		if len(s.NodesSeen) == 2 && s.NodesSeen[0].Live && s.NodesSeen[1].Live {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("the nodes did not see each other within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var lags []time.Duration
	req := store.Request{Port: 6881, Event: store.EventStarted, NumWant: -1}
	copy(req.Addr[:], []byte{127, 0, 0, 1})
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		req.InfoHash = infohash(0)
		req.InfoHash[0], req.InfoHash[1], req.InfoHash[2] = byte(i), byte(i>>8), byte(i>>16)
		time.Sleep(rand.N(DefaultPublishInterval))
		sent := time.Now()
		if err := a.Announce(&req, &store.Response{}); err != nil {
			b.Fatal(err)
		}
		for {
			if s, ok := c.Scrape(req.InfoHash); ok && s.Complete == 1 {
				break
			}
			if time.Since(sent) > 5*time.Second {
				b.Fatalf("peer %d did not reach C within 5 s", i)
			}
			time.Sleep(time.Millisecond)
		}
		lags = append(lags, time.Since(sent))
	}
	b.StopTimer()
	slices.Sort(lags)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lags[len(lags)/2]), "p50-ms")
	b.ReportMetric(ms(lags[len(lags)*99/100]), "p99-ms")
}
