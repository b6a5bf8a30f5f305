package simulate

import (
	"math"
	"testing"
)

// TestFluidModel checks the model against the Qiu–Srikant fluid model
// (SIGCOMM 2004) in steady state: the mean download time must land within
// 15% of T = max(1/c, 1/μ − 1/γ) at three points, one download-bound.
func TestFluidModel(t *testing.T) {
	points := []struct {
		name string
		fp   FluidParams
	}{
		{"upload-bound", FluidParams{Lambda: 0.1, Mu: 1.0 / 600, C: 1.0 / 200, Gamma: 1.0 / 200}},
		{"upload-bound, fast seeds leave fast", FluidParams{Lambda: 0.2, Mu: 1.0 / 400, C: 1.0 / 100, Gamma: 1.0 / 100}},
		{"download-bound", FluidParams{Lambda: 0.1, Mu: 1.0 / 600, C: 1.0 / 500, Gamma: 1.0 / 300}},
	}
	for _, pt := range points {
		t.Run(pt.name, func(t *testing.T) {
			res, err := Run(Fluid(pt.fp), Random, 1)
			if err != nil {
				t.Fatal(err)
			}
			if res.Invariant != "" {
				t.Fatal(res.Invariant)
			}
			if len(res.Download) < 50 {
				t.Fatalf("only %d measured downloads", len(res.Download))
			}
			got, want := mean(res.Download), FluidTime(pt.fp)
			t.Logf("mean download %.0f s over %d peers, fluid model %.0f s", got, len(res.Download), want)
			if math.Abs(got-want) > 0.15*want {
				t.Errorf("mean download time %.0f s, fluid model %.0f s: off by more than 15%%", got, want)
			}
		})
	}
}
