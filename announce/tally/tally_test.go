package tally

import (
	"testing"
	"time"

	"johnlocke/store"
)

func TestReasonOf(t *testing.T) {
	const internal store.Failure = "internal error"
	for _, c := range []struct {
		f    store.Failure
		want Reason
	}{
		{store.ErrUnregistered, ReasonUnregistered},
		{store.ErrBanned, ReasonBanned},
		{store.ErrTorrentLimit, ReasonFull},
		{store.ErrAddrTorrentLimit, ReasonFull},
		{store.ErrNotStoring, ReasonFull},
		{internal, ReasonInternal},
		{"missing info_hash", ReasonMalformed},
	} {
		if got := ReasonOf(c.f, internal); got != c.want {
			t.Errorf("ReasonOf(%q) = %v, want %v", c.f, got, c.want)
		}
	}
}

// Stripes add up; one announce in SampleEvery is timed, in the bucket of
// its time.
func TestSetSumsStripes(t *testing.T) {
	var s Set
	a, b := s.New(), s.New()
	a.Scrapes.Add(2)
	b.Scrapes.Add(3)
	a.Fail(ReasonMalformed)
	b.Fail(ReasonMalformed)
	b.Fail(ReasonRateLimited)
	var sm Sampler
	timed := 0
	for range 3 * SampleEvery {
		if start := sm.Start(); !start.IsZero() {
			timed++
			a.Observe(start.Add(-30 * time.Microsecond)) // at least 30 µs
		}
	}
	tot := s.Sum()
	if tot.Scrapes != 5 || tot.Failures[ReasonMalformed] != 2 || tot.Failures[ReasonRateLimited] != 1 || timed != 3 {
		t.Fatalf("sum %+v, timed %d", tot, timed)
	}
	// Each took at least 30 µs: none is in a bucket up to 20 µs.
	var n uint64
	for i, c := range tot.Latency {
		n += c
		if i < len(LatencyBounds) && LatencyBounds[i] < 30e-6 && c != 0 {
			t.Errorf("bucket ≤ %v s holds %d", LatencyBounds[i], c)
		}
	}
	if n != 3 || tot.LatencySum < 90e-6 {
		t.Errorf("latency buckets %v, sum %v; want 3 timed, at least 90 µs in all", tot.Latency, tot.LatencySum)
	}
}
