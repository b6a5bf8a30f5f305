package announce

import (
	"bufio"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"johnlocke/announce/limit"
)

// dialFrom connects to addr from the loopback address from (127.0.0.2,
// say: the kernel answers for all of 127.0.0.0/8), so one test can be
// several source addresses.
func dialFrom(t testing.TB, from, addr string) *client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// served checks that c's announce is answered with a 200.
func served(t testing.TB, c *client, who string) {
	t.Helper()
	c.send(get(announceTarget("")))
	if r := c.read(); r.status != 200 {
		t.Fatalf("%s: status %d, want 200", who, r.status)
	}
}

// TestHTTPConnsPerSource: one address holding its share of connections
// (the default one) is refused more, and another address is still served.
func TestHTTPConnsPerSource(t *testing.T) {
	_, addr := startServer(t, newFakeTracker(), testConfig())
	const share = DefaultMaxConnsPerIP
	held := make([]*client, share)
	for i := range held {
		held[i] = dialFrom(t, "127.0.0.1", addr)
		served(t, held[i], "a connection within the share") // answered, so counted
	}
	over := dialFrom(t, "127.0.0.1", addr)
	over.send(get(announceTarget("")))
	over.expectClosed()

	other := dialFrom(t, "127.0.0.2", addr)
	served(t, other, "127.0.0.2 while 127.0.0.1 is at its cap")
	// The connections within the share keep working.
	served(t, held[0], "a held connection")
}

// TestHTTPConnsPerSourceBelowGlobalCap: the per-source share is held under
// the global cap, so a second address is served even when the operator
// set the share above it.
func TestHTTPConnsPerSourceBelowGlobalCap(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConns = 4
	cfg.MaxConnsPerIP = 100
	_, addr := startServer(t, newFakeTracker(), cfg)
	for range 2 {
		served(t, dialFrom(t, "127.0.0.1", addr), "within the share")
	}
	over := dialFrom(t, "127.0.0.1", addr)
	over.send(get(announceTarget("")))
	over.expectClosed()
	served(t, dialFrom(t, "127.0.0.2", addr), "a second address")
}

// TestHTTPTrustedProxyHasNoConnShare: a trusted proxy carries everyone's
// connections, so the per-source share does not apply to it.
func TestHTTPTrustedProxyHasNoConnShare(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConnsPerIP = 2
	cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	_, addr := startServer(t, newFakeTracker(), cfg)
	for i := range 5 {
		served(t, dialFrom(t, "127.0.0.1", addr), "proxy connection "+strconv.Itoa(i+1))
	}
}

// TestHTTPNotFoundCloses: a request for a path that is neither announce
// nor scrape is answered 404 and the connection closed, so a client
// re-asking for "/" cannot hold a connection slot for ever.
func TestHTTPNotFoundCloses(t *testing.T) {
	_, addr := startServer(t, newFakeTracker(), testConfig())
	for _, target := range []string{"/", "/favicon.ico", "/stats"} {
		c := dial(t, addr)
		c.send(get(target))
		r := c.read()
		if r.status != 404 || !r.close {
			t.Errorf("GET %s: status %d close %v, want 404 and close", target, r.status, r.close)
		}
		c.expectClosed()
	}
}

// TestHTTPHeaderFraming: a head whose framing a proxy in front may read
// differently is refused with 400 and the connection closed, and the body
// it carries is never served as a second request.
func TestHTTPHeaderFraming(t *testing.T) {
	smuggled := "GET /announce?" + base + " HTTP/1.1\r\nHost: x\r\n\r\n"
	start := "GET /announce?" + base + " HTTP/1.1\r\nHost: x\r\n"
	tests := []struct {
		name string
		raw  string
	}{
		{"space before colon, Content-Length", start + "Content-Length : " + strconv.Itoa(len(smuggled)) + "\r\n\r\n" + smuggled},
		{"space before colon, Transfer-Encoding", start + "Transfer-Encoding : chunked\r\n\r\n" + strconv.FormatInt(int64(len(smuggled)), 16) + "\r\n" + smuggled + "\r\n0\r\n\r\n"},
		{"tab before colon", start + "Content-Length\t: " + strconv.Itoa(len(smuggled)) + "\r\n\r\n" + smuggled},
		{"tab in name", start + "Content\tLength: " + strconv.Itoa(len(smuggled)) + "\r\n\r\n" + smuggled},
		{"NUL in name", start + "Content-Length\x00: " + strconv.Itoa(len(smuggled)) + "\r\n\r\n" + smuggled},
		{"NUL in value", start + "X-A: b\x00c\r\n\r\n"},
		{"separator in name", start + "Content/Length: 1\r\n\r\nx"},
		{"bare CR in value", start + "X-A: b\rContent-Length: " + strconv.Itoa(len(smuggled)) + "\r\n\r\n" + smuggled},
		{"bare CR ending a line", start + "X-A: b\r\rContent-Length: 3\r\n\r\nabc"},
		{"bare CR in request line", "GET /announce?" + base + "\r HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"space in name", start + "Content Length: 3\r\n\r\nabc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newFakeTracker()
			_, addr := startServer(t, tr, testConfig())
			c := dial(t, addr)
			c.send(tt.raw)
			r := c.read()
			if r.status != 400 || !r.close {
				t.Errorf("status %d close %v, want 400 and close", r.status, r.close)
			}
			c.expectClosed()
			var calls int
			tr.set(func(f *fakeTracker) { calls = f.calls })
			if calls != 0 {
				t.Errorf("%d announces reached the tracker, want none", calls)
			}
		})
	}
	// What is allowed stays allowed: every token character in a name, and
	// a tab or spaces around a value.
	c := dial(t, startServerAddr(t))
	c.send(start + "X-!#$%&'*+-.^_`|~09az: ok\r\nX-B:\tvalue with spaces \r\n\r\n")
	if r := c.read(); r.status != 200 {
		t.Errorf("token-character name: status %d", r.status)
	}
}

func startServerAddr(t testing.TB) string {
	_, addr := startServer(t, newFakeTracker(), testConfig())
	return addr
}

// TestHTTPRateLimit: past its burst a source's announces and scrapes get
// a failure saying when to retry, while another source is served, and it
// is served again once the time has passed.
func TestHTTPRateLimit(t *testing.T) {
	var now atomic.Int64 // read by the server's connections
	now.Store(int64(time.Hour))
	rate := limit.NewRate(1, 2, func() time.Duration { return time.Duration(now.Load()) })
	cfg := testConfig()
	cfg.RateLimit = rate
	tr := newFakeTracker()
	_, addr := startServer(t, tr, cfg)

	c := dialFrom(t, "127.0.0.1", addr)
	for i := range 2 {
		c.send(get(announceTarget("")))
		if d := decodeDict(t, c.read().body); d["failure reason"] != nil {
			t.Fatalf("announce %d within the burst: %#v", i+1, d)
		}
	}
	for _, target := range []string{announceTarget(""), "/scrape?info_hash=" + escapeAll(ih[:])} {
		c.send(get(target))
		r := c.read()
		d := decodeDict(t, r.body)
		if d["failure reason"] != "rate limited; retry in 1 s" || d["retry in"] != int64(1) {
			t.Errorf("GET %.20s past the burst: %#v", target, d)
		}
		if r.status != 200 || r.close {
			t.Errorf("a rate-limited answer should be a 200 on a kept connection: %d close %v", r.status, r.close)
		}
	}
	var calls int
	tr.set(func(f *fakeTracker) { calls = f.calls })
	if calls != 2 {
		t.Errorf("%d announces reached the tracker, want 2", calls)
	}

	other := dialFrom(t, "127.0.0.2", addr)
	other.send(get(announceTarget("")))
	if d := decodeDict(t, other.read().body); d["failure reason"] != nil {
		t.Errorf("127.0.0.2 while 127.0.0.1 is limited: %#v", d)
	}

	now.Add(int64(time.Second))
	c.send(get(announceTarget("")))
	if d := decodeDict(t, c.read().body); d["failure reason"] != nil {
		t.Errorf("a second later: %#v", d)
	}
}

// TestHTTPRateLimitBehindProxy: behind a trusted proxy each forwarded
// client has its own bucket, not the proxy's.
func TestHTTPRateLimitBehindProxy(t *testing.T) {
	cfg := testConfig()
	cfg.RateLimit = limit.NewRate(1, 1, func() time.Duration { return time.Hour })
	cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	_, addr := startServer(t, newFakeTracker(), cfg)
	c := dial(t, addr)
	ask := func(client string) any {
		c.send("GET " + announceTarget("") + " HTTP/1.1\r\nX-Forwarded-For: " + client + "\r\n\r\n")
		return decodeDict(t, c.read().body)["failure reason"]
	}
	if f := ask("198.51.100.1"); f != nil {
		t.Fatalf("first client: %v", f)
	}
	if f := ask("198.51.100.1"); f == nil {
		t.Fatal("first client past its burst was served")
	}
	if f := ask("198.51.100.2"); f != nil {
		t.Errorf("second client behind the same proxy: %v", f)
	}
}

func TestAppendRateLimited(t *testing.T) {
	tests := []struct {
		wait    time.Duration
		reason  string
		retryIn int64
	}{
		{time.Nanosecond, "rate limited; retry in 1 s", 1},
		{1500 * time.Millisecond, "rate limited; retry in 2 s", 1},
		{61 * time.Second, "rate limited; retry in 61 s", 2},
	}
	for _, tt := range tests {
		d := decodeDict(t, AppendRateLimited(nil, tt.wait))
		if d["failure reason"] != tt.reason || d["retry in"] != tt.retryIn {
			t.Errorf("wait %v: %#v", tt.wait, d)
		}
	}
	buf := make([]byte, 0, 128)
	if n := testing.AllocsPerRun(100, func() { AppendRateLimited(buf, time.Hour) }); n != 0 {
		t.Errorf("%v allocations, want 0", n)
	}
}

// TestHTTPKeepAlivePolicy: --http-keepalive off closes every connection
// after its answer, proxies keeps only trusted proxies' open, on keeps any
// whose request allows it.
func TestHTTPKeepAlivePolicy(t *testing.T) {
	for _, tt := range []struct {
		policy               KeepAlive
		keepProxy, keepOther bool
	}{
		{KeepAliveOn, true, true},
		{KeepAliveOff, false, false},
		{KeepAliveProxies, true, false},
	} {
		cfg := testConfig()
		cfg.KeepAlive = tt.policy
		cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}
		cfg.TrustedProxyHeader = "X-Real-IP"
		_, addr := startServer(t, newFakeTracker(), cfg)
		for _, from := range []struct {
			addr, header string
			keep         bool
		}{
			{"127.0.0.2", "X-Real-IP: 198.51.100.7\r\n", tt.keepProxy},
			{"127.0.0.3", "", tt.keepOther},
		} {
			c := dialFrom(t, from.addr, addr)
			req := strings.Replace(get(announceTarget("")), "\r\n\r\n", "\r\n"+from.header+"\r\n", 1)
			c.send(req)
			r := c.read()
			if r.status != 200 || r.close == from.keep {
				t.Fatalf("%v from %s: status %d, Connection: close %v; want 200, kept alive %v", tt.policy, from.addr, r.status, r.close, from.keep)
			}
			if from.keep {
				served(t, c, tt.policy.String()+" kept alive")
			} else {
				c.expectClosed()
			}
		}
	}
}

func TestParseKeepAlive(t *testing.T) {
	for _, k := range []KeepAlive{KeepAliveOn, KeepAliveOff, KeepAliveProxies} {
		if got, err := ParseKeepAlive(k.String()); err != nil || got != k {
			t.Errorf("ParseKeepAlive(%q) = %v, %v", k.String(), got, err)
		}
	}
	if _, err := ParseKeepAlive("yes"); err == nil {
		t.Error("ParseKeepAlive(\"yes\") took it")
	}
}
