package loadgen

import (
	"math/bits"
	"time"
)

// The latency histogram has log-scale buckets: every power of two of
// nanoseconds is split into histSub linear buckets, so a bucket is at most
// 1/histSub (about 3%) wide relative to its values, at any scale from
// nanoseconds to hours, in a fixed array that recording never allocates.
const (
	histSubBits = 5
	histSub     = 1 << histSubBits
	// histBuckets covers every uint64 nanosecond count.
	histBuckets = (64 - histSubBits + 1) * histSub
)

// histogram counts latencies. It is owned by one worker; workers' are
// merged at the end of a run.
type histogram struct {
	counts [histBuckets]uint64
	n      uint64
	max    uint64
}

// bucketOf returns the bucket holding ns.
func bucketOf(ns uint64) int {
	if ns < histSub {
		return int(ns)
	}
	e := bits.Len64(ns) - histSubBits - 1 // ns>>e is in [histSub, 2*histSub)
	return (e+1)*histSub + int(ns>>e) - histSub
}

// bucketRange returns the smallest and largest value bucket i holds.
func bucketRange(i int) (lo, hi uint64) {
	if i < histSub {
		return uint64(i), uint64(i)
	}
	e := uint(i/histSub - 1)
	m := uint64(i%histSub + histSub)
	return m << e, (m+1)<<e - 1
}

func (h *histogram) record(d time.Duration) {
	ns := uint64(max(d, 0))
	h.counts[bucketOf(ns)]++
	h.n++
	h.max = max(h.max, ns)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the q-quantile (0 < q <= 1): the middle of the bucket
// holding the ceil(q*n)-th smallest value, never more than the maximum.
// It is 0 for an empty histogram.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q * float64(h.n))
	if float64(rank) < q*float64(h.n) {
		rank++
	}
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketRange(i)
			return time.Duration(min(lo+(hi-lo)/2, h.max))
		}
	}
	return time.Duration(h.max)
}
