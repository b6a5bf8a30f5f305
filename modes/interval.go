package modes

import "time"

// Surge's adaptive interval: every SurgeRateStep announces per second add
// one base interval, up to SurgeMaxFactor base intervals, so the busier the
// storm the less often each client comes back.
const (
	SurgeRateStep  = 2000
	SurgeMaxFactor = 6
	// JitterDiv: intervals handed out in large and surge vary by ±1/JitterDiv
	// so that peers which arrived together do not come back together.
	JitterDiv = 10
)

// Intervals returns the interval and min interval (whole seconds) to hand a
// client of mode m, given the mode's timing, the tracker's current announce
// rate per second and a random source for jitter. Small is exact and short;
// large is jittered; surge grows with the rate and is jittered.
func Intervals(m Mode, t Timing, ratePerSec uint32, r *Rand) (interval, minInterval int32) {
	base := t.Interval
	switch m {
	case Small:
		return seconds(base), seconds(t.MinInterval)
	case Surge:
		factor := 1 + time.Duration(ratePerSec/SurgeRateStep)
		base *= min(factor, SurgeMaxFactor)
	}
	if spread := base / JitterDiv; spread > 0 {
		base += time.Duration(r.Uint64()%uint64(2*spread+1)) - spread
	}
	return seconds(base), seconds(min(t.MinInterval, base))
}

func seconds(d time.Duration) int32 { return int32(d / time.Second) }
