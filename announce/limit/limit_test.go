package limit

import (
	"net/netip"
	"sync"
	"testing"
	"time"
)

func TestSourceOf(t *testing.T) {
	tests := []struct {
		a, b string
		same bool
	}{
		{"192.0.2.1", "192.0.2.1", true},
		{"192.0.2.1", "192.0.2.2", false},
		{"192.0.2.1", "::ffff:192.0.2.1", true},
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", true}, // one /64
		{"2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"fe80::1%eth0", "fe80::2", true},
		{"0.0.0.0", "::", false},
		{"0.0.0.1", "::1", false},
	}
	for _, tt := range tests {
		got := SourceOf(netip.MustParseAddr(tt.a)) == SourceOf(netip.MustParseAddr(tt.b))
		if got != tt.same {
			t.Errorf("SourceOf(%s) == SourceOf(%s): %v, want %v", tt.a, tt.b, got, tt.same)
		}
	}
}

func src(s string) Source { return SourceOf(netip.MustParseAddr(s)) }

func TestConnsPerSource(t *testing.T) {
	c := NewConns(3)
	a, b := src("192.0.2.1"), src("192.0.2.2")
	for i := range 3 {
		if !c.Acquire(a) {
			t.Fatalf("connection %d of 3 refused", i+1)
		}
	}
	if c.Acquire(a) {
		t.Fatal("a fourth connection was let in")
	}
	if got := c.Held(a); got != 3 {
		t.Errorf("held %d after a refusal, want 3", got)
	}
	if !c.Acquire(b) {
		t.Fatal("another source was refused while the first is at its cap")
	}
	c.Release(a)
	if !c.Acquire(a) {
		t.Fatal("refused after a connection was released")
	}
	c.Release(b)
	c.Release(b) // one too many: ignored, never negative
	if got := c.Held(b); got != 0 {
		t.Errorf("held %d, want 0", got)
	}
}

func TestConnsSweepsIdleSources(t *testing.T) {
	c := NewConns(1)
	for i := range maxIdleSources + 10 {
		s := Source{lo: v4Mark | uint64(i)}
		c.Acquire(s)
		c.Release(s)
	}
	c.mu.Lock()
	n := len(c.held)
	c.mu.Unlock()
	if n > maxIdleSources {
		t.Errorf("%d entries kept for idle sources, want at most %d", n, maxIdleSources)
	}
	held := src("192.0.2.9")
	c.Acquire(held)
	for i := range 2 * maxIdleSources {
		s := Source{hi: uint64(i) + 1}
		c.Acquire(s)
		c.Release(s)
	}
	if c.Acquire(held) {
		t.Error("a sweep forgot a source that holds a connection")
	}
}

func TestConnsAllocs(t *testing.T) {
	c := NewConns(64)
	s := src("192.0.2.1")
	c.Acquire(s)
	c.Release(s)
	if n := testing.AllocsPerRun(1000, func() {
		c.Acquire(s)
		c.Release(s)
	}); n != 0 {
		t.Errorf("%v allocations per connection, want 0", n)
	}
}

// frozen is a clock the test moves by hand.
type frozen struct{ now time.Duration }

func (f *frozen) clock() time.Duration { return f.now }

func TestRateBurstAndRefill(t *testing.T) {
	clk := &frozen{now: time.Hour}
	r := NewRate(10, 5, clk.clock) // a request per 100ms, 5 at once
	a, b := src("192.0.2.1"), src("2001:db8::1")
	for i := range 5 {
		if ok, _ := r.Allow(a, r.Now()); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := r.Allow(a, r.Now())
	if ok || wait != 100*time.Millisecond {
		t.Fatalf("past the burst: ok %v wait %v, want refused for 100ms", ok, wait)
	}
	if ok, _ := r.Allow(b, r.Now()); !ok && r.index(a) != r.index(b) {
		t.Fatal("another source was refused")
	}
	clk.now += 99 * time.Millisecond
	if ok, wait := r.Allow(a, r.Now()); ok || wait != time.Millisecond {
		t.Fatalf("1ms early: ok %v wait %v", ok, wait)
	}
	clk.now += time.Millisecond
	if ok, _ := r.Allow(a, r.Now()); !ok {
		t.Fatal("refused once a request's worth of time passed")
	}
	if ok, _ := r.Allow(a, r.Now()); ok {
		t.Fatal("refill gave more than one request")
	}
	// A long pause refills the bucket to its burst, no further.
	clk.now += time.Hour
	for i := range 5 {
		if ok, _ := r.Allow(a, r.Now()); !ok {
			t.Fatalf("after a pause: request %d refused", i+1)
		}
	}
	if ok, _ := r.Allow(a, r.Now()); ok {
		t.Fatal("a pause saved up more than the burst")
	}
}

// TestRateConcurrent checks that concurrent requests from one source get
// exactly the burst through, neither more (a lost update) nor fewer.
func TestRateConcurrent(t *testing.T) {
	clk := &frozen{now: time.Minute}
	const burst = 1000
	r := NewRate(1, burst, clk.clock)
	s := src("198.51.100.7")
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		allowed int
	)
	for range 8 {
		wg.Go(func() {
			n := 0
			for range burst {
				if ok, _ := r.Allow(s, r.Now()); ok {
					n++
				}
			}
			mu.Lock()
			allowed += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if allowed != burst {
		t.Errorf("%d requests let through, want the burst of %d", allowed, burst)
	}
}

func TestRateAllocs(t *testing.T) {
	r := NewRate(1000, 1000, nil)
	s := src("192.0.2.1")
	if n := testing.AllocsPerRun(1000, func() { r.Allow(s, r.Now()) }); n != 0 {
		t.Errorf("%v allocations per request, want 0", n)
	}
}

func BenchmarkRateAllow(b *testing.B) {
	r := NewRate(MaxPerSecond, MaxBurst, nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var i uint64
		for pb.Next() {
			i++
			r.Allow(Source{lo: v4Mark | i&0xffff}, r.Now())
		}
	})
}

func BenchmarkConnsAcquireRelease(b *testing.B) {
	c := NewConns(64)
	b.ReportAllocs()
	var i uint64
	for b.Loop() {
		i++
		s := Source{lo: v4Mark | i&0xfff}
		c.Acquire(s)
		c.Release(s)
	}
}

// BenchmarkRateAllowNoClock is Allow alone, the clock read once: what a UDP
// reader pays per packet when it reads the clock once per batch.
func BenchmarkRateAllowNoClock(b *testing.B) {
	r := NewRate(MaxPerSecond, MaxBurst, nil)
	now := r.Now()
	b.ReportAllocs()
	var i uint64
	for b.Loop() {
		i++
		r.Allow(Source{lo: v4Mark | i&0xffff}, now)
	}
}
