package simulate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"johnlocke/modes"
)

func testSwarm(pieces int) *swarm {
	return newSwarm(pieces, 40, 1, rand.New(rand.NewPCG(1, 2)))
}

func TestPickPieceRarestFirst(t *testing.T) {
	s := testSwarm(4)
	recv := s.add(1, 1, false)
	send := s.add(1, 1, true)
	other := s.add(1, 1, false)
	other.have[0], other.have[1], other.have[3] = true, true, true
	other.haveN = 3
	s.connect(recv, send)
	s.connect(recv, other)
	// Piece 2 is held by one neighbour, the others by two.
	if got, want := s.pickPiece(recv, send), 2; got != want {
		t.Errorf("picked %d, want the rarest, %d", got, want)
	}
	recv.inFlight[2] = true
	if got := s.pickPiece(recv, send); got == 2 {
		t.Errorf("picked piece 2, already in flight")
	}
	recv.partial[3] = 0.5
	if got, want := s.pickPiece(recv, send), 3; got != want {
		t.Errorf("picked %d, want the begun piece %d first", got, want)
	}
	for i := range recv.have {
		recv.have[i] = i != 1
	}
	recv.haveN = 3
	recv.inFlight[1] = true
	if got := s.pickPiece(recv, send); got != -1 {
		t.Errorf("picked %d with nothing left to fetch, want -1", got)
	}
}

func TestRechokeTitForTat(t *testing.T) {
	s := testSwarm(2)
	p := s.add(1, 1, false)
	p.have[0], p.haveN = true, 1
	var peers []*peer
	for range 6 {
		q := s.add(1, 1, false)
		q.have[1], q.haveN = true, 1
		s.connect(p, q)
		peers = append(peers, q)
	}
	// What each neighbour sent p this period: 0, 1, 2, ... pieces.
	for i, c := range p.conns {
		dir, _ := c.side(p)
		c.recent[dir] = float64(i)
	}
	s.rechoke(p, true)
	unchoked := map[int]bool{}
	for _, c := range p.conns {
		dir, q := c.side(p)
		if c.unchoked[1-dir] {
			unchoked[q.id] = true
		}
	}
	if len(unchoked) != RegularSlots+1 {
		t.Fatalf("%d unchoked, want %d", len(unchoked), RegularSlots+1)
	}
	for _, q := range peers[len(peers)-RegularSlots:] {
		if !unchoked[q.id] {
			t.Errorf("peer %d, among the best uploaders, is choked", q.id)
		}
	}
}

func TestRechokeSeederRoundRobin(t *testing.T) {
	s := testSwarm(2)
	seed := s.add(1, 1, true)
	for range 8 {
		s.connect(seed, s.add(1, 1, false))
	}
	seen := map[int]int{}
	for range 2 {
		s.rechoke(seed, false)
		for _, c := range seed.conns {
			dir, q := c.side(seed)
			if c.unchoked[1-dir] {
				seen[q.id]++
			}
		}
	}
	if len(seen) != 8 {
		t.Errorf("two rounds of a seeder with %d slots reached %d of 8 peers, want all", RegularSlots+1, len(seen))
	}
}

func TestRechokeSkipsUninterested(t *testing.T) {
	s := testSwarm(2)
	p := s.add(1, 1, false)
	p.have[0], p.haveN = true, 1
	q := s.add(1, 1, false)
	q.have[0], q.haveN = true, 1
	s.connect(p, q)
	s.rechoke(p, true)
	if c := p.conns[0]; c.unchoked[1] {
		t.Error("p unchoked a peer that wants nothing from it")
	}
}

func TestBandwidthSharing(t *testing.T) {
	// A seeder of upload 4 unchokes two leechers: one can take 1, the other
	// 10. Each is offered 2; the slow one takes its capacity, 1.
	s := newSwarm(100, 40, 1, rand.New(rand.NewPCG(1, 2)))
	seed := s.add(4, 4, true)
	slow := s.add(1, 1, false)
	fast := s.add(1, 10, false)
	s.connect(seed, slow)
	s.connect(seed, fast)
	s.rechoke(seed, false)
	s.step()
	if got, want := slow.downloaded, 1.0; math.Abs(got-want) > 1e-9 {
		t.Errorf("slow leecher got %v, want its capacity %v", got, want)
	}
	if got, want := fast.downloaded, 2.0; math.Abs(got-want) > 1e-9 {
		t.Errorf("fast leecher got %v, want the seeder's share %v", got, want)
	}
	if got, want := seed.uploaded, 3.0; math.Abs(got-want) > 1e-9 {
		t.Errorf("seeder sent %v, want %v", got, want)
	}
	// Two uploaders offering 2 each to a leecher of capacity 2: it takes
	// half of each.
	s2 := newSwarm(100, 40, 1, rand.New(rand.NewPCG(1, 2)))
	a, b := s2.add(2, 2, true), s2.add(2, 2, true)
	d := s2.add(1, 2, false)
	s2.connect(a, d)
	s2.connect(b, d)
	s2.rechoke(a, false)
	s2.rechoke(b, false)
	s2.step()
	if a.uploaded != 1 || b.uploaded != 1 || d.downloaded != 2 {
		t.Errorf("uploads %v and %v into %v, want 1, 1 into 2", a.uploaded, b.uploaded, d.downloaded)
	}
}

// TestDeterministic: the same seed gives the same result in one process,
// and another seed another (TestDeterministicAcrossProcesses checks two
// processes).
func TestDeterministic(t *testing.T) {
	for _, tr := range []Tracker{Johnlocke, Random} {
		sc := Surge(60, 2)
		a, err := Run(sc, tr, 7)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Run(sc, tr, 7)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: two runs with seed 7 differ", tr)
		}
		c, err := Run(sc, tr, 8)
		if err != nil {
			t.Fatal(err)
		}
		if reflect.DeepEqual(a.Download, c.Download) {
			t.Errorf("%s: seeds 7 and 8 gave the same download times", tr)
		}
	}
}

// TestScenarioInvariants runs a short version of each mode's scenario
// against both trackers and checks only what the model must keep: bytes
// conserved, nobody complete without every piece, every leecher done.
func TestScenarioInvariants(t *testing.T) {
	scenarios := []Scenario{Surge(80, 4), Large(1, 40, 2), Small(12)}
	for _, sc := range scenarios {
		for _, tr := range []Tracker{Johnlocke, Random} {
			t.Run(sc.Name+"/"+string(tr), func(t *testing.T) {
				res, err := Run(sc, tr, 3)
				if err != nil {
					t.Fatal(err)
				}
				if res.Invariant != "" {
					t.Error(res.Invariant)
				}
				if math.Abs(res.Uploaded-res.Downloaded) > 1e-6*res.Uploaded {
					t.Errorf("uploaded %v, downloaded %v", res.Uploaded, res.Downloaded)
				}
				if res.Completed != res.Arrived {
					t.Errorf("%d of %d leechers completed", res.Completed, res.Arrived)
				}
				for i, d := range res.Download {
					if d <= 0 || res.FirstPiece[i] <= 0 || res.FirstPiece[i] > d {
						t.Fatalf("leecher %d: first piece at %v, done at %v", i, res.FirstPiece[i], d)
					}
				}
			})
		}
	}
}

func TestUnknownTracker(t *testing.T) {
	if _, err := Run(Small(8), Tracker("opentracker"), 1); err == nil {
		t.Error("an unknown tracker was accepted")
	}
}

// burst is a surge whose leechers all arrive within the first two
// seconds: an announce rate of a few thousand a second, which surge's
// adaptive interval must answer with longer intervals.
func burst(leechers int) Scenario {
	sc := Surge(leechers, 4)
	sc.Name = fmt.Sprintf("surge burst of %d", leechers)
	sc.Arrivals = func(*rand.Rand) []float64 {
		ts := make([]float64, leechers)
		for i := range ts {
			ts[i] = 2 * float64(i) / float64(leechers)
		}
		return ts
	}
	sc.Duration, sc.StopWhenDone = 5, false
	return sc
}

// TestSurgeIntervalFollowsLoad: the simulator measures the store's
// announce rate on its own clock, so a simulated surge hands out the
// adaptive interval serve does: the base (10 min, jittered ±1/10) while
// the rate is low, and at least twice the base once a burst of 6,000
// arrivals in two seconds has pushed the rate past modes.SurgeRateStep.
func TestSurgeIntervalFollowsLoad(t *testing.T) {
	base := modes.DefaultTiming(modes.Surge).Interval.Seconds()
	jitter := base / modes.JitterDiv
	quiet, err := Run(Surge(80, 4), Johnlocke, 1)
	if err != nil {
		t.Fatal(err)
	}
	if quiet.MaxInterval > base+jitter {
		t.Errorf("80 leechers over 10 min (peak %d announces/s): an interval of %v s, want at most %v", quiet.PeakRate, quiet.MaxInterval, base+jitter)
	}
	busy, err := Run(burst(6000), Johnlocke, 1)
	if err != nil {
		t.Fatal(err)
	}
	if busy.PeakRate < modes.SurgeRateStep {
		t.Fatalf("the burst measured a peak of %d announces/s, want at least %d", busy.PeakRate, modes.SurgeRateStep)
	}
	if busy.FirstInterval > base+jitter {
		t.Errorf("first answer (no rate measured yet): interval %v s, want at most %v", busy.FirstInterval, base+jitter)
	}
	if busy.MaxInterval < 2*(base-jitter) {
		t.Errorf("after %d announces/s: longest interval %v s, want at least %v", busy.PeakRate, busy.MaxInterval, 2*(base-jitter))
	}
}
