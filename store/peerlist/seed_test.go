package peerlist

import (
	"bytes"
	"encoding/binary"
	"testing"

	"johnlocke/modes"
)

// fill puts n peers into a fresh IPv4 list with seed, every third a
// seeder, and returns its records.
func fill(seed Seed, n int) []byte {
	l := New(modes.Record4)
	for i := range n {
		var k [6]byte
		binary.BigEndian.PutUint32(k[:], uint32(0x0a000000+i))
		binary.BigEndian.PutUint16(k[4:], 6881)
		var flags uint8
		if i%3 == 0 {
			flags = modes.FlagSeeder
		}
		l.Put(seed, k[:], 0, flags)
	}
	return bytes.Clone(l.Records())
}

// TestSeedFromRepeats: the order of a bucketed list depends only on the
// seed, so two lists built alike with one SeedFrom value are the same byte
// for byte (what makes a simulation repeat across processes), and another
// seed orders them otherwise.
func TestSeedFromRepeats(t *testing.T) {
	const n = 5000 // well past one bucket per region
	a, b := fill(SeedFrom(7), n), fill(SeedFrom(7), n)
	if !bytes.Equal(a, b) {
		t.Fatal("one seed, two different orders")
	}
	if bytes.Equal(a, fill(SeedFrom(8), n)) {
		t.Fatal("seeds 7 and 8 order a bucketed list the same")
	}
}

// TestNewSeedDiffers: serve's seeds come from crypto/rand, so two trackers
// (or one restarted) bucket peers differently.
func TestNewSeedDiffers(t *testing.T) {
	a, b := NewSeed(), NewSeed()
	if a == b || a.IsZero() {
		t.Fatalf("NewSeed gave %v then %v", a, b)
	}
}

// TestSeedHashSpreads: ports of one address (what a client controls most
// easily) spread over the buckets evenly: no top-bits bucket of 64 gets
// more than twice its share of 65536 ports, under several seeds.
func TestSeedHashSpreads(t *testing.T) {
	for s := range uint64(4) {
		seed := SeedFrom(s)
		var counts [64]int
		var k [6]byte
		binary.BigEndian.PutUint32(k[:], 0x0a000001)
		for port := range 1 << 16 {
			binary.BigEndian.PutUint16(k[4:], uint16(port))
			counts[seed.hash(k[:])>>58]++
		}
		for b, c := range counts {
			if c > 2*(1<<16)/64 || c < (1<<16)/64/2 {
				t.Errorf("seed %d: bucket %d holds %d of 65536 ports", s, b, c)
			}
		}
	}
}

// TestHashAllocs: hashing a key allocates nothing (it is on every
// announce of a bucketed swarm).
func TestHashAllocs(t *testing.T) {
	seed := SeedFrom(3)
	k4, k6 := make([]byte, 6), make([]byte, 18)
	var sink uint64
	if n := testing.AllocsPerRun(100, func() { sink ^= seed.hash(k4) ^ seed.hash(k6) }); n != 0 {
		t.Fatalf("hash allocates %v times", n)
	}
	_ = sink
}
