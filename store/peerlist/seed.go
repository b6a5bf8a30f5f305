package peerlist

import (
	"crypto/rand"
	"encoding/binary"
	"math/bits"
)

// Seed keys the bucket hash. A tracker serving clients draws it with
// NewSeed, so that nobody can choose addresses and ports that all land in
// one bucket (and make every lookup in a swarm scan it); the simulator
// derives it from its --seed with SeedFrom, so that the same seed puts
// peers in the same order in two processes.
//
// The hash is a keyed multiply-and-fold in the manner of wyhash (the
// construction Go's own map hash falls back to without AES): two 128-bit
// multiplications for an IPv4 key, three for IPv6. It is not a
// cryptographic PRF; like maphash it is meant to make collisions
// unpredictable to someone who does not know the seed.
type Seed struct{ k0, k1 uint64 }

// NewSeed returns a seed drawn from crypto/rand.
func NewSeed() Seed {
	var b [16]byte
	// crypto/rand.Read does not fail (it aborts the program when the
	// system has no randomness to give).
	_, _ = rand.Read(b[:])
	return Seed{binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])}
}

// SeedFrom derives a seed from a number, for runs that must repeat (the
// simulator, tests). Never use it in a tracker that serves clients.
func SeedFrom(n uint64) Seed {
	// Two splitmix64 steps: distinct numbers give unrelated keys.
	n += 0x9e3779b97f4a7c15
	k0 := splitmix(n)
	n += 0x9e3779b97f4a7c15
	return Seed{k0, splitmix(n)}
}

// IsZero reports whether s is the zero Seed, which callers take to mean
// "draw one".
func (s Seed) IsZero() bool { return s == Seed{} }

func splitmix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// fold multiplies a by b into 128 bits and folds the halves together.
func fold(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// Odd constants from wyhash, mixed into the key halves so that a seed of
// zero words still multiplies by something.
const (
	hashP0 = 0xa0761d6478bd642f
	hashP1 = 0xe7037ed1a0b428db
)

// hash returns the keyed hash of a peer key (address and port: 6 or 18
// bytes). Its top bits choose buckets.
func (s Seed) hash(key []byte) uint64 {
	h := s.k0 ^ uint64(len(key))
	for ; len(key) >= 8; key = key[8:] {
		h = fold(h^binary.LittleEndian.Uint64(key), s.k1^hashP0)
	}
	var tail uint64
	switch len(key) {
	case 6:
		tail = uint64(binary.LittleEndian.Uint32(key)) | uint64(binary.LittleEndian.Uint16(key[4:]))<<32
	default:
		for i, b := range key {
			tail |= uint64(b) << (8 * i)
		}
	}
	h = fold(h^tail, s.k1^hashP1)
	return fold(h^s.k0, s.k1^hashP0)
}
