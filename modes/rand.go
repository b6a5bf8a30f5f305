package modes

// Rand is a small, fast, non-cryptographic random source (splitmix64). A
// policy needs only cheap, well-spread numbers for random windows and jitter,
// and each caller owns its own Rand under its own lock, so there is no shared
// state to contend on.
type Rand struct{ state uint64 }

// NewRand returns a Rand seeded with seed.
func NewRand(seed uint64) Rand { return Rand{state: seed} }

// Uint64 returns the next random number.
func (r *Rand) Uint64() uint64 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Intn returns a number in [0, n) for n > 0. The multiply-shift reduction
// has a bias below 2^-32 for the swarm sizes a tracker sees, which is
// irrelevant for choosing where a peer window starts.
func (r *Rand) Intn(n int) int {
	hi := (r.Uint64() >> 32) * uint64(n)
	return int(hi >> 32)
}
