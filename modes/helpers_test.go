package modes_test

import (
	"slices"
	"testing"

	"johnlocke/modes"
)

// peer describes one peer of a test swarm.
type peer struct {
	seeder   bool
	stamp    uint8
	uploader bool
}

// build returns a swarm of stride-byte records holding peers, leechers first
// and then seeders, each group in the order given. Every record gets a
// distinct address so records are told apart.
func build(stride int, peers []peer) modes.Swarm {
	ordered := make([]peer, 0, len(peers))
	for _, p := range peers {
		if !p.seeder {
			ordered = append(ordered, p)
		}
	}
	leechers := len(ordered)
	for _, p := range peers {
		if p.seeder {
			ordered = append(ordered, p)
		}
	}
	recs := make([]byte, stride*len(ordered))
	for i, p := range ordered {
		rec := recs[i*stride : (i+1)*stride]
		rec[0], rec[1], rec[2], rec[3] = 10, byte(i>>16), byte(i>>8), byte(i)
		rec[stride-4], rec[stride-3] = 0x1a, 0xe1 // port 6881
		rec[stride-2] = p.stamp
		if p.seeder {
			rec[stride-1] |= modes.FlagSeeder
		}
		if p.uploader {
			rec[stride-1] |= modes.FlagUploader
		}
	}
	return modes.Swarm{Records: recs, Stride: stride, Leechers: leechers}
}

// plain returns an IPv4 swarm of l leechers and s seeders, all stamped 0 and
// none uploading.
func plain(l, s int) modes.Swarm {
	peers := make([]peer, 0, l+s)
	for range l {
		peers = append(peers, peer{})
	}
	for range s {
		peers = append(peers, peer{seeder: true})
	}
	return build(modes.Record4, peers)
}

// seq returns the indices [lo, hi).
func seq(lo, hi int) []int32 {
	out := make([]int32, 0, max(hi-lo, 0))
	for i := lo; i < hi; i++ {
		out = append(out, int32(i))
	}
	return out
}

// cat joins index lists.
func cat(lists ...[]int32) []int32 { return slices.Concat(lists...) }

// randomSwarm returns a random swarm of 0..maxN peers with random stamps and
// uploader flags.
func randomSwarm(r *modes.Rand, stride, maxN int) modes.Swarm {
	n := r.Intn(maxN + 1)
	l := r.Intn(n + 1)
	peers := make([]peer, n)
	for i := range peers {
		peers[i] = peer{seeder: i >= l, stamp: uint8(r.Uint64()), uploader: r.Intn(4) == 0}
	}
	return build(stride, peers)
}

// checkList fails t unless got is a valid answer for p: no duplicate, never
// p.Self, every index in range, at most p.Max entries.
func checkList(t *testing.T, s modes.Swarm, p *modes.Pick, got []int32) {
	t.Helper()
	if len(got) > max(p.Max, 0) {
		t.Errorf("len(got) = %d, want <= Max %d", len(got), p.Max)
	}
	seen := make(map[int32]bool, len(got))
	for _, j := range got {
		if j < 0 || int(j) >= s.Len() {
			t.Errorf("index %d out of range [0, %d)", j, s.Len())
		}
		if int(j) == p.Self {
			t.Errorf("got contains Self %d: %v", p.Self, got)
		}
		if seen[j] {
			t.Errorf("duplicate index %d in %v", j, got)
		}
		seen[j] = true
	}
}

// split counts the leechers and seeders in got.
func split(s modes.Swarm, got []int32) (leechers, seeders int) {
	for _, j := range got {
		if int(j) < s.Leechers {
			leechers++
		} else {
			seeders++
		}
	}
	return leechers, seeders
}

// others returns how many leechers and seeders a swarm holds besides self.
func others(s modes.Swarm, self int) (leechers, seeders int) {
	leechers, seeders = s.Leechers, s.Len()-s.Leechers
	if self >= 0 && self < s.Leechers {
		leechers--
	} else if self >= s.Leechers {
		seeders--
	}
	return leechers, seeders
}

func TestBuild(t *testing.T) {
	for _, stride := range []int{modes.Record4, modes.Record6} {
		s := build(stride, []peer{
			{seeder: true, stamp: 7},
			{stamp: 1, uploader: true},
			{seeder: true, stamp: 9, uploader: true},
			{stamp: 2},
		})
		if got, want := s.Len(), 4; got != want {
			t.Fatalf("stride %d: Len() = %d, want %d", stride, got, want)
		}
		if got, want := s.Leechers, 2; got != want {
			t.Fatalf("stride %d: Leechers = %d, want %d", stride, got, want)
		}
		wantStamps := []uint8{1, 2, 7, 9}
		wantFlags := []uint8{modes.FlagUploader, 0, modes.FlagSeeder, modes.FlagSeeder | modes.FlagUploader}
		for i := range 4 {
			if got := s.Stamp(i); got != wantStamps[i] {
				t.Errorf("stride %d: Stamp(%d) = %d, want %d", stride, i, got, wantStamps[i])
			}
			if got := s.Flags(i); got != wantFlags[i] {
				t.Errorf("stride %d: Flags(%d) = %#x, want %#x", stride, i, got, wantFlags[i])
			}
		}
	}
}
