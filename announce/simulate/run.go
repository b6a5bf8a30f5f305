package simulate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"johnlocke/modes"
	"johnlocke/store"
)

// Tracker names the peer-list policy a run uses.
type Tracker string

// The trackers a run can use.
const (
	// Johnlocke is the real store and mode code.
	Johnlocke Tracker = "johnlocke"
	// Random is the baseline: uniform random peers from the whole swarm.
	Random Tracker = "random"
)

// lowConns: a peer with fewer connections re-announces early (once its
// min interval has passed), as mainline clients do when starved of peers.
const lowConns = 10

// Scenario is one swarm's story: who arrives when, with what capacities,
// how long finishers stay, and what the tracker is told its mode is.
// Capacities are in pieces per second; times in seconds.
type Scenario struct {
	Name     string
	Mode     modes.Mode
	Pieces   int
	MaxConns int
	Step     float64
	// Duration is the longest a run may go on, in simulated seconds.
	Duration float64
	// FixedSeeders seed from the start and never leave.
	FixedSeeders int
	// FixedLeave, when positive, is when the fixed seeders leave (an
	// origin that only starts a swarm).
	FixedLeave           float64
	SeederUp, SeederDown float64
	// Arrivals returns the leechers' arrival times, ascending.
	Arrivals func(r *rand.Rand) []float64
	// Capacity draws one leecher's upload and download capacity.
	Capacity func(r *rand.Rand) (up, down float64)
	// Stay draws how long a finisher seeds before leaving; 0 leaves at once.
	Stay func(r *rand.Rand) float64
	// StopWhenDone ends the run once every leecher has arrived and none is
	// left downloading.
	StopWhenDone bool
	// MeasureFrom and MeasureTo bound the arrival times whose download
	// times count (steady state); both zero counts every leecher.
	MeasureFrom, MeasureTo float64
	// TrackMeetings records which pairs of peers ever connected.
	TrackMeetings bool
	// Tuning is handed to the store: the modes' constants under study.
	Tuning modes.Tuning
	// Timing, when set, is the random tracker's intervals instead of the
	// mode's defaults.
	Timing modes.Timing
}

// Result is what one run measured.
type Result struct {
	Scenario string
	Tracker  Tracker
	Seed     uint64
	// Arrived and Completed count the leechers (not the fixed seeders).
	Arrived, Completed int
	// Download and FirstPiece are each counted leecher's time from joining
	// to completion and to its first piece, in arrival order.
	Download, FirstPiece []float64
	// SeederShare is each fixed seeder's share of all bytes uploaded;
	// SeederIdle the seconds it had capacity and nobody to send to while
	// leechers were present.
	SeederShare, SeederIdle []float64
	// SeederUpload is each fixed seeder's upload per simulated minute.
	SeederUpload [][]float64
	// AllDone is when the last leecher completed (the run's end if some
	// never did).
	AllDone float64
	// MetShare is the share of all pairs of peers that were ever connected
	// (only with TrackMeetings).
	MetShare float64
	// Handed counts peers handed out by the tracker; SeederPairs those that
	// paired a seeder with a seeder (a connection slot opened for nothing).
	Handed, SeederPairs int
	// FirstInterval is the interval the first answer carried, MaxInterval
	// the longest any answer carried; PeakRate the highest announce rate
	// (per second) the tracker measured, which surge's interval grows with.
	FirstInterval, MaxInterval float64
	PeakRate                   uint32
	// Uploaded and Downloaded total the pieces' worth sent and received:
	// they must be equal.
	Uploaded, Downloaded float64
	// Invariant is empty when every completer received every piece and at
	// least the pieces' worth of bytes it gained.
	Invariant  string
	SimSeconds float64
}

// Run simulates scenario sc against the tracker tr with the given seed.
func Run(sc Scenario, tr Tracker, seed uint64) (*Result, error) {
	rng := rand.New(rand.NewPCG(seed, 0x6a6f686e6c6f636b))
	sw := newSwarm(sc.Pieces, sc.MaxConns, sc.Step, rng)
	if sc.TrackMeetings {
		sw.met = make(map[[2]int]bool)
	}
	var t tracker
	switch tr {
	case Johnlocke:
		j, err := newJohnlocke(sw, sc.Mode, sc.Tuning, seed)
		if err != nil {
			return nil, err
		}
		t = j
	case Random:
		timing := sc.Timing
		if timing.Interval == 0 {
			timing = modes.DefaultTiming(sc.Mode)
		}
		t = &randomTracker{sw: sw, rng: rand.New(rand.NewPCG(seed, 1)), timing: timing}
	default:
		return nil, fmt.Errorf("simulate: unknown tracker %q (want johnlocke or random)", tr)
	}
	defer t.Close()

	res := &Result{Scenario: sc.Name, Tracker: tr, Seed: seed}
	var fixed []*peer
	for range sc.FixedSeeders {
		p := sw.add(sc.SeederUp, sc.SeederDown, true)
		p.fixed = true
		if sc.FixedLeave > 0 {
			p.leaveAt = sc.FixedLeave
		}
		fixed = append(fixed, p)
		res.SeederUpload = append(res.SeederUpload, nil)
	}
	arrivals := sc.Arrivals(rng)
	next := 0
	var list []int
	announce := func(p *peer, ev store.Event) {
		var interval, minInterval float64
		list, interval, minInterval = t.announce(p, ev, list[:0])
		p.lastAnn = sw.now
		p.nextAnn = sw.now + max(interval, 1)
		p.minIntvl = minInterval
		if res.FirstInterval == 0 {
			res.FirstInterval = interval
		}
		res.MaxInterval = max(res.MaxInterval, interval)
		if ev == store.EventStopped {
			return
		}
		for _, id := range list {
			q := sw.peers[id]
			res.Handed++
			if p.seeder() && q.seeder() && !q.gone {
				res.SeederPairs++
			}
			sw.connect(p, q)
		}
	}
	for _, p := range fixed {
		announce(p, store.EventStarted)
	}
	rechokeSteps := max(1, int(math.Round(RechokeEvery/sc.Step)))
	optimisticSteps := max(1, int(math.Round(OptimisticEvery/sc.Step)))
	minuteUp := make([]float64, len(fixed))
	idleBefore := make([]float64, len(fixed))
	upBefore := make([]float64, len(fixed))
	lastDone := 0.0
	steps := int(sc.Duration / sc.Step)
	for k := 0; k < steps; k++ {
		sw.now = float64(k) * sc.Step
		for next < len(arrivals) && arrivals[next] <= sw.now {
			up, down := sc.Capacity(rng)
			p := sw.add(up, down, false)
			res.Arrived++
			announce(p, store.EventStarted)
			next++
		}
		for _, p := range slices.Clone(sw.live) {
			if p.leaveAt >= 0 && p.leaveAt <= sw.now {
				announce(p, store.EventStopped)
				sw.leave(p)
			}
		}
		for _, p := range sw.live {
			if sw.now >= p.nextAnn || len(p.conns) < lowConns && sw.now >= p.lastAnn+p.minIntvl {
				announce(p, store.EventNone)
			}
		}
		if k%rechokeSteps == 0 {
			move := k%optimisticSteps == 0
			for _, p := range sw.live {
				sw.rechoke(p, move)
			}
			for _, p := range sw.live {
				for _, c := range p.conns {
					if c.a == p {
						c.recent = [2]float64{}
					}
				}
			}
		}
		// A seeder's idle time counts only while someone is downloading.
		leeching := anyLeecher(sw.live)
		for i, p := range fixed {
			idleBefore[i], upBefore[i] = p.idleSec, p.uploaded
		}
		completed := sw.step()
		for i, p := range fixed {
			if !leeching {
				p.idleSec = idleBefore[i]
			}
			minuteUp[i] += p.uploaded - upBefore[i]
		}
		if int(sw.now+sc.Step) != int(sw.now) {
			res.PeakRate = max(res.PeakRate, t.second())
		}
		if int((sw.now+sc.Step)/60) != int(sw.now/60) {
			for i := range fixed {
				res.SeederUpload[i] = append(res.SeederUpload[i], minuteUp[i])
				minuteUp[i] = 0
			}
		}
		for _, p := range completed {
			res.Completed++
			lastDone = p.done
			announce(p, store.EventCompleted)
			stay := 0.0
			if sc.Stay != nil {
				stay = sc.Stay(rng)
			}
			if stay <= 0 {
				announce(p, store.EventStopped)
				sw.leave(p)
				continue
			}
			sw.dropSeederPairs(p)
			p.leaveAt = p.done + stay
		}
		if sc.StopWhenDone && next == len(arrivals) && !anyLeecher(sw.live) {
			sw.now += sc.Step
			break
		}
	}
	res.SimSeconds = sw.now
	res.AllDone = lastDone
	if anyLeecher(sw.live) {
		res.AllDone = sw.now
	}
	measure := func(p *peer) bool {
		return sc.MeasureFrom == 0 && sc.MeasureTo == 0 || p.joined >= sc.MeasureFrom && p.joined < sc.MeasureTo
	}
	var total float64
	for _, p := range sw.peers {
		res.Uploaded += p.uploaded
		res.Downloaded += p.downloaded
		if p.fixed {
			continue
		}
		if p.done >= 0 {
			if p.haveN != sc.Pieces || slices.Contains(p.have, false) {
				res.Invariant = fmt.Sprintf("peer %d completed with %d of %d pieces", p.id, p.haveN, sc.Pieces)
			}
			if p.downloaded < float64(sc.Pieces)-1e-6 {
				res.Invariant = fmt.Sprintf("peer %d completed having received %.3f pieces' worth of %d", p.id, p.downloaded, sc.Pieces)
			}
			if measure(p) {
				res.Download = append(res.Download, p.done-p.joined)
				res.FirstPiece = append(res.FirstPiece, p.firstPiece-p.joined)
			}
		}
	}
	for _, p := range fixed {
		total += p.uploaded
	}
	for _, p := range sw.peers {
		if !p.fixed {
			total += p.uploaded
		}
	}
	for _, p := range fixed {
		res.SeederShare = append(res.SeederShare, p.uploaded/math.Max(total, 1e-9))
		res.SeederIdle = append(res.SeederIdle, p.idleSec)
	}
	if sw.met != nil {
		n := len(sw.peers)
		res.MetShare = float64(len(sw.met)) / float64(n*(n-1)/2)
	}
	return res, nil
}

func anyLeecher(live []*peer) bool {
	for _, p := range live {
		if !p.seeder() {
			return true
		}
	}
	return false
}
