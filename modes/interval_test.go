package modes_test

import (
	"math"
	"testing"
	"time"

	"johnlocke/modes"
)

func TestIntervalsSmallExact(t *testing.T) {
	tm := modes.DefaultTiming(modes.Small)
	r := modes.NewRand(3)
	for _, rate := range []uint32{0, 2000, 1e6, math.MaxUint32} {
		for range 20 {
			gotI, gotMin := modes.Intervals(modes.Small, tm, rate, &r)
			if wantI, wantMin := int32(tm.Interval/time.Second), int32(tm.MinInterval/time.Second); gotI != wantI || gotMin != wantMin {
				t.Fatalf("rate %d: Intervals = %d, %d, want %d, %d", rate, gotI, gotMin, wantI, wantMin)
			}
		}
	}
}

func TestIntervalsLarge(t *testing.T) {
	tests := []struct {
		name   string
		timing modes.Timing
	}{
		{name: "default", timing: modes.DefaultTiming(modes.Large)},
		{name: "min above interval", timing: modes.Timing{Interval: 10 * time.Minute, MinInterval: time.Hour}},
		{name: "short", timing: modes.Timing{Interval: 30 * time.Second, MinInterval: 10 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := tt.timing.Interval.Seconds()
			lo, hi := int32(math.Floor(base*0.9)), int32(math.Ceil(base*1.1))
			seen := map[int32]bool{}
			for seed := range uint64(1000) {
				r := modes.NewRand(seed)
				gotI, gotMin := modes.Intervals(modes.Large, tt.timing, 123, &r)
				if gotI < lo || gotI > hi {
					t.Errorf("seed %d: interval = %d, want %d..%d", seed, gotI, lo, hi)
				}
				if gotMin > gotI || gotMin <= 0 {
					t.Errorf("seed %d: min interval = %d with interval %d, want 0 < min <= interval", seed, gotMin, gotI)
				}
				if want := int32(tt.timing.MinInterval / time.Second); tt.timing.MinInterval < tt.timing.Interval*9/10 && gotMin != want {
					t.Errorf("seed %d: min interval = %d, want %d", seed, gotMin, want)
				}
				seen[gotI] = true
			}
			if len(seen) < 2 {
				t.Errorf("1000 draws gave only %v, want jittered intervals", seen)
			}
		})
	}
}

func TestIntervalsSurge(t *testing.T) {
	tm := modes.DefaultTiming(modes.Surge)
	base := tm.Interval.Seconds()
	tests := []struct {
		name       string
		rate       uint32
		wantFactor float64
	}{
		{name: "idle", rate: 0, wantFactor: 1},
		{name: "just under a step", rate: modes.SurgeRateStep - 1, wantFactor: 1},
		{name: "one step", rate: modes.SurgeRateStep, wantFactor: 2},
		{name: "three steps", rate: 3 * modes.SurgeRateStep, wantFactor: 4},
		{name: "storm capped", rate: 1e6, wantFactor: modes.SurgeMaxFactor},
		{name: "absurd rate capped", rate: math.MaxUint32, wantFactor: modes.SurgeMaxFactor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := base * tt.wantFactor
			lo, hi := int32(math.Floor(want*0.9)), int32(math.Ceil(want*1.1))
			seen := map[int32]bool{}
			for seed := range uint64(100) {
				r := modes.NewRand(seed)
				gotI, gotMin := modes.Intervals(modes.Surge, tm, tt.rate, &r)
				if gotI < lo || gotI > hi {
					t.Errorf("seed %d: interval = %d, want %d..%d", seed, gotI, lo, hi)
				}
				if gotMin > gotI || gotMin <= 0 {
					t.Errorf("seed %d: min interval = %d with interval %d, want 0 < min <= interval", seed, gotMin, gotI)
				}
				seen[gotI] = true
			}
			if len(seen) < 10 {
				t.Errorf("100 draws gave %d distinct intervals, want jitter", len(seen))
			}
		})
	}
	// A busier storm never shortens the interval beyond the jitter.
	r := modes.NewRand(9)
	prev := int32(0)
	for rate := uint32(0); rate <= 20*modes.SurgeRateStep; rate += modes.SurgeRateStep {
		gotI, _ := modes.Intervals(modes.Surge, tm, rate, &r)
		if float64(gotI) < float64(prev)*0.9/1.1-1 {
			t.Errorf("rate %d: interval %d fell from %d", rate, gotI, prev)
		}
		prev = gotI
	}
}

func TestIntervalsJitterVaries(t *testing.T) {
	for _, m := range []modes.Mode{modes.Large, modes.Surge} {
		t.Run(m.String(), func(t *testing.T) {
			r := modes.NewRand(42)
			tm := modes.DefaultTiming(m)
			seen := map[int32]int{}
			for range 100 {
				i, _ := modes.Intervals(m, tm, 5000, &r)
				seen[i]++
			}
			if len(seen) < 20 {
				t.Errorf("100 draws gave %d distinct intervals, want widely spread jitter", len(seen))
			}
		})
	}
}
