package modes_test

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"johnlocke/modes"
)

func TestSelectSmall(t *testing.T) {
	tests := []struct {
		name       string
		leechers   int
		seeders    int
		self       int
		max        int
		cursor     uint32
		want       []int32
		wantCursor uint32
	}{
		{name: "whole list skips self", leechers: 10, self: 3, max: 50, cursor: 7,
			want: cat(seq(0, 3), seq(4, 10)), wantCursor: 7},
		{name: "whole list capped by max", leechers: 15, self: 3, max: 5, cursor: 9,
			want: []int32{0, 1, 2, 4, 5}, wantCursor: 9},
		{name: "whole list self -1", leechers: 20, self: -1, max: 50, cursor: 11,
			want: seq(0, 20), wantCursor: 11},
		{name: "20 others plus self is whole", leechers: 21, self: 0, max: 50, cursor: 4,
			want: seq(1, 21), wantCursor: 4},
		{name: "whole list mixes seeders in index order", leechers: 4, seeders: 6, self: 7, max: 50,
			want: cat(seq(0, 7), seq(8, 10))},
		{name: "21 others self -1 is half", leechers: 21, self: -1, max: 50, cursor: 0,
			want: seq(0, 10), wantCursor: 1},
		{name: "21 others plus self is half", leechers: 22, self: 21, max: 50, cursor: 0,
			want: seq(0, 10), wantCursor: 1},
		{name: "25 cursor 0", leechers: 25, self: -1, max: 50, cursor: 0,
			want: seq(0, 12), wantCursor: 1},
		{name: "25 cursor 20 wraps", leechers: 25, self: -1, max: 50, cursor: 20,
			want: cat(seq(20, 25), seq(0, 7)), wantCursor: 21},
		{name: "25 cursor 24 wraps to 0", leechers: 25, self: -1, max: 50, cursor: 24,
			want: cat(seq(24, 25), seq(0, 11)), wantCursor: 0},
		{name: "25 self inside window", leechers: 25, self: 3, max: 50, cursor: 0,
			want: cat(seq(0, 3), seq(4, 13)), wantCursor: 1},
		{name: "25 self at cursor", leechers: 25, self: 5, max: 50, cursor: 5,
			want: seq(6, 18), wantCursor: 6},
		{name: "25 self inside wrapped window", leechers: 25, self: 1, max: 50, cursor: 20,
			want: cat(seq(20, 25), seq(0, 1), seq(2, 8)), wantCursor: 21},
		{name: "cursor beyond swarm", leechers: 25, self: -1, max: 50, cursor: 1000,
			want: seq(0, 12), wantCursor: 1},
		{name: "half capped by max", leechers: 25, self: -1, max: 3, cursor: 20,
			want: seq(20, 23), wantCursor: 21},
		{name: "seeders count like leechers", leechers: 10, seeders: 15, self: 12, max: 50, cursor: 8,
			want: cat(seq(8, 12), seq(13, 21)), wantCursor: 9},
		{name: "99 peers give 49", leechers: 99, self: -1, max: 80, cursor: 0,
			want: seq(0, 49), wantCursor: 1},
		{name: "120 peers give 50", leechers: 120, self: -1, max: 80, cursor: 100,
			want: cat(seq(100, 120), seq(0, 30)), wantCursor: 101},
		{name: "120 peers self inside give 50", leechers: 120, self: 110, max: 80, cursor: 100,
			want: cat(seq(100, 110), seq(111, 120), seq(0, 31)), wantCursor: 101},
		{name: "120 peers capped by max", leechers: 120, self: -1, max: 30, cursor: 0,
			want: seq(0, 30), wantCursor: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := plain(tt.leechers, tt.seeders)
			cursor := tt.cursor
			p := &modes.Pick{Self: tt.self, Seeder: tt.self >= tt.leechers, Max: tt.max, Cursor: &cursor}
			got := modes.Select(modes.Small, s, p, nil)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Select = %v, want %v", got, tt.want)
			}
			if cursor != tt.wantCursor {
				t.Errorf("cursor = %d, want %d", cursor, tt.wantCursor)
			}
		})
	}
}

func TestSelectSmallConsecutive(t *testing.T) {
	s := plain(25, 0)
	var cursor uint32
	want := [][]int32{
		cat(seq(0, 10), seq(11, 13)),
		cat(seq(1, 10), seq(11, 14)),
		cat(seq(2, 10), seq(11, 15)),
	}
	for i, w := range want {
		p := &modes.Pick{Self: 10, Max: 50, Cursor: &cursor}
		got := modes.Select(modes.Small, s, p, nil)
		if !slices.Equal(got, w) {
			t.Errorf("request %d: Select = %v, want %v", i, got, w)
		}
		if got, want := cursor, uint32(i+1); got != want {
			t.Errorf("request %d: cursor = %d, want %d", i, got, want)
		}
	}
}

// A full turn of the cursor hands every peer out equally often.
func TestSelectSmallFullTurn(t *testing.T) {
	const n = 25
	s := plain(n, 0)
	var cursor uint32
	count := make([]int, n)
	for range n {
		p := &modes.Pick{Self: -1, Max: 50, Cursor: &cursor}
		for _, j := range modes.Select(modes.Small, s, p, nil) {
			count[j]++
		}
	}
	if cursor != 0 {
		t.Errorf("cursor after %d requests = %d, want 0", n, cursor)
	}
	for j, c := range count {
		if c != n/2 {
			t.Errorf("peer %d handed out %d times, want %d", j, c, n/2)
		}
	}
}

func TestSelectLargeSeederGetsLeechersOnly(t *testing.T) {
	for seed := range uint64(500) {
		r := modes.NewRand(seed)
		s := randomSwarm(&r, modes.Record4, 300)
		self := -1
		if seeders := s.Len() - s.Leechers; seeders > 0 && r.Intn(4) != 0 {
			self = s.Leechers + r.Intn(seeders)
		}
		p := &modes.Pick{Self: self, Seeder: true, Max: r.Intn(81), Now: uint8(r.Uint64()),
			Recent: uint8(r.Intn(30)), Rand: &r}
		got := modes.Select(modes.Large, s, p, nil)
		checkList(t, s, p, got)
		if _, seeds := split(s, got); seeds != 0 {
			t.Errorf("seed %d: seeder requester got %d seeders: %v", seed, seeds, got)
		}
		if got, want := len(got), min(p.Max, s.Leechers); got != want {
			t.Errorf("seed %d: len = %d, want %d", seed, got, want)
		}
	}
}

func TestSelectLargeSeedShare(t *testing.T) {
	tests := []struct {
		name          string
		leechers      int
		seeders       int
		self          int
		max           int
		wantLen       int
		wantSeedsMin  int
		wantSeedsMax  int
		wantNoLeecher bool
	}{
		{name: "enough leechers", leechers: 100, seeders: 100, self: -1, max: 50,
			wantLen: 50, wantSeedsMin: 1, wantSeedsMax: 50 / modes.LargeSeedShareDiv},
		{name: "self a leecher", leechers: 100, seeders: 100, self: 5, max: 50,
			wantLen: 50, wantSeedsMin: 1, wantSeedsMax: 50 / modes.LargeSeedShareDiv},
		{name: "small max keeps at least one seeder", leechers: 100, seeders: 100, self: -1, max: 4,
			wantLen: 4, wantSeedsMin: 0, wantSeedsMax: max(1, 4/modes.LargeSeedShareDiv)},
		{name: "no seeders", leechers: 40, seeders: 0, self: 3, max: 20,
			wantLen: 20, wantSeedsMax: 0},
		{name: "1 leecher 30 seeders fills with seeders", leechers: 1, seeders: 30, self: -1, max: 50,
			wantLen: 31, wantSeedsMin: 30, wantSeedsMax: 30},
		{name: "only leecher asks 30 seeders", leechers: 1, seeders: 30, self: 0, max: 50,
			wantLen: 30, wantSeedsMin: 30, wantSeedsMax: 30, wantNoLeecher: true},
		{name: "5 leechers 30 seeders max 20", leechers: 5, seeders: 30, self: 2, max: 20,
			wantLen: 20, wantSeedsMin: 16, wantSeedsMax: 16},
		{name: "alone", leechers: 1, seeders: 0, self: 0, max: 50, wantLen: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := plain(tt.leechers, tt.seeders)
			for seed := range uint64(50) {
				r := modes.NewRand(seed)
				p := &modes.Pick{Self: tt.self, Max: tt.max, Rand: &r}
				got := modes.Select(modes.Large, s, p, nil)
				checkList(t, s, p, got)
				leech, seeds := split(s, got)
				if len(got) != tt.wantLen {
					t.Errorf("seed %d: len = %d, want %d", seed, len(got), tt.wantLen)
				}
				if seeds < tt.wantSeedsMin || seeds > tt.wantSeedsMax {
					t.Errorf("seed %d: %d seeders, want %d..%d", seed, seeds, tt.wantSeedsMin, tt.wantSeedsMax)
				}
				if tt.wantNoLeecher && leech != 0 {
					t.Errorf("seed %d: %d leechers, want none", seed, leech)
				}
			}
		})
	}
}

// Over random swarms a leecher gets a full list with at most
// max(1, total/LargeSeedShareDiv) seeders while leechers suffice, and seeders to fill the
// list when they do not.
func TestSelectLargeSeedShareProperty(t *testing.T) {
	for seed := range uint64(1000) {
		r := modes.NewRand(seed)
		s := randomSwarm(&r, modes.Record4, 300)
		self := -1
		if s.Leechers > 0 && r.Intn(4) != 0 {
			self = r.Intn(s.Leechers)
		}
		p := &modes.Pick{Self: self, Max: 1 + r.Intn(80), Now: uint8(r.Uint64()), Recent: 5, Rand: &r}
		got := modes.Select(modes.Large, s, p, nil)
		checkList(t, s, p, got)
		leechers, seeders := others(s, self)
		total := min(p.Max, leechers+seeders)
		if len(got) != total {
			t.Errorf("seed %d: len = %d, want %d", seed, len(got), total)
		}
		share := max(1, total/modes.LargeSeedShareDiv)
		_, seeds := split(s, got)
		if leechers >= total-share {
			if seeds > share {
				t.Errorf("seed %d: %d seeders with %d leechers for %d, want <= %d", seed, seeds, leechers, total, share)
			}
		} else if want := total - leechers; seeds != want {
			t.Errorf("seed %d: %d seeders with only %d leechers for %d, want %d", seed, seeds, leechers, total, want)
		}
	}
}

func TestSelectLargePrefersRecentAndUploaders(t *testing.T) {
	var now, recent uint8 = 3, 5 // recent stamps wrap around 255
	// Even leechers are preferred: uploaders with a stale stamp or peers
	// exactly Recent ticks old. Odd ones are one tick too old. Any run of
	// 2k consecutive leechers holds exactly k preferred ones.
	var peers []peer
	for i := range 100 {
		switch {
		case i%4 == 0:
			peers = append(peers, peer{stamp: now - 100, uploader: true})
		case i%2 == 0:
			peers = append(peers, peer{stamp: now - recent})
		default:
			peers = append(peers, peer{stamp: now - recent - 1})
		}
	}
	for range 10 {
		peers = append(peers, peer{seeder: true, stamp: now})
	}
	s := build(modes.Record4, peers)
	tests := []struct {
		name      string
		seeder    bool
		self      int
		max       int
		wantLeech int
	}{
		{name: "leecher", seeder: false, self: -1, max: 20, wantLeech: 20 - 20/modes.LargeSeedShareDiv},
		{name: "seeder", seeder: true, self: -1, max: 20, wantLeech: 20},
		{name: "seeder listed", seeder: true, self: 104, max: 50, wantLeech: 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			results := map[string]bool{}
			for seed := range uint64(200) {
				r := modes.NewRand(seed)
				p := &modes.Pick{Self: tt.self, Seeder: tt.seeder, Max: tt.max, Now: now, Recent: recent, Rand: &r}
				got := modes.Select(modes.Large, s, p, nil)
				checkList(t, s, p, got)
				leech, _ := split(s, got)
				if leech != tt.wantLeech {
					t.Errorf("seed %d: %d leechers, want %d", seed, leech, tt.wantLeech)
				}
				for _, j := range got {
					if int(j) < s.Leechers && j%2 != 0 {
						t.Errorf("seed %d: got non-preferred leecher %d: %v", seed, j, got)
					}
				}
				results[fmt.Sprint(got)] = true
			}
			if len(results) < 2 {
				t.Errorf("200 requests all got the same list, want a random mix")
			}
		})
	}
}

// Without any preferred peer a leecher still gets a full list, and over many
// requests every leecher is handed out: load spreads over the swarm.
func TestSelectLargeSpreads(t *testing.T) {
	s := plain(100, 5)
	count := make([]int, s.Len())
	r := modes.NewRand(1)
	for range 1000 {
		p := &modes.Pick{Self: -1, Max: 10, Now: 200, Recent: 5, Rand: &r}
		got := modes.Select(modes.Large, s, p, nil)
		checkList(t, s, p, got)
		if len(got) != 10 {
			t.Fatalf("len = %d, want 10", len(got))
		}
		for _, j := range got {
			count[j]++
		}
	}
	for j, c := range count {
		if c == 0 {
			t.Errorf("peer %d never handed out in 1000 requests", j)
		}
	}
}

func TestSelectSurgeRotation(t *testing.T) {
	tests := []struct {
		name     string
		leechers int
		seeders  int
		requests int
		max      int
	}{
		{name: "6 seeders", leechers: 30, seeders: 6, requests: 30, max: 10},
		{name: "5 seeders", leechers: 30, seeders: 5, requests: 30, max: 10},
		{name: "7 seeders", leechers: 30, seeders: 7, requests: 30, max: 10},
		{name: "13 seeders", leechers: 30, seeders: 13, requests: 100, max: 50},
		{name: "2 seeders", leechers: 30, seeders: 2, requests: 30, max: 10},
		{name: "1 seeder", leechers: 30, seeders: 1, requests: 30, max: 10},
		{name: "max 1", leechers: 30, seeders: 6, requests: 30, max: 1},
		{name: "no leechers but self", leechers: 1, seeders: 6, requests: 30, max: 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := plain(tt.leechers, tt.seeders)
			r := modes.NewRand(7)
			cursor := uint32(r.Uint64())
			count := make([]int, tt.seeders)
			for i := range tt.requests {
				self := r.Intn(tt.leechers+1) - 1
				p := &modes.Pick{Self: self, Max: tt.max, Cursor: &cursor, Rand: &r}
				got := modes.Select(modes.Surge, s, p, nil)
				checkList(t, s, p, got)
				leechers, _ := others(s, self)
				wantSeeds := min(tt.seeders, modes.SurgeSeedsPerList, tt.max)
				wantLen := wantSeeds + min(leechers, tt.max-wantSeeds)
				if len(got) != wantLen {
					t.Errorf("request %d: len = %d, want %d", i, len(got), wantLen)
				}
				if _, seeds := split(s, got); seeds != wantSeeds {
					t.Errorf("request %d: %d seeders, want %d", i, seeds, wantSeeds)
				}
				for _, j := range got {
					if int(j) >= s.Leechers {
						count[int(j)-s.Leechers]++
					}
				}
			}
			if lo, hi := slices.Min(count), slices.Max(count); hi-lo > 1 {
				t.Errorf("seeder counts %v: max-min = %d, want <= 1", count, hi-lo)
			}
		})
	}
}

func TestSelectSurgeSeederGetsLeechersOnly(t *testing.T) {
	for seed := range uint64(500) {
		r := modes.NewRand(seed)
		s := randomSwarm(&r, modes.Record6, 300)
		self := -1
		if seeders := s.Len() - s.Leechers; seeders > 0 && r.Intn(4) != 0 {
			self = s.Leechers + r.Intn(seeders)
		}
		cursor := uint32(r.Uint64())
		before := cursor
		p := &modes.Pick{Self: self, Seeder: true, Max: r.Intn(81), Cursor: &cursor, Rand: &r}
		got := modes.Select(modes.Surge, s, p, nil)
		checkList(t, s, p, got)
		if _, seeds := split(s, got); seeds != 0 {
			t.Errorf("seed %d: seeder requester got %d seeders: %v", seed, seeds, got)
		}
		if got, want := len(got), min(p.Max, s.Leechers); got != want {
			t.Errorf("seed %d: len = %d, want %d", seed, got, want)
		}
		if cursor != before {
			t.Errorf("seed %d: seeder request moved the seeder rotation from %d to %d", seed, before, cursor)
		}
	}
}

// Properties every mode keeps over random swarms: no duplicate, never Self,
// indices in range, at most Max, the caller's prefix kept, the swarm
// untouched, and no growth beyond BufferLen(Max).
func TestSelectProperties(t *testing.T) {
	for _, m := range []modes.Mode{modes.Default, modes.Small, modes.Large, modes.Surge} {
		for _, stride := range []int{modes.Record4, modes.Record6} {
			t.Run(fmt.Sprintf("%v/%d", m, stride), func(t *testing.T) {
				for seed := range uint64(1500) {
					r := modes.NewRand(seed)
					s := randomSwarm(&r, stride, 300)
					self := r.Intn(s.Len()+1) - 1
					seeder := self >= s.Leechers || (self < 0 && r.Intn(2) == 0)
					cursor := uint32(r.Uint64())
					p := &modes.Pick{Self: self, Seeder: seeder, Max: r.Intn(81), Now: uint8(r.Uint64()),
						Recent: uint8(r.Intn(20)), Cursor: &cursor, Rand: &r}
					prefix := r.Intn(3)
					dst := make([]int32, prefix, prefix+modes.BufferLen(p.Max))
					for i := range dst {
						dst[i] = -7
					}
					records := bytes.Clone(s.Records)

					got := modes.Select(m, s, p, dst)

					if len(got) < prefix || slices.ContainsFunc(got[:prefix], func(v int32) bool { return v != -7 }) {
						t.Fatalf("seed %d: prefix not kept: %v", seed, got)
					}
					if cap(got) != cap(dst) || (cap(got) > 0 && &got[:cap(got)][0] != &dst[:cap(dst)][0]) {
						t.Errorf("seed %d: Select grew dst beyond BufferLen(%d)", seed, p.Max)
					}
					checkList(t, s, p, got[prefix:])
					if !bytes.Equal(records, s.Records) {
						t.Errorf("seed %d: Select modified the swarm", seed)
					}
				}
			})
		}
	}
}

func TestSelectAllocs(t *testing.T) {
	s := plain(8000, 2000)
	for _, m := range []modes.Mode{modes.Small, modes.Large, modes.Surge} {
		for _, seeder := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/seeder=%v", m, seeder), func(t *testing.T) {
				r := modes.NewRand(1)
				var cursor uint32
				dst := make([]int32, 0, modes.BufferLen(50))
				self := 17
				if seeder {
					self = 9000
				}
				p := &modes.Pick{Self: self, Seeder: seeder, Max: 50, Now: 1, Recent: 5, Cursor: &cursor, Rand: &r}
				var got []int32
				allocs := testing.AllocsPerRun(100, func() {
					got = modes.Select(m, s, p, dst[:0])
				})
				if allocs != 0 {
					t.Errorf("Select allocates %v times per call, want 0", allocs)
				}
				if len(got) != 50 {
					t.Errorf("len = %d, want 50", len(got))
				}
			})
		}
	}
}

func BenchmarkSelect(b *testing.B) {
	for _, m := range []modes.Mode{modes.Small, modes.Large, modes.Surge} {
		for _, n := range []int{10, 100_000} {
			b.Run(fmt.Sprintf("%v/%d", m, n), func(b *testing.B) {
				s := plain(n*4/5, n-n*4/5)
				r := modes.NewRand(1)
				var cursor uint32
				dst := make([]int32, 0, modes.BufferLen(50))
				p := &modes.Pick{Self: n / 3, Max: 50, Now: 1, Recent: 5, Cursor: &cursor, Rand: &r}
				b.ReportAllocs()
				for b.Loop() {
					dst = modes.Select(m, s, p, dst[:0])
				}
			})
		}
	}
}
