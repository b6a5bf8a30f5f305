package loadgen

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestReportLine(t *testing.T) {
	r := Report{
		Protocol: "udp", Addr: "127.0.0.1:6969", Concurrency: 32, Rate: 5000,
		Requests: 1005, Responses: 1000, Errors: 5,
		Duration: 2 * time.Second, PerSecond: 500.4,
		P50: 41234 * time.Nanosecond, P99: 2 * time.Millisecond, Max: 15 * time.Millisecond,
		AvgPeers: 37.125, Reconnects: 3, Connects: 32,
	}
	got := r.Line()
	want := "loadtest protocol=udp addr=127.0.0.1:6969 concurrency=32 rate=5000 duration_s=2.000" +
		" requests=1005 responses=1000 errors=5 rps=500" +
		" p50_us=41.2 p99_us=2000.0 max_us=15000.0 avg_peers=37.12 reconnects=3 connects=32"
	if got != want {
		t.Errorf("Line:\n got %s\nwant %s", got, want)
	}
	if strings.Contains(got, "\n") {
		t.Error("Line has a newline")
	}
	// Every field after the first is key=value.
	for _, f := range strings.Fields(got)[1:] {
		if k, v, ok := strings.Cut(f, "="); !ok || k == "" || v == "" {
			t.Errorf("field %q is not key=value", f)
		}
	}
}

func TestLoadInfoHashes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "# whitelist\n\n"+
		"0123456789abcdef0123456789abcdef01234567\n"+
		"  FFEEDDCCBBAA99887766554433221100FFEEDDCC   # uppercase, comment\r\n"+
		"0000000000000000000000000000000000000000")
	hs, err := LoadInfoHashes(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 3 || hs[0][0] != 0x01 || hs[0][19] != 0x67 || hs[1][0] != 0xff || hs[1][19] != 0xcc || hs[2] != [20]byte{} {
		t.Errorf("LoadInfoHashes = %x", hs)
	}
	bad := []struct{ name, body, want string }{
		{"short", "0123456789abcdef\n", ":1:"},
		{"long", "# x\n0123456789abcdef0123456789abcdef0123456789\n", ":2:"},
		{"nonhex", "0123456789abcdef0123456789abcdef0123456z\n", "hex"},
		{"empty", "# nothing\n\n", "no infohashes"},
	}
	for _, tt := range bad {
		_, err := LoadInfoHashes(write(tt.name, tt.body))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want one mentioning %q", tt.name, err, tt.want)
		}
	}
	if _, err := LoadInfoHashes(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file: no error")
	}
}

func TestScanAnnounce(t *testing.T) {
	tests := []struct {
		body   string
		want   errKind
		peers  int
		peers6 int
	}{
		{"d8:intervali1800e5:peers0:e", errNone, 0, 0},
		{compactBody(50), errNone, 50, 0},
		{"d8:completei3e10:incompletei0e8:intervali900e12:min intervali60e5:peers12:abcdefghijkl6:peers618:0123456789abcdefghe", errNone, 2, 1},
		{"d8:intervali1800e5:peersld2:ip9:127.0.0.14:porti1eed2:ip1:x4:porti2eeee", errNone, 2, 0},
		{"d5:peers0:8:intervali-1ee", errNone, 0, 0}, // unsorted keys are accepted
		{"d14:failure reason4:nopee", errFailure, 0, 0},
		{"d8:intervali1800e5:peers5:abcdee", errPeers, 0, 0},
		{"d8:intervali1800e5:peers0:6:peers63:abce", errPeers, 0, 0},
		{"d5:peers0:e", errFields, 0, 0},
		{"d8:intervali1800ee", errFields, 0, 0},
		{"", errBencode, 0, 0},
		{"l5:peerse", errBencode, 0, 0},
		{"d8:intervali1800e5:peers0:", errBencode, 0, 0},
		{"d8:intervali1800e5:peers0:ee", errBencode, 0, 0},
		{"d8:intervali01e5:peers0:e", errBencode, 0, 0},
		{"d8:intervali-0e5:peers0:e", errBencode, 0, 0},
		{"d8:intervalie5:peers0:e", errBencode, 0, 0},
		{"d8:interval4:abcd5:peers0:e", errBencode, 0, 0},
		{"d8:intervali1e5:peers99:abce", errBencode, 0, 0},
		{"d8:intervali1e5:peers06:abcdefe", errBencode, 0, 0},
		{"d8:intervali1e5:peersli1eee", errBencode, 0, 0},
		{"di1e8:intervale", errBencode, 0, 0},
		{"d8:intervali1e5:peers0:1:x" + strings.Repeat("l", 40) + strings.Repeat("e", 40) + "e", errBencode, 0, 0},
	}
	for _, tt := range tests {
		var res scanResult
		got := scanAnnounce([]byte(tt.body), &res)
		if got != tt.want || got == errNone && (res.peers != tt.peers || res.peers6 != tt.peers6) {
			t.Errorf("scanAnnounce(%q) = %v, %d+%d peers; want %v, %d+%d", tt.body, got, res.peers, res.peers6, tt.want, tt.peers, tt.peers6)
		}
	}
}

func TestParseRespHead(t *testing.T) {
	tests := []struct {
		head string
		ok   bool
		want respHead
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", true, respHead{200, 12, true, false}},
		{"HTTP/1.1 200 OK\r\ncontent-length:0\r\nCONNECTION: Close\r\n\r\n", true, respHead{200, 0, false, false}},
		{"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n", true, respHead{200, 5, false, false}},
		{"HTTP/1.0 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n", true, respHead{200, 5, true, false}},
		{"HTTP/1.1 404\r\nContent-Length: 5\r\n\r\n", true, respHead{404, 5, true, false}},
		{"HTTP/1.1 200 OK\r\n\r\n", true, respHead{200, -1, false, false}},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true, respHead{200, -1, false, true}},
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", false, respHead{}},
		{"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false, respHead{}},
		{"HTTP/2 200 OK\r\n\r\n", false, respHead{}},
		{"HTTP/1.1 2000 OK\r\n\r\n", false, respHead{}},
		{"HTTP/1.1 200 OK\r\nbroken header\r\n\r\n", false, respHead{}},
	}
	for _, tt := range tests {
		var h respHead
		ok := parseRespHead([]byte(tt.head), &h)
		if ok != tt.ok || ok && h != tt.want {
			t.Errorf("parseRespHead(%q) = %v %+v, want %v %+v", tt.head, ok, h, tt.ok, tt.want)
		}
	}
}

func TestAppendEscaped(t *testing.T) {
	got := string(appendEscaped(nil, []byte("aZ09-._~ /%\x00\xff")))
	if want := "aZ09-._~%20%2F%25%00%FF"; got != want {
		t.Errorf("appendEscaped = %q, want %q", got, want)
	}
}

func TestHistogram(t *testing.T) {
	for ns := uint64(0); ns < 1<<20; ns += 7 {
		lo, hi := bucketRange(bucketOf(ns))
		if ns < lo || ns > hi {
			t.Fatalf("%d in bucket %d = [%d, %d]", ns, bucketOf(ns), lo, hi)
		}
	}
	for _, ns := range []uint64{1 << 40, 1<<63 - 1, math.MaxUint64} {
		if b := bucketOf(ns); b >= histBuckets {
			t.Errorf("bucketOf(%d) = %d, past %d buckets", ns, b, histBuckets)
		}
	}
	var h histogram
	if h.quantile(0.5) != 0 {
		t.Error("empty histogram has a median")
	}
	// 1µs .. 10ms uniformly: p50 about 5ms, p99 about 9.9ms.
	for i := 1; i <= 10000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5 * time.Millisecond}, {0.99, 9900 * time.Microsecond}, {1, 10 * time.Millisecond}} {
		got := h.quantile(c.q)
		if math.Abs(float64(got-c.want))/float64(c.want) > 0.035 {
			t.Errorf("quantile(%v) = %v, want %v within 3.5%%", c.q, got, c.want)
		}
	}
	if h.max != uint64(10*time.Millisecond) {
		t.Errorf("max %d", h.max)
	}
	// Recording allocates nothing.
	if n := testing.AllocsPerRun(100, func() { h.record(time.Millisecond) }); n != 0 {
		t.Errorf("record allocates %v", n)
	}
}

func TestWorkload(t *testing.T) {
	cfg, err := Config{Addr: "x:1", Duration: time.Second, Torrents: 1000, Peers: 20000, Concurrency: 7, Seed: 9}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	a, b := newWorkload(cfg), newWorkload(cfg)
	if !slices.Equal(a.torrents, b.torrents) || !slices.Equal(a.hashes, b.hashes) {
		t.Error("same seed, different workloads")
	}
	cfg.Seed++
	if c := newWorkload(cfg); slices.Equal(a.torrents, c.torrents) {
		t.Error("different seeds, same workload")
	}

	// Popularity is skewed: the busiest torrent has far more than its
	// uniform share (20), and most torrents have some peers.
	count := make([]int, len(a.hashes))
	for _, tr := range a.torrents {
		count[tr]++
	}
	busiest, used := 0, 0
	for _, n := range count {
		busiest = max(busiest, n)
		if n > 0 {
			used++
		}
	}
	if busiest < 1000 || used < 300 {
		t.Errorf("busiest torrent %d peers, %d torrents used; want skew and spread", busiest, used)
	}

	// Workers share the peers out, each peer exactly once.
	total := 0
	for w := range cfg.Concurrency {
		total += a.localPeers(w)
	}
	if total != cfg.Peers {
		t.Errorf("workers own %d peers, want %d", total, cfg.Peers)
	}

	// A worker first starts each of its peers, then mixes events; seeders
	// and leechers report left accordingly.
	p := newPeers(a, 3)
	n := len(p.state)
	seen := map[int]bool{}
	for range n {
		an := p.next()
		if an.ev != evStarted || seen[an.peer] || an.peer%cfg.Concurrency != 3 {
			t.Fatalf("first pass: %+v", an)
		}
		seen[an.peer] = true
		if (an.left == 0) != a.startsSeeding(an.peer) {
			t.Fatalf("peer %d left %d, seeder %v", an.peer, an.left, a.startsSeeding(an.peer))
		}
	}
	var events [4]int
	seeders := 0
	for range 100000 {
		an := p.next()
		events[an.ev]++
		if an.ev == evCompleted && an.left != 0 {
			t.Fatalf("completed with left %d", an.left)
		}
	}
	for j := range p.state {
		if p.state[j]&stSeeder != 0 {
			seeders++
		}
	}
	if events[evNone] < 90000 || events[evStopped] < 500 || events[evCompleted] < 200 || events[evStarted] < 500 {
		t.Errorf("event mix %v (none, completed, started, stopped)", events)
	}
	if frac := float64(seeders) / float64(n); frac < DefaultSeeders || frac > 0.9 {
		t.Errorf("seeder fraction %.2f", frac)
	}
}

func TestSourceAddr(t *testing.T) {
	lo, _ := resolve("http", "127.0.0.1:6969")
	if got := sourceAddr(lo.Addr(), 0, false).String(); got != "127.1.0.1" {
		t.Errorf("worker 0: %s", got)
	}
	if got := sourceAddr(lo.Addr(), 300, false).String(); got != "127.1.1.45" {
		t.Errorf("worker 300: %s", got)
	}
	if sourceAddr(lo.Addr(), 0, true).IsValid() {
		t.Error("SingleSource still binds")
	}
	v6, _ := resolve("http", "[::1]:6969")
	if sourceAddr(v6.Addr(), 0, false).IsValid() {
		t.Error("IPv6 target binds")
	}
	other, _ := resolve("http", "192.0.2.1:6969")
	if sourceAddr(other.Addr(), 0, false).IsValid() {
		t.Error("non-loopback target binds")
	}
}

func TestRequestAllocs(t *testing.T) {
	cfg, _ := Config{Addr: "127.0.0.1:1", Duration: time.Second}.normalize()
	g := &run{cfg: cfg, wl: newWorkload(cfg)}
	c := &httpClient{g: g, req: make([]byte, 0, 512)}
	p := newPeers(g.wl, 0)
	u := &udpClient{g: g}
	if n := testing.AllocsPerRun(1000, func() {
		a := p.next()
		c.req = appendRequest(c.req[:0], g, &c.id, a)
		u.putAnnounce(&u.slots[0].pkt, a)
	}); n != 0 {
		t.Errorf("building a request allocates %v", n)
	}
	var res scanResult
	body := []byte(compactBody(50))
	if n := testing.AllocsPerRun(1000, func() { scanAnnounce(body, &res) }); n != 0 {
		t.Errorf("scanning an answer allocates %v", n)
	}
}

func TestPacing(t *testing.T) {
	us := time.Microsecond
	for _, c := range []struct {
		interval time.Duration
		window   int
		win      int
		every    time.Duration
	}{
		{0, udpWindow, udpWindow, 0},              // unpaced: a full window
		{376 * us, udpWindow, 1, 376 * us},        // 42,500/s over 16 workers: one at a time
		{pacedBurstBelow, udpWindow, 1, 250 * us}, // the boundary itself: one at a time
		{200 * us, udpWindow, 6, 1200 * us},       // 80,000/s: groups of 6
		{128 * us, udpWindow, 8, 1024 * us},       // 125,000/s: groups of 8
		{50 * us, udpWindow, udpWindow, 400 * us}, // never more than the window
		{128 * us, 1, 1, 128 * us},                // a client without a window (HTTP)
	} {
		win, every := pacing(c.interval, c.window)
		if win != c.win || every != c.every {
			t.Errorf("pacing(%v, %d) = %d, %v; want %d, %v", c.interval, c.window, win, every, c.win, c.every)
		}
	}
	// Over every interval from 1 µs to 2 ms: the rate stays what was asked
	// for, groups fit the window, a worker groups exactly when its interval
	// is shorter than pacedBurstBelow, and then (unless the window caps the
	// group) one group leaves about every pacedBurstEvery.
	for interval := us; interval <= 2*time.Millisecond; interval += us {
		win, every := pacing(interval, udpWindow)
		if every != interval*time.Duration(win) || win < 1 || win > udpWindow {
			t.Fatalf("pacing(%v) = %d every %v", interval, win, every)
		}
		if (win > 1) != (interval < pacedBurstBelow) {
			t.Fatalf("pacing(%v) = %d at a time", interval, win)
		}
		if win > 1 && win < udpWindow && (every <= pacedBurstEvery || every > pacedBurstEvery+interval) {
			t.Fatalf("pacing(%v) = %d every %v; want one group about every %v", interval, win, every, pacedBurstEvery)
		}
	}
}
