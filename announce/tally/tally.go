// Package tally counts what the wire layer sees — failures by reason,
// scrapes, UDP connects, sampled announce times — in stripes that a few
// goroutines each write and a metrics scrape sums. A stripe is its own
// cache lines: a UDP socket's reader owns one, HTTP connections spread
// over a few, so counting never makes every core write one shared line
// (which a single global counter would, at tens of nanoseconds a time
// under load).
package tally

import (
	"sync"
	"sync/atomic"
	"time"

	"johnlocke/store"
)

// Reason is why a request was refused, a label of the failures metric.
type Reason uint8

// The reasons; ReasonMalformed covers every request the parser refuses.
const (
	ReasonMalformed Reason = iota
	ReasonUnregistered
	ReasonBanned
	ReasonFull
	ReasonRateLimited
	ReasonBadConnectionID
	ReasonInternal
	NumReasons
)

var reasonNames = [NumReasons]string{"malformed", "unregistered", "banned", "full", "rate_limited", "bad_connection_id", "internal"}

// String returns the reason's label value.
func (r Reason) String() string { return reasonNames[r] }

// ReasonOf classifies a failure sent to a client. internal is the text the
// wire layers answer with for an error that is not a store.Failure.
func ReasonOf(f store.Failure, internal store.Failure) Reason {
	switch f {
	case store.ErrUnregistered:
		return ReasonUnregistered
	case store.ErrBanned:
		return ReasonBanned
	case store.ErrTorrentLimit, store.ErrAddrTorrentLimit, store.ErrNotStoring:
		return ReasonFull
	case internal:
		return ReasonInternal
	}
	return ReasonMalformed
}

// LatencyBounds are the upper bounds of the announce time histogram's
// buckets, in seconds: an announce takes a microsecond or two in the
// store, tens when the wire and a busy machine add theirs.
var LatencyBounds = [...]float64{1e-6, 2e-6, 5e-6, 10e-6, 20e-6, 50e-6, 100e-6, 200e-6, 500e-6, 1e-3, 5e-3, 25e-3}

// SampleEvery is how many announces go by for each one timed: two clock
// reads cost up to 400 ns on some virtual machines, more than an announce.
const SampleEvery = 64

// Counts is one stripe. Every field is updated with atomic adds, as an
// HTTP stripe has several writers; a stripe's lines are written by few
// cores, so the adds are uncontended.
type Counts struct {
	Scrapes    atomic.Uint64 // answered scrape requests
	Connects   atomic.Uint64 // answered UDP connects
	Failures   [NumReasons]atomic.Uint64
	latency    [len(LatencyBounds) + 1]atomic.Uint64
	latencySum atomic.Uint64 // nanoseconds
	// pad keeps the next stripe's fields off this one's last line.
	_ [64]byte
}

// Fail counts one refused request.
func (c *Counts) Fail(r Reason) { c.Failures[r].Add(1) }

// Sampler picks the announces to time. Each goroutine that answers
// announces (a UDP socket's reader, an HTTP connection) holds its own, so
// the choice costs an increment of a counter no other core writes.
type Sampler uint32

// Start tells whether this announce is one to time: it returns the start
// time for Counts.Observe, or the zero Time.
func (s *Sampler) Start() time.Time {
	*s++
	if *s%SampleEvery != 0 {
		return time.Time{}
	}
	return time.Now()
}

// Observe records the time since start when start is not zero
// (Sampler.Start).
func (c *Counts) Observe(start time.Time) {
	if start.IsZero() {
		return
	}
	d := time.Since(start)
	sec := d.Seconds()
	i := 0
	for i < len(LatencyBounds) && sec > LatencyBounds[i] {
		i++
	}
	c.latency[i].Add(1)
	c.latencySum.Add(uint64(d))
}

// Totals is the sum of a Set's stripes.
type Totals struct {
	Scrapes, Connects uint64
	// PacedReads counts UDP reads made after waiting for a window (a busy
	// reader pacing, --udp-window); the UDP server fills it.
	PacedReads uint64
	Failures   [NumReasons]uint64
	// Latency holds the sampled announce times per bucket (not
	// cumulative; the last is past every bound) and their sum in seconds.
	Latency    [len(LatencyBounds) + 1]uint64
	LatencySum float64
}

// Set is a listener's stripes.
type Set struct {
	mu      sync.Mutex
	stripes []*Counts
}

// New returns a new stripe of s.
func (s *Set) New() *Counts {
	c := new(Counts)
	s.mu.Lock()
	s.stripes = append(s.stripes, c)
	s.mu.Unlock()
	return c
}

// Sum adds up the stripes.
func (s *Set) Sum() Totals {
	var t Totals
	var ns uint64
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.stripes {
		t.Scrapes += c.Scrapes.Load()
		t.Connects += c.Connects.Load()
		for i := range c.Failures {
			t.Failures[i] += c.Failures[i].Load()
		}
		for i := range c.latency {
			t.Latency[i] += c.latency[i].Load()
		}
		ns += c.latencySum.Load()
	}
	t.LatencySum = float64(ns) / 1e9
	return t
}
