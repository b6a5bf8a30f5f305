package limit

import (
	"math/bits"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// rateSlots is how many buckets a Rate has (8 bytes each: 512 KiB).
// Sources are hashed onto them; two sources sharing a slot share one
// bucket, which only makes limiting stricter for both. With 64 Ki slots
// and a keyed hash that an outsider cannot aim, a client shares its bucket
// with another busy address rarely, and the recommended rates leave room
// for several ordinary clients in one bucket anyway.
const rateSlots = 1 << 16

// Rate limits each source to a steady number of requests per second with
// a burst, shared by every listener it is given to (so a client gains
// nothing by switching protocols). It is safe for concurrent use, takes no
// lock and allocates nothing.
//
// Each slot is one atomic word: the time at which its bucket would be
// full again if nothing more came (the "theoretical arrival time" of the
// generic cell rate algorithm). That single number is equivalent to a
// token count and a timestamp packed together: tokens available now are
// (window - (tat - now)) / interval. A request is let through when adding
// one interval keeps tat within window of now, and then tat moves on by
// that interval with a compare-and-swap.
type Rate struct {
	interval int64 // nanoseconds one request costs: 1s / per second
	window   int64 // burst * interval: how far ahead of now tat may run
	seed0    uint64
	seed1    uint64
	now      func() time.Duration
	slots    [rateSlots]atomic.Int64
}

// Bounds of NewRate's arguments (main validates the flags against them).
const (
	// MaxPerSecond: a nanosecond interval per request stays meaningful
	// well past any sane limit.
	MaxPerSecond = 1_000_000
	// MaxBurst keeps burst*interval far from overflowing.
	MaxBurst = 1_000_000
)

// NewRate returns a limiter letting each source make perSecond requests
// per second on average and up to burst at once (burst below 1 is taken
// as 1). now is the clock, a monotonic time since any fixed moment; nil
// means the time since NewRate was called. perSecond must be at least 1.
func NewRate(perSecond, burst int, now func() time.Duration) *Rate {
	perSecond = max(1, min(perSecond, MaxPerSecond))
	burst = max(1, min(burst, MaxBurst))
	if now == nil {
		start := time.Now()
		now = func() time.Duration { return time.Since(start) }
	}
	r := &Rate{
		interval: int64(time.Second) / int64(perSecond),
		seed0:    rand.Uint64() | 1,
		seed1:    rand.Uint64() | 1,
		now:      now,
	}
	r.window = int64(burst) * r.interval
	return r
}

// Now reads the limiter's clock, for Allow. A caller answering a batch of
// requests may read it once for all of them.
func (r *Rate) Now() time.Duration { return r.now() }

// Allow takes one request from src's bucket at time now (from Now) and
// reports whether src was within its rate. When it was not, nothing is
// taken and wait is how long until a request would be let through.
func (r *Rate) Allow(src Source, now time.Duration) (ok bool, wait time.Duration) {
	slot := &r.slots[r.index(src)]
	t := int64(now)
	for {
		tat := slot.Load()
		next := max(tat, t) + r.interval
		if over := next - t - r.window; over > 0 {
			return false, time.Duration(over)
		}
		if slot.CompareAndSwap(tat, next) {
			return true, 0
		}
	}
}

// index hashes src onto a slot, keyed with the limiter's random seeds so
// that nobody can choose addresses that land on a given client's slot. The
// multiply-and-fold is wyhash's mixing step.
func (r *Rate) index(src Source) uint64 {
	hi, lo := bits.Mul64(src.hi^r.seed0, src.lo^r.seed1)
	return (hi ^ lo) & (rateSlots - 1)
}
