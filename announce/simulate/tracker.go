package simulate

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"johnlocke/modes"
	"johnlocke/store"
	"johnlocke/store/peerlist"
)

// numWant is what every simulated client asks for, and the store's cap:
// the common client default of 50.
const numWant = 50

// tracker answers a simulated peer's announce with the ids of the peers it
// hands it and the intervals to come back at (seconds).
type tracker interface {
	announce(p *peer, ev store.Event, dst []int) (peers []int, interval, minInterval float64)
	// second is called at the end of every simulated second and returns
	// the announce rate the tracker measured over it (0 if it measures
	// none).
	second() uint32
	Close() error
}

// simEpoch is the simulated clock's zero: a fixed date, so runs repeat.
var simEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// johnlocke drives the real store and mode code in process: each announce
// is a store.Request built as the HTTP and UDP layers build one, answered
// by store.(*Store).Announce.
type johnlocke struct {
	st    *store.Store
	dir   string
	sw    *swarm
	req   store.Request
	resp  store.Response
	swept float64
	hash  [20]byte
	bytes uint64 // bytes per piece, for left=
}

// pieceBytes is the simulated piece size, 256 KiB, for the left= a
// simulated client reports.
const pieceBytes = 256 << 10

// newJohnlocke opens a store for one run. Its peer-list hash is keyed from
// the run's seed (serve draws a random key), so the order peers sit in,
// and with it every window and cursor the modes draw from, repeats in
// another process.
func newJohnlocke(sw *swarm, mode modes.Mode, tuning modes.Tuning, seed uint64) (*johnlocke, error) {
	dir, err := os.MkdirTemp("", "johnlocke-simulate-")
	if err != nil {
		return nil, fmt.Errorf("simulate: temp dir: %w", err)
	}
	j := &johnlocke{sw: sw, dir: dir, bytes: pieceBytes}
	st, err := store.Open(filepath.Join(dir, "sim.db"), store.Config{
		Mode:               mode,
		Locked:             false,
		MaxTorrentsPerAddr: -1,
		MaxPeers:           numWant,
		Tuning:             tuning,
		PeerSeed:           peerlist.SeedFrom(seed),
		Now:                j.clock,
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("simulate: open store: %w", err)
	}
	j.st = st
	j.hash = [20]byte{0x51, 0x4d}
	return j, nil
}

func (j *johnlocke) clock() time.Time {
	return simEpoch.Add(time.Duration(j.sw.now * float64(time.Second)))
}

// addrOf is a simulated peer's IPv4 address: 10.0.0.0 plus its id, so an
// answer maps back to ids without a table.
func addrOf(id int) uint32 { return 10<<24 + uint32(id) }

const simPort = 6881

func (j *johnlocke) announce(p *peer, ev store.Event, dst []int) ([]int, float64, float64) {
	if j.sw.now-j.swept >= 60 {
		j.swept = j.sw.now
		j.st.Sweep()
	}
	r := &j.req
	*r = store.Request{InfoHash: j.hash, Port: simPort, Event: ev, NumWant: numWant}
	binary.BigEndian.PutUint32(r.Addr[:4], addrOf(p.id))
	binary.BigEndian.PutUint32(r.PeerID[:4], uint32(p.id))
	r.Left = uint64(len(p.have)-p.haveN) * j.bytes
	r.Uploaded = uint64(p.uploaded * float64(j.bytes))
	r.Downloaded = uint64(p.downloaded * float64(j.bytes))
	j.resp.Reset()
	if err := j.st.Announce(r, &j.resp); err != nil {
		// The store refuses only over its limits, which a simulation is
		// far below: say so loudly rather than measure a broken run.
		panic(fmt.Sprintf("simulate: store refused an announce: %v", err))
	}
	for b := j.resp.Peers4; len(b) >= 6; b = b[6:] {
		dst = append(dst, int(binary.BigEndian.Uint32(b)-10<<24))
	}
	return dst, float64(j.resp.Interval), float64(j.resp.MinInterval)
}

// second measures the announce rate as Store.Run does on the wall clock,
// so surge's interval grows with the simulated load.
func (j *johnlocke) second() uint32 { return j.st.MeasureRate() }

func (j *johnlocke) Close() error {
	err := j.st.Close()
	if rerr := os.RemoveAll(j.dir); err == nil {
		err = rerr
	}
	return err
}

// randomTracker is the baseline: up to numWant peers drawn uniformly from
// everyone present, seeders and leechers mixed, as opentracker and aquatic
// answer; it comes back at the mode's default intervals, unjittered.
type randomTracker struct {
	sw     *swarm
	rng    *rand.Rand
	timing modes.Timing
	// announces counts this second's announces, so its load reads like
	// the store's (its interval does not grow with it).
	announces uint32
}

func (t *randomTracker) announce(p *peer, ev store.Event, dst []int) ([]int, float64, float64) {
	t.announces++
	live := t.sw.live
	n := len(live)
	want := min(numWant, n-1)
	if ev == store.EventStopped {
		want = 0
	}
	// Draw with rejection of repeats: exactly uniform, and cheap while
	// numWant is small against the swarm (and bounded when it is not,
	// since want < n).
	seen := make(map[int]bool, want)
	for len(seen) < want {
		q := live[t.rng.IntN(n)]
		if q == p || seen[q.id] {
			continue
		}
		seen[q.id] = true
		dst = append(dst, q.id)
	}
	return dst, t.timing.Interval.Seconds(), t.timing.MinInterval.Seconds()
}

func (t *randomTracker) second() uint32 {
	n := t.announces
	t.announces = 0
	return n
}

func (t *randomTracker) Close() error { return nil }
