package simulate

import (
	"fmt"
	"math/rand/v2"
	"time"

	"johnlocke/modes"
)

// filePieces is the simulated file: 200 pieces of 256 KiB, 50 MiB.
const filePieces = 200

// leecherCapacity is the stated distribution of a leecher's capacities:
// upload uniform in [0.2, 2] pieces/s (50-500 KiB/s), download uniform in
// [2, 8] pieces/s (0.5-2 MiB/s), independent of each other.
func leecherCapacity(r *rand.Rand) (up, down float64) {
	return 0.2 + 1.8*r.Float64(), 2 + 6*r.Float64()
}

// poisson returns the arrival times of a Poisson process of rate lambda
// per second over [from, to).
func poisson(r *rand.Rand, lambda, from, to float64) []float64 {
	var ts []float64
	for t := from + r.ExpFloat64()/lambda; t < to; t += r.ExpFloat64() / lambda {
		ts = append(ts, t)
	}
	return ts
}

// FluidParams are one point of the Qiu–Srikant fluid model: arrivals per
// second, upload and download capacity and seeds' leaving rate, the last
// three in files per second.
type FluidParams struct {
	Lambda, Mu, C, Gamma float64
}

// FluidTime is the fluid model's steady-state download time with η = 1:
// T = max(1/c, 1/μ − 1/γ).
func FluidTime(fp FluidParams) float64 {
	return max(1/fp.C, 1/fp.Mu-1/fp.Gamma)
}

// Fluid is the steady-state scenario the fluid model describes: Poisson
// arrivals, homogeneous capacities, finishers seeding for an exponential
// time of mean 1/γ. An origin seeder twenty times as fast starts the swarm
// and leaves at 2T, before the measured arrivals. Download times count for arrivals between 3T and 8T, and the run
// goes on to 10T so that those finish.
func Fluid(fp FluidParams) Scenario {
	T := FluidTime(fp)
	up, down := fp.Mu*filePieces, fp.C*filePieces
	return Scenario{
		Name: fmt.Sprintf("fluid λ=%g μ=%g c=%g γ=%g", fp.Lambda, fp.Mu, fp.C, fp.Gamma),
		Mode: modes.Large, Pieces: filePieces, MaxConns: 40, Step: 1,
		Duration:     10 * T,
		FixedSeeders: 1, SeederUp: 20 * up, SeederDown: down, FixedLeave: 2 * T,
		Arrivals:    func(r *rand.Rand) []float64 { return poisson(r, fp.Lambda, 0, 8*T) },
		Capacity:    func(*rand.Rand) (float64, float64) { return up, down },
		Stay:        func(r *rand.Rand) float64 { return r.ExpFloat64() / fp.Gamma },
		MeasureFrom: 3 * T, MeasureTo: 8 * T,
		Timing: modes.Timing{Interval: 5 * time.Minute, MinInterval: time.Minute},
	}
}

// surgeSeederUp is a fixed surge seeder's upload: 40 pieces/s, 10 MiB/s.
const surgeSeederUp = 40

// Surge is patch day: fixed seeders and leechers arriving uniformly over
// ten minutes, each leaving the moment it completes.
func Surge(leechers, seeders int) Scenario {
	return Scenario{
		Name: fmt.Sprintf("surge %d leechers %d seeders", leechers, seeders),
		Mode: modes.Surge, Pieces: filePieces, MaxConns: 40, Step: 1,
		Duration:     4 * 3600,
		FixedSeeders: seeders, SeederUp: surgeSeederUp, SeederDown: surgeSeederUp,
		Arrivals: func(r *rand.Rand) []float64 {
			ts := make([]float64, leechers)
			for i := range ts {
				ts[i] = 600 * float64(i) / float64(leechers)
			}
			return ts
		},
		Capacity:     leecherCapacity,
		StopWhenDone: true,
	}
}

// Large is a distribution: a few fixed seeders, Poisson arrivals over the
// given hours, one finisher in ten seeding for an exponential half hour,
// the rest leaving at once: an upload-bound swarm, where who is handed
// whom can matter.
func Large(hours float64, perHour float64, seeders int) Scenario {
	return Scenario{
		Name: fmt.Sprintf("large %g h at %g/h %d seeders", hours, perHour, seeders),
		Mode: modes.Large, Pieces: filePieces, MaxConns: 40, Step: 1,
		Duration:     hours*3600 + 3600,
		FixedSeeders: seeders, SeederUp: 8, SeederDown: 8,
		Arrivals: func(r *rand.Rand) []float64 { return poisson(r, perHour/3600, 0, hours*3600) },
		Capacity: leecherCapacity,
		Stay: func(r *rand.Rand) float64 {
			if r.IntN(10) == 0 {
				return r.ExpFloat64() * 1800
			}
			return 0
		},
		StopWhenDone: true,
	}
}

// Small is a family or a class: the creator seeds, the others join within
// the first minute and stay once done (they are one group).
func Small(members int) Scenario {
	return Scenario{
		Name: fmt.Sprintf("small %d members", members),
		Mode: modes.Small, Pieces: filePieces, MaxConns: 40, Step: 1,
		Duration:     4 * 3600,
		FixedSeeders: 1, SeederUp: 2, SeederDown: 8,
		Arrivals: func(r *rand.Rand) []float64 {
			ts := make([]float64, members-1)
			for i := range ts {
				ts[i] = 60 * float64(i) / float64(members-1)
			}
			return ts
		},
		Capacity:      leecherCapacity,
		Stay:          func(*rand.Rand) float64 { return 24 * 3600 },
		StopWhenDone:  true,
		TrackMeetings: true,
	}
}
