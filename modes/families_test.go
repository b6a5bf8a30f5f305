package modes_test

import (
	"testing"

	"johnlocke/modes"
)

// both joins an IPv4 swarm (the requester's family) and an IPv6 one into
// the view an HTTP announce gets.
func both(own, other modes.Swarm) modes.Swarm {
	own.OtherRecords, own.OtherStride, own.OtherLeechers = other.Records, other.Stride, other.Leechers
	return own
}

func TestLocateOrdersLeechersFirstAcrossFamilies(t *testing.T) {
	own := plain(2, 3) // own: L L S S S
	other := build(modes.Record6, []peer{{}, {seeder: true}, {}})
	s := both(own, other) // other: L L S
	type place struct {
		other bool
		pos   int
	}
	want := []place{{false, 0}, {false, 1}, {true, 0}, {true, 1}, {false, 2}, {false, 3}, {false, 4}, {true, 2}}
	if got := s.Len(); got != len(want) {
		t.Fatalf("Len = %d, want %d", got, len(want))
	}
	if got := s.AllLeechers(); got != 4 {
		t.Fatalf("AllLeechers = %d, want 4", got)
	}
	for i, w := range want {
		other, pos := s.Locate(i)
		if (place{other, pos}) != w {
			t.Errorf("Locate(%d) = %v %d, want %v", i, other, pos, w)
		}
		if !w.other && s.Index(w.pos) != i {
			t.Errorf("Index(%d) = %d, want %d", w.pos, s.Index(w.pos), i)
		}
		if seeder := s.Flags(i)&modes.FlagSeeder != 0; seeder != (i >= 4) {
			t.Errorf("index %d seeder=%v", i, seeder)
		}
	}
}

func TestRulesApplyToTheWholeSwarm(t *testing.T) {
	r := modes.NewRand(7)
	t.Run("small counts both families", func(t *testing.T) {
		s := both(plain(15, 0), plain(15, 0))
		var cursor uint32
		p := &modes.Pick{Self: 0, Max: 50, Cursor: &cursor, Rand: &r}
		got := modes.Select(modes.Small, s, p, make([]int32, 0, modes.BufferLen(50)))
		if want := 29 / 2; len(got) != want {
			t.Fatalf("small with 15+15 peers gave %d, want %d", len(got), want)
		}
	})
	t.Run("surge rations seeders over both families", func(t *testing.T) {
		s := both(plain(3, 4), plain(3, 4))
		var cursor uint32
		for range 20 {
			p := &modes.Pick{Self: 0, Max: 50, Cursor: &cursor, Rand: &r}
			got := modes.Select(modes.Surge, s, p, make([]int32, 0, modes.BufferLen(50)))
			seeders := 0
			for _, i := range got {
				if s.Flags(int(i))&modes.FlagSeeder != 0 {
					seeders++
				}
			}
			if seeders > modes.SurgeSeedsPerList {
				t.Fatalf("surge leecher got %d seeders over two families", seeders)
			}
		}
	})
}
