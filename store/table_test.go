package store

import (
	"hash/maphash"
	"testing"

	"johnlocke/modes"
)

// TestTableAgainstModel adds and removes torrents at random and checks the
// table against a map: every torrent findable at its position, positions
// dense, the dirty list following the torrents that move.
func TestTableAgainstModel(t *testing.T) {
	sh := shard{table: table{seed: maphash.MakeSeed()}}
	r := modes.NewRand(7)
	model := map[[20]byte]uint32{} // hash to completed count
	for step := range 20000 {
		var h [20]byte
		h[3], h[7] = byte(r.Intn(40)), byte(r.Intn(50))
		pos := sh.find(&h)
		_, listed := model[h]
		if (pos >= 0) != listed {
			t.Fatalf("step %d: find = %d, listed %v", step, pos, listed)
		}
		switch {
		case !listed:
			tor := newTorrent(h, modes.Default)
			tor.completed = uint32(step)
			pos = sh.add(tor)
			model[h] = uint32(step)
			if r.Intn(3) == 0 {
				sh.markDirty(pos, dirtyRecord)
			}
		case r.Intn(2) == 0:
			sh.removeTorrent(pos)
			delete(model, h)
		default:
			sh.markDirty(pos, dirtySwarm)
		}
		if step%101 != 0 {
			continue
		}
		if sh.n != len(model) {
			t.Fatalf("step %d: %d torrents, want %d", step, sh.n, len(model))
		}
		for p := range sh.n {
			tor := sh.at(p)
			if want, ok := model[tor.hash]; !ok || want != tor.completed {
				t.Fatalf("step %d: position %d holds %x (completed %d), model %d/%v", step, p, tor.hash, tor.completed, want, ok)
			}
			if got := sh.find(&tor.hash); got != p {
				t.Fatalf("step %d: find(%x) = %d, want %d", step, tor.hash, got, p)
			}
		}
		seen := map[uint32]bool{}
		for _, p := range sh.dirty {
			if int(p) >= sh.n || sh.at(int(p)).dirty() == 0 || seen[p] {
				t.Fatalf("step %d: dirty list names position %d wrongly", step, p)
			}
			seen[p] = true
		}
		for p := range sh.n {
			if sh.at(p).dirty() != 0 && !seen[uint32(p)] {
				t.Fatalf("step %d: dirty torrent at %d is not in the dirty list", step, p)
			}
		}
	}
}
