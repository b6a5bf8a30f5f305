package announce_test

// Integration tests: the real store on a real bbolt file behind the real
// HTTP server on loopback, spoken to over HTTP with every answer decoded by
// an independent bencode decoder. Distinct announced ports from 127.0.0.1
// are distinct peers (the store keys peers by address and port).

import (
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"johnlocke/announce"
	"johnlocke/migrate"
	"johnlocke/modes"
	"johnlocke/store"
	"johnlocke/store/metainfo"
)

func mustHex(t testing.TB, s string) [20]byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 20 {
		t.Fatalf("bad test infohash %q", s)
	}
	return [20]byte(b)
}

func wantPeers(t testing.TB, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got  %v\n want %v", what, got, want)
	}
}

func wantCounts(t testing.TB, what string, r announceResult, complete, incomplete int64) {
	t.Helper()
	if r.complete != complete || r.incomplete != incomplete {
		t.Errorf("%s: complete=%d incomplete=%d, want %d and %d", what, r.complete, r.incomplete, complete, incomplete)
	}
}

func portRange(first, last int) []string {
	var out []string
	for p := first; p <= last; p++ {
		out = append(out, v4(p))
	}
	return out
}

// smallRule restates SPEC section 4's small rule over a swarm listed in
// order: up to 20 others, all of them; otherwise min(others/2, 50) taken in
// order from the last_start cursor, wrapping, skipping the requester, and
// the cursor moves on by one peer.
func smallRule(order []string, self int, cursor *int) []string {
	n := len(order)
	others := n - 1
	want, start := others, 0
	if others > modes.SmallWholeList {
		want = min(others/2, modes.SmallMaxList)
		start = *cursor % n
		*cursor = (start + 1) % n
	}
	var out []string
	for i := 0; i < n && want > 0; i++ {
		j := (start + i) % n
		if j == self {
			continue
		}
		out = append(out, order[j])
		want--
	}
	return out
}

func TestIntegrationSmallExactLists(t *testing.T) {
	// The server's mode is large: the torrent's own mode must rule.
	tr := startTracker(t, store.Config{Mode: modes.Large})
	h := hashOf("small-exact")
	tr.register(t, store.Torrent{InfoHash: h, Mode: modes.Small, Name: "small"})

	// All leechers and nobody leaves, so the list is in insertion order.
	var order []string
	cursor := 0
	for k := 1; k <= 25; k++ {
		port := 10000 + k
		res := tr.announce(t, peerReq{hash: h, port: port, left: 1000, event: "started"})
		order = append(order, v4(port))
		want := smallRule(order, k-1, &cursor)
		if k <= modes.SmallWholeList+1 {
			// Everyone before it, in order.
			wantPeers(t, fmt.Sprintf("announce %d of a swarm with %d others", k, k-1), want, order[:k-1])
		}
		wantPeers(t, fmt.Sprintf("peer %d's first announce", port), res.all(), want)
		wantCounts(t, fmt.Sprintf("peer %d", port), res, 0, int64(k))
		if res.interval != 120 || res.minInterval != 60 {
			t.Errorf("small intervals %d/%d, want 120/60", res.interval, res.minInterval)
		}
	}
	// Announces 22 to 25 had more than 20 others and each moved the
	// cursor by one from 0.
	if cursor != 4 {
		t.Fatalf("model cursor %d after 25 announces, want 4", cursor)
	}

	// The 26th peer: 25 others, so 12 peers from the cursor; the cursor
	// moves by one per request. Stated literally, then checked against
	// the rule too.
	order = append(order, v4(10026))
	literal := [][]string{portRange(10005, 10016), portRange(10006, 10017), portRange(10007, 10018)}
	for i, want := range literal {
		if model := smallRule(order, 25, &cursor); !slices.Equal(model, want) {
			t.Fatalf("test model %v disagrees with literal %v", model, want)
		}
		ev := ""
		if i == 0 {
			ev = "started"
		}
		res := tr.announce(t, peerReq{hash: h, port: 10026, left: 1000, event: ev})
		wantPeers(t, fmt.Sprintf("26th peer, request %d", i+1), res.all(), want)
		wantCounts(t, "26th peer", res, 0, 26)
	}

	// Twice more around the ring: the window wraps past the end and skips
	// the requester (the last peer) on the way.
	wrapped := false
	for i := range 2 * 26 {
		start := cursor
		want := smallRule(order, 25, &cursor)
		if start+len(want) > 25 {
			wrapped = true
		}
		res := tr.announce(t, peerReq{hash: h, port: 10026, left: 1000})
		wantPeers(t, fmt.Sprintf("26th peer, round request %d (cursor %d)", i, start), res.all(), want)
		if t.Failed() {
			return
		}
	}
	if !wrapped {
		t.Fatal("test never exercised the wrap-around")
	}
	// A wrap with the requester in the window, literally: cursor at 20
	// gives 20..24, skips 25 (itself), then 0..6.
	for cursor%26 != 20 {
		smallRule(order, 25, &cursor)
		tr.announce(t, peerReq{hash: h, port: 10026, left: 1000})
	}
	res := tr.announce(t, peerReq{hash: h, port: 10026, left: 1000})
	wantPeers(t, "window from 20 wrapping past the requester", res.all(),
		slices.Concat(portRange(10021, 10025), portRange(10001, 10007)))
}

func TestIntegrationSmallWholeList(t *testing.T) {
	tr := startTracker(t, store.Config{Mode: modes.Small})
	h := hashOf("small-whole")
	tr.register(t, store.Torrent{InfoHash: h, Mode: modes.Small})
	for p := 11001; p <= 11021; p++ {
		tr.announce(t, peerReq{hash: h, port: p, left: 1, event: "started"})
	}
	// 21 peers: 20 besides any requester, so everyone else, in order, and
	// the same answer every time (no cursor).
	want := slices.Concat(portRange(11001, 11010), portRange(11012, 11021))
	for i := range 3 {
		res := tr.announce(t, peerReq{hash: h, port: 11011, left: 1})
		wantPeers(t, fmt.Sprintf("middle peer, request %d", i+1), res.all(), want)
		wantCounts(t, "whole list", res, 0, 21)
	}
	// A seeder is listed too in small (no seeder/leecher shaping).
	res := tr.announce(t, peerReq{hash: h, port: 11001, left: 0})
	if len(res.all()) != 20 || slices.Contains(res.all(), v4(11001)) {
		t.Errorf("seeder in a 21-peer small swarm got %v, want the 20 others", res.all())
	}
	wantCounts(t, "after one seeds", res, 1, 20)
}

// largeSwarm announces seeders and leechers (interleaved) to h.
func largeSwarm(t *testing.T, tr *testTracker, h [20]byte, seeders, leechers []int) {
	t.Helper()
	for i := range max(len(seeders), len(leechers)) {
		if i < len(seeders) {
			tr.announce(t, peerReq{hash: h, port: seeders[i], left: 0, event: "started"})
		}
		if i < len(leechers) {
			tr.announce(t, peerReq{hash: h, port: leechers[i], left: 5000, event: "started"})
		}
	}
}

func ports(first, n int) []int {
	var out []int
	for i := range n {
		out = append(out, first+i)
	}
	return out
}

func addrSet(ps []int) map[string]bool {
	m := make(map[string]bool, len(ps))
	for _, p := range ps {
		m[v4(p)] = true
	}
	return m
}

func TestIntegrationLargeLists(t *testing.T) {
	tr := startTracker(t, store.Config{Mode: modes.Small})
	h := hashOf("large-lists")
	tr.register(t, store.Torrent{InfoHash: h, Mode: modes.Large})
	seeders, leechers := ports(20001, 8), ports(20101, 12)
	largeSwarm(t, tr, h, seeders, leechers)
	isSeeder, isLeecher := addrSet(seeders), addrSet(leechers)

	for round := range 5 {
		for _, p := range seeders {
			res := tr.announce(t, peerReq{hash: h, port: p, left: 0})
			what := fmt.Sprintf("round %d, seeder %d", round, p)
			wantCounts(t, what, res, 8, 12)
			checkNoDuplicates(t, what, res.all())
			for _, q := range res.all() {
				if !isLeecher[q] {
					t.Errorf("%s was given %s, which is not a leecher", what, q)
				}
			}
			if len(res.all()) != len(leechers) {
				t.Errorf("%s got %d peers, want all %d leechers", what, len(res.all()), len(leechers))
			}
		}
		for _, p := range leechers {
			res := tr.announce(t, peerReq{hash: h, port: p, left: 5000})
			what := fmt.Sprintf("round %d, leecher %d", round, p)
			wantCounts(t, what, res, 8, 12)
			checkNoDuplicates(t, what, res.all())
			for _, q := range res.all() {
				if q == v4(p) {
					t.Errorf("%s was given itself", what)
				}
				if !isLeecher[q] && !isSeeder[q] {
					t.Errorf("%s was given %s, which never announced", what, q)
				}
			}
			if len(res.all()) != 19 {
				t.Errorf("%s got %d peers, want all 19 others", what, len(res.all()))
			}
		}
		if t.Failed() {
			return
		}
	}
	if res := tr.announce(t, peerReq{hash: h, port: 20001, left: 0}); res.interval < 1620 || res.interval > 1980 || res.minInterval != 300 {
		t.Errorf("large intervals %d/%d, want 1800±10%%/300", res.interval, res.minInterval)
	}

	for _, c := range []struct {
		port    int
		left    int64
		numwant string
		want    int
	}{
		{20101, 5000, "0", 0},
		{20001, 0, "0", 0},
		{20101, 5000, "3", 3},
		{20001, 0, "3", 3},
		{20102, 5000, "1", 1},
		{20102, 5000, "-1", 19}, // no preference
		{20102, 5000, "100000", 19},
	} {
		res := tr.announce(t, peerReq{hash: h, port: c.port, left: c.left, numwant: c.numwant})
		what := fmt.Sprintf("peer %d numwant=%s", c.port, c.numwant)
		if len(res.all()) != c.want {
			t.Errorf("%s got %d peers %v, want %d", what, len(res.all()), res.all(), c.want)
		}
		if c.left == 0 {
			for _, q := range res.all() {
				if !isLeecher[q] {
					t.Errorf("%s (a seeder) was given %s", what, q)
				}
			}
		}
		if slices.Contains(res.all(), v4(c.port)) {
			t.Errorf("%s was given itself", what)
		}
		wantCounts(t, what, res, 8, 12)
	}
	if got := tr.scrapeOne(t, h); got != (scrapeCounts{complete: 8, incomplete: 12}) {
		t.Errorf("scrape %+v, want 8 complete, 12 incomplete", got)
	}
}

func TestIntegrationMaxPeers(t *testing.T) {
	for _, m := range []modes.Mode{modes.Small, modes.Large, modes.Surge} {
		t.Run(m.String(), func(t *testing.T) {
			tr := startTracker(t, store.Config{Mode: m, MaxPeers: 5})
			h := hashOf("maxpeers-" + m.String())
			tr.register(t, store.Torrent{InfoHash: h})
			seeders, leechers := ports(21001, 10), ports(21101, 30)
			largeSwarm(t, tr, h, seeders, leechers)
			isLeecher := addrSet(leechers)
			for _, c := range []struct {
				port    int
				left    int64
				numwant string
				want    int
			}{
				{21101, 1, "", 5},
				{21101, 1, "10", 5},
				{21101, 1, "2", 2},
				{21101, 1, "0", 0},
				{21001, 0, "", 5},
				{21001, 0, "4", 4},
				{21001, 0, "0", 0},
			} {
				res := tr.announce(t, peerReq{hash: h, port: c.port, left: c.left, numwant: c.numwant})
				what := fmt.Sprintf("%s: peer %d numwant=%q", m, c.port, c.numwant)
				if len(res.all()) != c.want {
					t.Errorf("%s got %d peers %v, want %d", what, len(res.all()), res.all(), c.want)
				}
				checkNoDuplicates(t, what, res.all())
				if slices.Contains(res.all(), v4(c.port)) {
					t.Errorf("%s was given itself", what)
				}
				if m != modes.Small && c.left == 0 {
					for _, q := range res.all() {
						if !isLeecher[q] {
							t.Errorf("%s (a seeder) was given %s", what, q)
						}
					}
				}
				wantCounts(t, what, res, 10, 30)
			}
		})
	}
}

func TestIntegrationSurge(t *testing.T) {
	tr := startTracker(t, store.Config{Mode: modes.Large})
	h := hashOf("surge")
	tr.register(t, store.Torrent{InfoHash: h, Mode: modes.Surge})
	seeders, leechers := ports(30001, 10), ports(30101, 10)
	largeSwarm(t, tr, h, seeders, leechers)
	isSeeder, isLeecher := addrSet(seeders), addrSet(leechers)

	handedOut := map[string]bool{}
	for _, p := range leechers {
		res := tr.announce(t, peerReq{hash: h, port: p, left: 100})
		what := fmt.Sprintf("surge leecher %d", p)
		wantCounts(t, what, res, 10, 10)
		checkNoDuplicates(t, what, res.all())
		var seeds, others []string
		for _, q := range res.all() {
			switch {
			case q == v4(p):
				t.Errorf("%s was given itself", what)
			case isSeeder[q]:
				seeds = append(seeds, q)
				handedOut[q] = true
			case isLeecher[q]:
				others = append(others, q)
			default:
				t.Errorf("%s was given unknown %s", what, q)
			}
		}
		if len(seeds) > modes.SurgeSeedsPerList {
			t.Errorf("%s got %d seeders %v, want at most %d", what, len(seeds), seeds, modes.SurgeSeedsPerList)
		}
		if len(seeds) == 0 {
			t.Errorf("%s got no seeder at all", what)
		}
		if len(others) != 9 {
			t.Errorf("%s got leechers %v, want all 9 others", what, others)
		}
	}
	// The rotation spreads the fixed seeders: ten leecher announces of two
	// seeders each cover all ten.
	if len(handedOut) != len(seeders) {
		t.Errorf("seeders handed out over %d announces: %d of %d", len(leechers), len(handedOut), len(seeders))
	}
	for _, p := range seeders[:3] {
		res := tr.announce(t, peerReq{hash: h, port: p, left: 0})
		for _, q := range res.all() {
			if !isLeecher[q] {
				t.Errorf("surge seeder %d was given %s, not a leecher", p, q)
			}
		}
	}

	// completed: the peer leaves at once and the download counts.
	before := tr.scrapeOne(t, h)
	res := tr.announce(t, peerReq{hash: h, port: 30101, left: 0, event: "completed"})
	if res.downloaded != before.downloaded+1 {
		t.Errorf("downloaded %d in the completed answer, want %d", res.downloaded, before.downloaded+1)
	}
	after := tr.scrapeOne(t, h)
	if after != (scrapeCounts{complete: 10, incomplete: 9, downloaded: before.downloaded + 1}) {
		t.Errorf("scrape after completed: %+v, want 10 complete, 9 incomplete, %d downloaded", after, before.downloaded+1)
	}
	for _, p := range slices.Concat(leechers[1:], seeders) {
		left := int64(100)
		if isSeeder[v4(p)] {
			left = 0
		}
		res := tr.announce(t, peerReq{hash: h, port: p, left: left})
		if slices.Contains(res.all(), v4(30101)) {
			t.Errorf("peer %d was still given %s, which completed", p, v4(30101))
		}
		wantCounts(t, fmt.Sprintf("peer %d after a completion", p), res, 10, 9)
	}
	rec, ok := tr.torrent(t, h)
	if !ok || rec.Completed != 1 || rec.Leechers != 9 || rec.Seeders != 10 {
		t.Errorf("Store.Torrent: ok=%v completed=%d seeders=%d leechers=%d, want 1, 10, 9", ok, rec.Completed, rec.Seeders, rec.Leechers)
	}
}

// TestIntegrationSurgeSeedsBothFamilies: a dual-stack swarm must ration
// seeders per list, not per address family.
func TestIntegrationSurgeSeedsBothFamilies(t *testing.T) {
	tr := startTracker(t, store.Config{Mode: modes.Surge})
	if tr.base6 == "" {
		t.Skip("no IPv6 loopback on this host")
	}
	h := hashOf("surge-dual")
	tr.register(t, store.Torrent{InfoHash: h})
	seeds := map[string]bool{}
	for _, p := range ports(31001, 4) {
		tr.announce(t, peerReq{hash: h, port: p, left: 0})
		tr.announce(t, peerReq{hash: h, port: p, left: 0, v6: true})
		seeds[v4(p)], seeds[v6(p)] = true, true
	}
	for _, p := range ports(31101, 3) {
		tr.announce(t, peerReq{hash: h, port: p, left: 9})
		tr.announce(t, peerReq{hash: h, port: p, left: 9, v6: true})
	}
	for _, is6 := range []bool{false, true} {
		res := tr.announce(t, peerReq{hash: h, port: 31101, left: 9, v6: is6})
		n := 0
		for _, q := range res.all() {
			if seeds[q] {
				n++
			}
		}
		if n > modes.SurgeSeedsPerList {
			t.Errorf("surge leecher (IPv6 %v) got %d seeders in %v, want at most %d", is6, n, res.all(), modes.SurgeSeedsPerList)
		}
	}
}

func TestIntegrationStoppedLeavesEveryMode(t *testing.T) {
	for _, m := range []modes.Mode{modes.Small, modes.Large, modes.Surge} {
		t.Run(m.String(), func(t *testing.T) {
			tr := startTracker(t, store.Config{Mode: modes.Large})
			h := hashOf("stopped-" + m.String())
			tr.register(t, store.Torrent{InfoHash: h, Mode: m})
			for _, p := range []int{40001, 40002, 40003} {
				tr.announce(t, peerReq{hash: h, port: p, left: 77, event: "started"})
			}
			tr.announce(t, peerReq{hash: h, port: 40004, left: 0, event: "started"})
			wantCounts(t, "before", tr.announce(t, peerReq{hash: h, port: 40001, left: 77}), 1, 3)

			tr.announce(t, peerReq{hash: h, port: 40002, left: 77, event: "stopped"})
			tr.announce(t, peerReq{hash: h, port: 40004, left: 0, event: "stopped"})
			if got := tr.scrapeOne(t, h); got != (scrapeCounts{complete: 0, incomplete: 2}) {
				t.Errorf("scrape after two stops: %+v, want 0 complete, 2 incomplete", got)
			}
			res := tr.announce(t, peerReq{hash: h, port: 40001, left: 77})
			wantPeers(t, "40001 after the stops", res.all(), []string{v4(40003)})
			wantCounts(t, "after the stops", res, 0, 2)
			res = tr.announce(t, peerReq{hash: h, port: 40003, left: 77})
			wantPeers(t, "40003 after the stops", res.all(), []string{v4(40001)})
			// Stopping twice, or stopping an unknown peer, is harmless.
			tr.announce(t, peerReq{hash: h, port: 40002, left: 77, event: "stopped"})
			tr.announce(t, peerReq{hash: h, port: 40999, left: 77, event: "stopped"})
			if got := tr.scrapeOne(t, h); got != (scrapeCounts{complete: 0, incomplete: 2}) {
				t.Errorf("scrape after repeated stops: %+v, want 0 complete, 2 incomplete", got)
			}
		})
	}
}

func TestIntegrationLocked(t *testing.T) {
	tr := startTracker(t, store.Config{Mode: modes.Large, Locked: true})
	known, unknown := hashOf("locked-known"), hashOf("locked-unknown")
	tr.register(t, store.Torrent{InfoHash: known})

	for _, ev := range []string{"started", "", "completed", "stopped"} {
		reason := tr.announceFailure(t, peerReq{hash: unknown, port: 50001, left: 1, event: ev})
		if reason != string(store.ErrUnregistered) {
			t.Errorf("event %q for an unregistered torrent: failure %q, want %q", ev, reason, store.ErrUnregistered)
		}
	}
	if got := tr.scrape(t, unknown); len(got) != 0 {
		t.Errorf("scrape of the refused infohash: %v, want nothing", got)
	}
	if _, ok := tr.torrent(t, unknown); ok {
		t.Error("Store.Torrent finds the refused infohash")
	}
	if torrents, peers := tr.st.Counts(); torrents != 1 || peers != 0 {
		t.Errorf("Counts() = %d torrents, %d peers; want 1 and 0", torrents, peers)
	}
	// The registered torrent is served as usual.
	tr.announce(t, peerReq{hash: known, port: 50001, left: 1})
	res := tr.announce(t, peerReq{hash: known, port: 50002, left: 1})
	wantPeers(t, "registered torrent on a locked tracker", res.all(), []string{v4(50001)})
}

func TestIntegrationUnlocked(t *testing.T) {
	tr := startTracker(t, store.Config{Mode: modes.Large, Locked: false, MaxTorrents: 3, MaxTorrentsPerAddr: -1})
	known := hashOf("unlocked-known")
	tr.register(t, store.Torrent{InfoHash: known})
	h1, h2, h3 := hashOf("organic-1"), hashOf("organic-2"), hashOf("organic-3")

	res := tr.announce(t, peerReq{hash: h1, port: 51001, left: 1, event: "started"})
	if len(res.all()) != 0 {
		t.Errorf("first announce of a new torrent got peers %v", res.all())
	}
	wantCounts(t, "first organic announce", res, 0, 1)
	rec, ok := tr.torrent(t, h1)
	if !ok {
		t.Fatal("Store.Torrent does not find the organically registered torrent")
	}
	if rec.Source != store.SourceOrganic || rec.InfoHash != h1 || rec.Mode != modes.Default {
		t.Errorf("organic torrent: source %v, hash %x, mode %v; want organic, %x, default", rec.Source, rec.InfoHash, rec.Mode, h1)
	}
	res = tr.announce(t, peerReq{hash: h1, port: 51002, left: 1})
	wantPeers(t, "second peer of an organic torrent", res.all(), []string{v4(51001)})

	tr.announce(t, peerReq{hash: h2, port: 51001, left: 1, event: "started"})
	// Three torrents now: the bound is reached.
	for range 2 {
		if reason := tr.announceFailure(t, peerReq{hash: h3, port: 51001, left: 1, event: "started"}); reason != string(store.ErrTorrentLimit) {
			t.Errorf("announce past MaxTorrents: failure %q, want %q", reason, store.ErrTorrentLimit)
		}
	}
	if _, ok := tr.torrent(t, h3); ok {
		t.Error("Store.Torrent finds the torrent refused at the bound")
	}
	got := tr.scrape(t, h1, h2, h3)
	if len(got) != 2 || got[h1] != (scrapeCounts{incomplete: 2}) || got[h2] != (scrapeCounts{incomplete: 1}) {
		t.Errorf("scrape of two organic torrents and a refused one: %v", got)
	}
	if torrents, _ := tr.st.Counts(); torrents != 3 {
		t.Errorf("Counts() torrents = %d, want 3", torrents)
	}
	// Known torrents are still served at the bound.
	tr.announce(t, peerReq{hash: h1, port: 51003, left: 1})
	tr.announce(t, peerReq{hash: known, port: 51003, left: 1})
}

func TestIntegrationScrape(t *testing.T) {
	tr := startTracker(t, store.Config{Mode: modes.Large})
	a, b, c, unknown := hashOf("scrape-a"), hashOf("scrape-b"), hashOf("scrape-c"), hashOf("scrape-unknown")
	tr.register(t, store.Torrent{InfoHash: a}, store.Torrent{InfoHash: b}, store.Torrent{InfoHash: c})
	for _, p := range []int{52001, 52002} {
		tr.announce(t, peerReq{hash: a, port: p, left: 0})
	}
	for _, p := range []int{52003, 52004, 52005} {
		tr.announce(t, peerReq{hash: a, port: p, left: 10})
	}
	// A completion counts for a peer the swarm knew as a leecher.
	tr.announce(t, peerReq{hash: a, port: 52006, left: 10, event: "started"})
	tr.announce(t, peerReq{hash: a, port: 52006, left: 0, event: "completed"})
	tr.announce(t, peerReq{hash: b, port: 52001, left: 10})
	wantA := scrapeCounts{complete: 3, incomplete: 3, downloaded: 1}
	wantB := scrapeCounts{incomplete: 1}

	if got := tr.scrapeOne(t, a); got != wantA {
		t.Errorf("scrape a: %+v, want %+v", got, wantA)
	}
	got := tr.scrape(t, a, b, c, unknown)
	want := map[[20]byte]scrapeCounts{a: wantA, b: wantB, c: {}}
	if len(got) != len(want) {
		t.Errorf("scrape of a, b, c and an unknown hash has %d entries, want 3: %v", len(got), got)
	}
	for h, w := range want {
		if g, ok := got[h]; !ok || g != w {
			t.Errorf("scrape entry %x: %+v (present %v), want %+v", h, g, ok, w)
		}
	}
	if got := tr.scrape(t, unknown); len(got) != 0 {
		t.Errorf("scrape of an unknown hash only: %v, want no files", got)
	}
	if got := tr.scrape(t, b, a, b, a); len(got) != 2 || got[a] != wantA || got[b] != wantB {
		t.Errorf("scrape with repeated hashes: %v", got)
	}
	// A scrape naming nothing, or a malformed hash, is refused in bencode.
	if reason := failureOf(t, decodeDict(t, tr.get(t, tr.base4, "/scrape"))); reason != string(announce.ErrFullScrape) {
		t.Errorf("full scrape: %q, want %q", reason, announce.ErrFullScrape)
	}
	if reason := failureOf(t, decodeDict(t, tr.get(t, tr.base4, "/scrape?info_hash="+escapeAll(a[:10])))); reason != string(announce.ErrInvalidInfoHash) {
		t.Errorf("scrape of a short hash: %q, want %q", reason, announce.ErrInvalidInfoHash)
	}
}

func TestIntegrationPeerFormats(t *testing.T) {
	tr := startTracker(t, store.Config{Mode: modes.Small})
	h := hashOf("formats")
	tr.register(t, store.Torrent{InfoHash: h})
	tr.announce(t, peerReq{hash: h, port: 60001, left: 1})
	tr.announce(t, peerReq{hash: h, port: 60002, left: 1})
	want := []string{v4(60001), v4(60002)}

	for _, q := range []struct{ compact, extra string }{{"", ""}, {"1", ""}, {"", "&no_peer_id=1"}, {"1", "&no_peer_id=1"}} {
		d := tr.announceRaw(t, peerReq{hash: h, port: 60003, left: 1, compact: q.compact, extra: q.extra})
		what := fmt.Sprintf("compact=%q%s", q.compact, q.extra)
		raw, ok := d["peers"].(string)
		if !ok || len(raw) != 12 {
			t.Errorf("%s: peers is %T of %d bytes, want a 12-byte string", what, d["peers"], len(raw))
		}
		if _, ok := d["peers6"]; ok {
			t.Errorf("%s: peers6 present without IPv6 peers", what)
		}
		res := parseAnnounce(t, d)
		wantPeers(t, what, res.all(), want)
	}
	for _, extra := range []string{"", "&no_peer_id=1", "&no_peer_id=0"} {
		d := tr.announceRaw(t, peerReq{hash: h, port: 60003, left: 1, compact: "0", extra: extra})
		what := "compact=0" + extra
		list, ok := d["peers"].([]any)
		if !ok || len(list) != 2 {
			t.Fatalf("%s: peers is %T %v, want a list of 2", what, d["peers"], d["peers"])
		}
		for i, e := range list {
			m, ok := e.(map[string]any)
			if !ok {
				t.Fatalf("%s: peers[%d] is %T", what, i, e)
			}
			if m["ip"] != "127.0.0.1" || m["port"] != int64(60001+i) {
				t.Errorf("%s: peers[%d] = %v, want ip 127.0.0.1 port %d", what, i, m, 60001+i)
			}
			if _, ok := m["peer id"]; ok && extra == "&no_peer_id=1" {
				t.Errorf("%s: peers[%d] has a peer id", what, i)
			}
		}
		wantPeers(t, what, parseAnnounce(t, d).all(), want)
	}

	t.Run("ipv6", func(t *testing.T) {
		if tr.base6 == "" {
			t.Skip("no IPv6 loopback on this host")
		}
		res := tr.announce(t, peerReq{hash: h, port: 60004, left: 1, v6: true})
		wantPeers(t, "IPv6 peer's first answer, peers", res.peers4, slices.Concat(want, []string{v4(60003)}))
		if len(res.peers6) != 0 {
			t.Errorf("IPv6 peer was given IPv6 peers %v", res.peers6)
		}
		wantCounts(t, "dual-stack counts", res, 0, 4)

		res = tr.announce(t, peerReq{hash: h, port: 60003, left: 1})
		wantPeers(t, "IPv4 requester, peers", res.peers4, want)
		wantPeers(t, "IPv4 requester, peers6", res.peers6, []string{v6(60004)})
		if s, ok := res.raw["peers6"].(string); !ok || len(s) != 18 {
			t.Errorf("peers6 is %T of %d bytes, want an 18-byte string", res.raw["peers6"], len(s))
		}

		res = tr.announce(t, peerReq{hash: h, port: 60005, left: 1, v6: true})
		wantPeers(t, "IPv6 requester, peers6", res.peers6, []string{v6(60004)})
		wantPeers(t, "IPv6 requester, peers", res.peers4, slices.Concat(want, []string{v4(60003)}))

		d := tr.announceRaw(t, peerReq{hash: h, port: 60003, left: 1, compact: "0"})
		res = parseAnnounce(t, d)
		wantPeers(t, "IPv4 requester, dictionary model", res.peers4, []string{v4(60001), v4(60002), v6(60004), v6(60005)})
		list := d["peers"].([]any)
		if ip := list[2].(map[string]any)["ip"]; ip != "::1" {
			t.Errorf("dictionary-model IPv6 ip is %q, want ::1", ip)
		}
	})
}

func TestIntegrationHybrid(t *testing.T) {
	path := filepath.Join("..", "testdata", "torrents", "hybrid.torrent")
	m, err := metainfo.ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v1 := mustHex(t, "90ca69e182bf7b93f2245b72cce8971e63d0e9bb")
	v2 := mustHex(t, "9e12287163ccfbf62634350fc3f31a2003f6cd82")
	rec := store.FromMetainfo(m, modes.Default, store.SourceImport, path)
	if rec.InfoHash != v1 || !rec.HasAlias || rec.Alias != v2 {
		t.Fatalf("FromMetainfo: hash %x alias %x (%v), want %x and %x", rec.InfoHash, rec.Alias, rec.HasAlias, v1, v2)
	}
	tr := startTracker(t, store.Config{Mode: modes.Large})
	tr.register(t, rec)

	res := tr.announce(t, peerReq{hash: v1, port: 61001, left: 100, event: "started"})
	if len(res.all()) != 0 {
		t.Errorf("first peer got %v", res.all())
	}
	res = tr.announce(t, peerReq{hash: v2, port: 61002, left: 0, event: "started"})
	wantPeers(t, "v2 seeder", res.all(), []string{v4(61001)})
	wantCounts(t, "v2 seeder", res, 1, 1)
	res = tr.announce(t, peerReq{hash: v1, port: 61001, left: 100})
	wantPeers(t, "v1 leecher", res.all(), []string{v4(61002)})
	tr.announce(t, peerReq{hash: v2, port: 61003, left: 100, event: "started"})
	tr.announce(t, peerReq{hash: v2, port: 61003, left: 0, event: "completed"})

	want := scrapeCounts{complete: 2, incomplete: 1, downloaded: 1}
	s1, s2 := tr.scrapeOne(t, v1), tr.scrapeOne(t, v2)
	if s1 != want || s2 != want {
		t.Errorf("scrape under v1 %+v and v2 %+v, want both %+v", s1, s2, want)
	}
	if both := tr.scrape(t, v1, v2); len(both) != 2 || both[v1] != want || both[v2] != want {
		t.Errorf("scrape under both hashes at once: %v", both)
	}
	for _, h := range [][20]byte{v1, v2} {
		got, ok := tr.torrent(t, h)
		if !ok || got.InfoHash != v1 || got.Name != "hybridalbum" || got.Completed != 1 || got.Seeders != 2 || got.Leechers != 1 {
			t.Errorf("Store.Torrent(%x) = %+v, %v", h, got, ok)
		}
	}
}

func TestIntegrationRestartLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tracker.db")
	clock := newClock(epoch)
	cfg := store.Config{Mode: modes.Large, Now: clock.Now}
	h := hashOf("restart-large")

	tr := startTrackerAt(t, path, cfg, announce.HTTPConfig{})
	tr.register(t, store.Torrent{InfoHash: h})
	peers := ports(62001, 5)
	for _, p := range peers {
		left := int64(10)
		if p == 62005 {
			left = 0
		}
		tr.announce(t, peerReq{hash: h, port: p, left: left, event: "started"})
	}
	tr.stop()

	clock.Advance(time.Minute)
	tr = startTrackerAt(t, path, cfg, announce.HTTPConfig{})
	if got := tr.scrapeOne(t, h); got != (scrapeCounts{complete: 1, incomplete: 4}) {
		t.Errorf("scrape after a restart: %+v, want 1 complete, 4 incomplete", got)
	}
	res := tr.announce(t, peerReq{hash: h, port: 62006, left: 10, event: "started"})
	got := slices.Sorted(slices.Values(res.all()))
	wantPeers(t, "new peer after a restart", got, portRange(62001, 62005))
	wantCounts(t, "after a restart", res, 1, 5)
	tr.stop()

	// Long past the peer timeout (61 minutes for large): all gone.
	clock.Advance(3 * time.Hour)
	tr = startTrackerAt(t, path, cfg, announce.HTTPConfig{})
	if got := tr.scrapeOne(t, h); got != (scrapeCounts{}) {
		t.Errorf("scrape after a restart long past the timeout: %+v, want zeros", got)
	}
	res = tr.announce(t, peerReq{hash: h, port: 62007, left: 10, event: "started"})
	if len(res.all()) != 0 {
		t.Errorf("announce after expiry got %v, want no peers", res.all())
	}
	wantCounts(t, "after expiry", res, 0, 1)
}

func TestIntegrationRestartSmallKeepsNoPeers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tracker.db")
	clock := newClock(epoch)
	cfg := store.Config{Mode: modes.Large, Now: clock.Now}
	small, large := hashOf("private-small"), hashOf("private-large")

	tr := startTrackerAt(t, path, cfg, announce.HTTPConfig{})
	tr.register(t, store.Torrent{InfoHash: small, Mode: modes.Small}, store.Torrent{InfoHash: large, Mode: modes.Large})
	for _, h := range [][20]byte{small, large} {
		for _, p := range ports(63001, 4) {
			tr.announce(t, peerReq{hash: h, port: p, left: 10, event: "started"})
		}
		tr.announce(t, peerReq{hash: h, port: 63001, left: 0, event: "completed"})
	}
	if err := tr.st.Flush(); err != nil {
		t.Fatal(err)
	}
	tr.stop()

	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx *bbolt.Tx) error {
		swarms := tx.Bucket(migrate.BucketSwarms)
		if swarms == nil {
			return fmt.Errorf("no %q bucket", migrate.BucketSwarms)
		}
		if v := swarms.Get(small[:]); v != nil {
			t.Errorf("the small torrent's swarm was written to disk (%d bytes)", len(v))
		}
		if swarms.Get(large[:]) == nil {
			t.Error("the large torrent's swarm was not written: the check above proves nothing")
		}
		return swarms.ForEach(func(k, _ []byte) error {
			if string(k) != string(large[:]) {
				t.Errorf("unexpected swarm key %x", k)
			}
			return nil
		})
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	clock.Advance(time.Minute)
	tr = startTrackerAt(t, path, cfg, announce.HTTPConfig{})
	if got := tr.scrapeOne(t, small); got != (scrapeCounts{downloaded: 1}) {
		t.Errorf("small torrent after a restart: %+v, want no peers and 1 download", got)
	}
	if got := tr.scrapeOne(t, large); got != (scrapeCounts{complete: 1, incomplete: 3, downloaded: 1}) {
		t.Errorf("large torrent after a restart: %+v, want 1 complete, 3 incomplete, 1 download", got)
	}
	res := tr.announce(t, peerReq{hash: small, port: 63010, left: 10, event: "started"})
	if len(res.all()) != 0 {
		t.Errorf("small swarm after a restart gave %v, want nobody", res.all())
	}
}

func TestIntegrationCompletedSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tracker.db")
	clock := newClock(epoch)
	cfg := store.Config{Mode: modes.Large, Now: clock.Now}
	all := []modes.Mode{modes.Small, modes.Large, modes.Surge}
	hashes := map[modes.Mode][20]byte{}

	tr := startTrackerAt(t, path, cfg, announce.HTTPConfig{})
	for _, m := range all {
		h := hashOf("completed-" + m.String())
		hashes[m] = h
		tr.register(t, store.Torrent{InfoHash: h, Mode: m})
		for i, p := range ports(64001, 3) {
			tr.announce(t, peerReq{hash: h, port: p, left: 10, event: "started"})
			if i < 2 {
				tr.announce(t, peerReq{hash: h, port: p, left: 0, event: "completed"})
			}
		}
	}
	tr.stop()

	for restart := 1; restart <= 2; restart++ {
		clock.Advance(time.Duration(restart) * 2 * time.Hour) // past every peer timeout the second time
		tr = startTrackerAt(t, path, cfg, announce.HTTPConfig{})
		for _, m := range all {
			if got := tr.scrapeOne(t, hashes[m]); got.downloaded != 2 {
				t.Errorf("restart %d, %s: downloaded %d, want 2", restart, m, got.downloaded)
			}
			rec, ok := tr.torrent(t, hashes[m])
			if !ok || rec.Completed != 2 || rec.Mode != m {
				t.Errorf("restart %d, %s: Store.Torrent completed=%d mode=%v ok=%v", restart, m, rec.Completed, rec.Mode, ok)
			}
		}
		tr.stop()
	}
}

func TestIntegrationMalformedAnnounces(t *testing.T) {
	tr := startTracker(t, store.Config{Mode: modes.Large, Locked: true})
	h := hashOf("malformed")
	tr.register(t, store.Torrent{InfoHash: h})
	ih := "info_hash=" + escapeAll(h[:])
	pid := "&peer_id=" + peerIDFor(1)
	tail := "&port=6881&left=10"

	cases := []struct {
		name, query string
		want        store.Failure // "" accepts any failure reason
	}{
		{"empty query", "", announce.ErrMissingInfoHash},
		{"missing info_hash", pid[1:] + tail, announce.ErrMissingInfoHash},
		{"short info_hash", "info_hash=" + escapeAll(h[:19]) + pid + tail, announce.ErrInvalidInfoHash},
		{"long info_hash", "info_hash=" + escapeAll(append(h[:], 'x')) + pid + tail, announce.ErrInvalidInfoHash},
		{"empty info_hash", "info_hash=" + pid + tail, announce.ErrInvalidInfoHash},
		{"bad escape in info_hash", "info_hash=%zz" + escapeAll(h[1:]) + pid + tail, announce.ErrBadEscape},
		{"missing peer_id", ih + tail, announce.ErrMissingPeerID},
		{"missing port", ih + pid + "&left=10", announce.ErrMissingPort},
		{"port zero", ih + pid + "&port=0&left=10", announce.ErrInvalidPort},
		{"port too big", ih + pid + "&port=65536&left=10", announce.ErrInvalidPort},
		{"port not a number", ih + pid + "&port=http&left=10", announce.ErrInvalidPort},
		{"negative port", ih + pid + "&port=-1&left=10", announce.ErrInvalidPort},
		{"missing left", ih + pid + "&port=6881", announce.ErrMissingLeft},
		{"non-numeric left", ih + pid + "&port=6881&left=lots", announce.ErrInvalidLeft},
		{"negative left", ih + pid + "&port=6881&left=-5", announce.ErrInvalidLeft},
		{"huge left", ih + pid + "&port=6881&left=99999999999999999999999", announce.ErrInvalidLeft},
		{"bad event", ih + pid + tail + "&event=finished", announce.ErrInvalidEvent},
		{"bad numwant", ih + pid + tail + "&numwant=many", announce.ErrInvalidNumWant},
		{"bad compact", ih + pid + tail + "&compact=yes", announce.ErrInvalidCompact},
		{"conflicting port", ih + pid + tail + "&port=6882", announce.ErrDuplicateParam},
		{"garbage", "%zz&&==&=&%&info_hash&&&", ""},
		{"garbage 2", "%%%%%%%%", ""},
		{"unregistered", "info_hash=" + escapeAll(make([]byte, 20)) + pid + tail, store.ErrUnregistered},
	}
	for _, c := range cases {
		reason := failureOf(t, decodeDict(t, tr.get(t, tr.base4, "/announce?"+c.query)))
		if c.want != "" && reason != string(c.want) {
			t.Errorf("%s: failure %q, want %q", c.name, reason, c.want)
		}
		// The tracker keeps answering good requests.
		res := tr.announce(t, peerReq{hash: h, port: 65001, left: 10})
		wantCounts(t, "good announce after "+c.name, res, 0, 1)
	}
	if torrents, peers := tr.st.Counts(); torrents != 1 || peers != 1 {
		t.Errorf("after the malformed announces: %d torrents, %d peers; want 1 and 1", torrents, peers)
	}
	if got := tr.scrapeOne(t, h); got != (scrapeCounts{incomplete: 1}) {
		t.Errorf("scrape after the malformed announces: %+v", got)
	}
}

// announcePath is the whole announce path without the socket: parse the
// query, apply it to the store, encode the answer, all into reused
// buffers.
type announcePath struct {
	st    *store.Store
	query []byte
	req   store.Request
	resp  store.Response
	buf   []byte
}

func (a *announcePath) step() error {
	opts, err := announce.ParseAnnounceQuery(a.query, &a.req)
	if err != nil {
		return err
	}
	a.req.Addr = [16]byte{10, 0, 0, 1}
	a.req.BothFamilies = true
	a.resp.Reset()
	if err := a.st.Announce(&a.req, &a.resp); err != nil {
		return err
	}
	a.buf = announce.AppendAnnounce(a.buf[:0], &a.resp, opts.Compact)
	return nil
}

// newAnnouncePath opens a store with a 1000-peer large swarm (every tenth
// a seeder) and readies a re-announce by one of its leechers.
func newAnnouncePath(tb testing.TB) *announcePath {
	tb.Helper()
	clock := newClock(epoch)
	st, err := store.Open(filepath.Join(tb.TempDir(), "tracker.db"), store.Config{Mode: modes.Large, Now: clock.Now})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := st.Close(); err != nil {
			tb.Error(err)
		}
	})
	h := hashOf("alloc-path")
	if _, err := st.Register([]store.Torrent{{InfoHash: h}}); err != nil {
		tb.Fatal(err)
	}
	var resp store.Response
	for i := range 1000 {
		req := store.Request{InfoHash: h, Addr: [16]byte{10, 0, byte(i >> 8), byte(i)}, Port: 6881, Left: 100, NumWant: -1, Uploaded: uint64(i % 3)}
		if i%10 == 0 {
			req.Left = 0
		}
		resp.Reset()
		if err := st.Announce(&req, &resp); err != nil {
			tb.Fatal(err)
		}
	}
	a := &announcePath{
		st:    st,
		query: []byte(peerReq{hash: h, port: 6881, left: 100, extra: "&key=abcd&supportcrypto=1"}.query()),
		resp:  store.Response{Peers4: make([]byte, 0, 64*6), Peers6: make([]byte, 0, 64*18)},
		buf:   make([]byte, 0, 4096),
	}
	// 10.0.0.1:6881 is peer 1, a leecher: this is a re-announce.
	for range 3 {
		if err := a.step(); err != nil {
			tb.Fatal(err)
		}
	}
	return a
}

func TestIntegrationAnnounceAllocs(t *testing.T) {
	a := newAnnouncePath(t)
	res := parseAnnounce(t, decodeDict(t, a.buf))
	if len(res.all()) != 50 || res.complete != 100 || res.incomplete != 900 {
		t.Fatalf("re-announce in a 1000-peer swarm: %d peers, %d/%d; want 50 peers, 100 complete, 900 incomplete",
			len(res.all()), res.complete, res.incomplete)
	}
	if slices.Contains(res.all(), "10.0.0.1:6881") {
		t.Error("the requester was given itself")
	}
	var failed error
	allocs := testing.AllocsPerRun(1000, func() {
		if err := a.step(); err != nil && failed == nil {
			failed = err
		}
	})
	if failed != nil {
		t.Fatal(failed)
	}
	if allocs != 0 {
		t.Errorf("a steady-state announce (parse, store, encode) allocates %v times, want 0", allocs)
	}
	if torrents, peers := a.st.Counts(); torrents != 1 || peers != 1000 {
		t.Errorf("Counts() = %d, %d after the re-announces; want 1, 1000", torrents, peers)
	}
}

func BenchmarkAnnouncePath(b *testing.B) {
	a := newAnnouncePath(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := a.step(); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(a.buf)))
}

// TestIntegrationSmallBothFamilies: the small rule counts the whole swarm,
// both address families: more than 20 others means half of them.
func TestIntegrationSmallBothFamilies(t *testing.T) {
	tr := startTracker(t, store.Config{Mode: modes.Small})
	if tr.base6 == "" {
		t.Skip("no IPv6 loopback on this host")
	}
	h := hashOf("small-dual")
	tr.register(t, store.Torrent{InfoHash: h})
	for _, p := range ports(12001, 15) {
		tr.announce(t, peerReq{hash: h, port: p, left: 1})
		tr.announce(t, peerReq{hash: h, port: p, left: 1, v6: true})
	}
	// 30 peers: 29 others, so 14 of them.
	for _, is6 := range []bool{false, true} {
		res := tr.announce(t, peerReq{hash: h, port: 12001, left: 1, v6: is6})
		wantCounts(t, "dual-stack small swarm", res, 0, 30)
		if got := len(res.all()); got != 14 {
			t.Errorf("small requester (IPv6 %v) in a 30-peer dual-stack swarm got %d peers, want min(29/2, 50) = 14: %v", is6, got, res.all())
		}
	}
}
