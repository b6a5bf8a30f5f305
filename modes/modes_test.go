package modes_test

import (
	"math"
	"testing"
	"time"

	"johnlocke/modes"
)

func TestParseString(t *testing.T) {
	for _, m := range []modes.Mode{modes.Default, modes.Small, modes.Large, modes.Surge} {
		t.Run(m.String(), func(t *testing.T) {
			got, err := modes.Parse(m.String())
			if err != nil || got != m {
				t.Errorf("Parse(%q) = %v, %v, want %v, nil", m.String(), got, err, m)
			}
			if !m.Valid() {
				t.Errorf("%v.Valid() = false, want true", m)
			}
		})
	}
	tests := []struct {
		name string
		want modes.Mode
	}{
		{"", modes.Default}, {"default", modes.Default},
		{"small", modes.Small}, {"large", modes.Large}, {"surge", modes.Surge},
	}
	for _, tt := range tests {
		if got, err := modes.Parse(tt.name); err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %v, %v, want %v, nil", tt.name, got, err, tt.want)
		}
	}
	for _, name := range []string{"huge", "Small", " small", "surge\x00", "mode(1)", "1"} {
		if got, err := modes.Parse(name); err == nil {
			t.Errorf("Parse(%q) = %v, nil, want an error", name, got)
		}
	}
	// The numbers are stored in the database.
	if modes.Default != 0 || modes.Small != 1 || modes.Large != 2 || modes.Surge != 3 {
		t.Errorf("mode numbers changed: %d %d %d %d", modes.Default, modes.Small, modes.Large, modes.Surge)
	}
	if got, want := modes.Mode(9).String(), "mode(9)"; got != want {
		t.Errorf("Mode(9).String() = %q, want %q", got, want)
	}
	if modes.Mode(4).Valid() {
		t.Errorf("Mode(4).Valid() = true, want false")
	}
}

func TestOr(t *testing.T) {
	tests := []struct{ m, fallback, want modes.Mode }{
		{modes.Default, modes.Surge, modes.Surge},
		{modes.Small, modes.Surge, modes.Small},
		{modes.Large, modes.Small, modes.Large},
		{modes.Surge, modes.Large, modes.Surge},
	}
	for _, tt := range tests {
		if got := tt.m.Or(tt.fallback); got != tt.want {
			t.Errorf("%v.Or(%v) = %v, want %v", tt.m, tt.fallback, got, tt.want)
		}
	}
}

// SPEC §4: small keeps no peer list on disk and no addresses in logs; large
// persists its peers; surge's peer table is memory-only and a completed peer
// leaves at once.
func TestModeRules(t *testing.T) {
	tests := []struct {
		m                            modes.Mode
		wantPersist, wantLog, wantGo bool
	}{
		{modes.Small, false, false, false},
		{modes.Large, true, true, false},
		{modes.Surge, false, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.m.String(), func(t *testing.T) {
			if got := tt.m.PersistsPeers(); got != tt.wantPersist {
				t.Errorf("PersistsPeers() = %v, want %v", got, tt.wantPersist)
			}
			if got := tt.m.LogsPeers(); got != tt.wantLog {
				t.Errorf("LogsPeers() = %v, want %v", got, tt.wantLog)
			}
			if got := tt.m.LeavesOnComplete(); got != tt.wantGo {
				t.Errorf("LeavesOnComplete() = %v, want %v", got, tt.wantGo)
			}
		})
	}
}

func TestDefaultTiming(t *testing.T) {
	limit := time.Duration(modes.MaxAge) * modes.Tick
	small, large := modes.DefaultTiming(modes.Small), modes.DefaultTiming(modes.Large)
	if small.Interval >= large.Interval {
		t.Errorf("small interval %v not shorter than large %v", small.Interval, large.Interval)
	}
	for _, m := range []modes.Mode{modes.Default, modes.Small, modes.Large, modes.Surge} {
		tm := modes.DefaultTiming(m)
		if tm.MinInterval <= 0 || tm.MinInterval > tm.Interval {
			t.Errorf("%v: min interval %v, interval %v, want 0 < min <= interval", m, tm.MinInterval, tm.Interval)
		}
		if tm.PeerTimeout <= tm.Interval || tm.PeerTimeout > limit {
			t.Errorf("%v: peer timeout %v, want in (%v, %v]", m, tm.PeerTimeout, tm.Interval, limit)
		}
		if got, want := tm.PeerTimeout, modes.PeerTimeoutFor(tm.Interval); got != want {
			t.Errorf("%v: peer timeout %v, want PeerTimeoutFor(%v) = %v", m, got, tm.Interval, want)
		}
	}
}

func TestPeerTimeoutFor(t *testing.T) {
	limit := time.Duration(modes.MaxAge) * modes.Tick
	tests := []struct {
		interval, want time.Duration
	}{
		{0, time.Minute},
		{2 * time.Minute, 5 * time.Minute},
		{10 * time.Minute, 21 * time.Minute},
		{30 * time.Minute, 61 * time.Minute},
		{119 * time.Minute, 239 * time.Minute},
		{time.Duration(119.5 * float64(time.Minute)), limit},
		{2 * time.Hour, limit},
		{24 * time.Hour, limit},
		{math.MaxInt64 / 2, limit},
		{1 << 62, limit},
		{math.MaxInt64, limit},
	}
	for _, tt := range tests {
		if got := modes.PeerTimeoutFor(tt.interval); got != tt.want {
			t.Errorf("PeerTimeoutFor(%v) = %v, want %v", tt.interval, got, tt.want)
		}
	}
	r := modes.NewRand(5)
	for range 10000 {
		interval := time.Duration(r.Uint64() >> (1 + r.Intn(63)))
		got := modes.PeerTimeoutFor(interval)
		if got > limit {
			t.Fatalf("PeerTimeoutFor(%v) = %v, want <= %v", interval, got, limit)
		}
		if want := min(limit, 2*min(interval, limit)+time.Minute); got != want {
			t.Fatalf("PeerTimeoutFor(%v) = %v, want %v", interval, got, want)
		}
	}
}

func TestAge(t *testing.T) {
	tests := []struct{ now, stamp, want uint8 }{
		{10, 10, 0}, {10, 7, 3}, {2, 254, 4}, {0, 255, 1}, {5, 6, 255},
	}
	for _, tt := range tests {
		if got := modes.Age(tt.now, tt.stamp); got != tt.want {
			t.Errorf("Age(%d, %d) = %d, want %d", tt.now, tt.stamp, got, tt.want)
		}
	}
	at := time.Date(2024, 5, 1, 12, 30, 59, 0, time.UTC)
	if got, want := modes.TickOf(at)-modes.TickOf(at.Add(-90*time.Minute)), uint32(90); got != want {
		t.Errorf("ticks across 90 minutes = %d, want %d", got, want)
	}
}

func TestRandIntn(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 10, 300, 1 << 20, math.MaxInt32, 1 << 32, 1 << 40, math.MaxInt} {
		r := modes.NewRand(uint64(n))
		for range 10000 {
			if got := r.Intn(n); got < 0 || got >= n {
				t.Fatalf("Intn(%d) = %d, want in [0, %d)", n, got, n)
			}
		}
	}
	r := modes.NewRand(11)
	count := make([]int, 10)
	for range 10000 {
		count[r.Intn(10)]++
	}
	for v, c := range count {
		if c < 800 || c > 1200 {
			t.Errorf("Intn(10) gave %d %d times in 10000, want about 1000", v, c)
		}
	}
	a, b := modes.NewRand(1), modes.NewRand(1)
	c := modes.NewRand(2)
	same, differ := true, false
	for range 100 {
		x := a.Uint64()
		same = same && x == b.Uint64()
		differ = differ || x != c.Uint64()
	}
	if !same || !differ {
		t.Errorf("same seed same stream = %v, other seed differs = %v, want true, true", same, differ)
	}
}
