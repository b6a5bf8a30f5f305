package modes_test

import (
	"slices"
	"testing"

	"johnlocke/modes"
)

// TestTuning checks that each field of Tuning replaces its constant and
// that the zero value keeps today's rules.
func TestTuning(t *testing.T) {
	t.Run("surge seeders per list", func(t *testing.T) {
		for _, tc := range []struct{ tuned, want int }{{0, modes.SurgeSeedsPerList}, {4, 4}, {1, 1}} {
			s := plain(30, 6)
			r := modes.NewRand(1)
			var cursor uint32
			p := &modes.Pick{Self: 0, Max: 20, Cursor: &cursor, Rand: &r, Tuning: modes.Tuning{SurgeSeedsPerList: tc.tuned}}
			got := modes.Select(modes.Surge, s, p, nil)
			if _, seeders := split(s, got); seeders != tc.want {
				t.Errorf("tuned %d: %d seeders in the list, want %d", tc.tuned, seeders, tc.want)
			}
		}
	})
	t.Run("large seeder share", func(t *testing.T) {
		for _, tc := range []struct{ tuned, want int }{{0, 50 / modes.LargeSeedShareDiv}, {5, 10}, {10, 5}} {
			s := plain(100, 100)
			r := modes.NewRand(1)
			p := &modes.Pick{Self: 0, Max: 50, Rand: &r, Tuning: modes.Tuning{LargeSeedShareDiv: tc.tuned}}
			got := modes.Select(modes.Large, s, p, nil)
			if _, seeders := split(s, got); seeders != tc.want {
				t.Errorf("tuned %d: %d seeders in the list, want %d", tc.tuned, seeders, tc.want)
			}
		}
	})
	t.Run("small cursor step", func(t *testing.T) {
		for _, tc := range []struct {
			step       int
			wantCursor uint32
		}{{0, 1}, {3, 3}, {-1, 12}} {
			s := plain(25, 0)
			var cursor uint32
			p := &modes.Pick{Self: -1, Max: 50, Cursor: &cursor, Tuning: modes.Tuning{SmallCursorStep: tc.step}}
			got := modes.Select(modes.Small, s, p, nil)
			if !slices.Equal(got, seq(0, 12)) {
				t.Errorf("step %d: Select = %v, want 0..11", tc.step, got)
			}
			if cursor != tc.wantCursor {
				t.Errorf("step %d: cursor %d, want %d", tc.step, cursor, tc.wantCursor)
			}
		}
	})
}
