package announce

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"johnlocke/announce/limit"
	"johnlocke/store"
)

// fakeTracker records the last announce and answers with canned peers.
type fakeTracker struct {
	mu     sync.Mutex
	last   store.Request
	calls  int
	peers4 []byte
	peers6 []byte
	err    error
	panics bool
	known  map[[20]byte]store.ScrapeCounts
}

func newFakeTracker() *fakeTracker {
	return &fakeTracker{
		peers4: append(compactPeer4("192.0.2.1", 6881), compactPeer4("192.0.2.2", 6882)...),
		peers6: compactPeer6("2001:db8::7", 51413),
		known:  make(map[[20]byte]store.ScrapeCounts),
	}
}

func (f *fakeTracker) Announce(req *store.Request, resp *store.Response) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = *req
	f.calls++
	if f.panics {
		panic("fake tracker told to panic")
	}
	if f.err != nil {
		return f.err
	}
	resp.Peers4 = append(resp.Peers4, f.peers4...)
	resp.Peers6 = append(resp.Peers6, f.peers6...)
	resp.Interval, resp.MinInterval = 1800, 900
	resp.Complete, resp.Incomplete, resp.Downloaded = 3, 2, 7
	return nil
}

func (f *fakeTracker) Scrape(infoHash [20]byte) (store.ScrapeCounts, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.known[infoHash]
	return c, ok
}

func (f *fakeTracker) lastRequest() store.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

func (f *fakeTracker) set(fn func(f *fakeTracker)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// testConfig has short timeouts so the timeout tests run quickly.
func testConfig() HTTPConfig {
	return HTTPConfig{ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, IdleTimeout: 5 * time.Second}
}

// startServer serves tr on a fresh listener on network/addr and stops it
// when the test ends, checking that Serve returned nil.
func startServerOn(t testing.TB, network, addr string, tr Tracker, cfg HTTPConfig) (*HTTPServer, string) {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	s := NewHTTPServer(tr, cfg, zerolog.Nop())
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-errc; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, ln.Addr().String()
}

func startServer(t testing.TB, tr Tracker, cfg HTTPConfig) (*HTTPServer, string) {
	return startServerOn(t, "tcp", "127.0.0.1:0", tr, cfg)
}

// client is a raw TCP client reading responses with net/http's parser.
type client struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *client) send(raw string) {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, raw); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
	close  bool
}

func (c *client) read() response {
	c.t.Helper()
	r, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.t.Fatalf("read response: %v", err)
	}
	defer r.Body.Close()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		c.t.Fatalf("read body: %v", err)
	}
	return response{status: r.StatusCode, header: r.Header, body: body, close: r.Close}
}

// expectClosed checks that the server closes the connection with nothing
// more to say.
func (c *client) expectClosed() {
	c.t.Helper()
	b, err := c.br.ReadByte()
	if err == nil {
		c.t.Fatalf("read %q, want the connection closed", b)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatal("the server did not close the connection")
	}
}

func get(target string) string {
	return "GET " + target + " HTTP/1.1\r\nHost: tracker.example\r\nUser-Agent: qBittorrent/4.6.2\r\nAccept-Encoding: gzip\r\n\r\n"
}

func announceTarget(extra string) string {
	return "/announce?" + base + extra
}

func TestHTTPAnnounce(t *testing.T) {
	tr := newFakeTracker()
	_, addr := startServer(t, tr, testConfig())
	c := dial(t, addr)
	c.send(get(announceTarget("&event=started&numwant=30")))
	r := c.read()
	if r.status != 200 || r.header.Get("Content-Type") != "text/plain" || r.close {
		t.Fatalf("got %d %v close=%v", r.status, r.header, r.close)
	}
	if cl := r.header.Get("Content-Length"); cl != strconv.Itoa(len(r.body)) {
		t.Errorf("Content-Length %s for %d bytes", cl, len(r.body))
	}
	d := decodeDict(t, r.body)
	if d["peers"] != string(tr.peers4) || d["peers6"] != string(tr.peers6) || d["interval"] != int64(1800) || d["complete"] != int64(3) {
		t.Errorf("got %#v", d)
	}
	req := tr.lastRequest()
	want := store.Request{InfoHash: ih, PeerID: pid, Port: 6881, Left: 100, Event: store.EventStarted, NumWant: 30, BothFamilies: true}
	copy(want.Addr[:], []byte{127, 0, 0, 1})
	if req != want {
		t.Errorf("request\n got %+v\nwant %+v", req, want)
	}
}

func TestHTTPAnnounceDictModel(t *testing.T) {
	tr := newFakeTracker()
	_, addr := startServer(t, tr, testConfig())
	c := dial(t, addr)
	c.send(get(announceTarget("&compact=0")))
	d := decodeDict(t, c.read().body)
	peers, ok := d["peers"].([]any)
	if !ok || len(peers) != 3 {
		t.Fatalf("peers = %#v", d["peers"])
	}
	if p := peers[2].(map[string]any); p["ip"] != "2001:db8::7" || p["port"] != int64(51413) {
		t.Errorf("third peer = %#v", p)
	}
}

func TestHTTPAnnounceFailures(t *testing.T) {
	tr := newFakeTracker()
	_, addr := startServer(t, tr, testConfig())
	tests := []struct {
		name   string
		target string
		err    error
		want   string
	}{
		{"bad query", "/announce?" + strings.Replace(base, "port=6881", "port=0", 1), nil, string(ErrInvalidPort)},
		{"no query", "/announce", nil, string(ErrMissingInfoHash)},
		{"store failure", announceTarget(""), store.ErrUnregistered, string(store.ErrUnregistered)},
		{"wrapped store failure", announceTarget(""), fmt.Errorf("swarm: %w", store.ErrTorrentLimit), string(store.ErrTorrentLimit)},
		{"other error", announceTarget(""), errors.New("disk on fire"), string(ErrInternal)},
	}
	c := dial(t, addr)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr.set(func(f *fakeTracker) { f.err = tt.err })
			c.send(get(tt.target))
			r := c.read()
			if r.status != 200 || r.close {
				t.Errorf("status %d close %v: a tracker failure is a 200 on a live connection", r.status, r.close)
			}
			if d := decodeDict(t, r.body); d["failure reason"] != tt.want {
				t.Errorf("got %#v, want failure %q", d, tt.want)
			}
		})
	}
}

func TestHTTPScrape(t *testing.T) {
	tr := newFakeTracker()
	a, b, unknown := [20]byte{1}, [20]byte{2, 'x'}, [20]byte{3}
	tr.known[a] = store.ScrapeCounts{Complete: 10, Incomplete: 20, Downloaded: 30}
	tr.known[b] = store.ScrapeCounts{Complete: 1}
	_, addr := startServer(t, tr, testConfig())
	c := dial(t, addr)
	c.send(get("/x/scrape?info_hash=" + escapeAll(b[:]) + "&info_hash=" + escapeAll(unknown[:]) + "&info_hash=" + escapeAll(a[:]) + "&info_hash=" + escapeAll(b[:])))
	r := c.read()
	d := decodeDict(t, r.body)
	want := map[string]any{"files": map[string]any{
		string(a[:]): map[string]any{"complete": int64(10), "incomplete": int64(20), "downloaded": int64(30)},
		string(b[:]): map[string]any{"complete": int64(1), "incomplete": int64(0), "downloaded": int64(0)},
	}}
	if r.status != 200 || fmt.Sprint(d) != fmt.Sprint(want) {
		t.Errorf("got %d %#v\nwant %#v", r.status, d, want)
	}
	c.send(get("/scrape.php"))
	if d := decodeDict(t, c.read().body); d["failure reason"] != string(ErrFullScrape) {
		t.Errorf("full scrape: got %#v", d)
	}
}

func TestHTTPRoutes(t *testing.T) {
	tr := newFakeTracker()
	_, addr := startServer(t, tr, testConfig())
	tests := []struct {
		target string
		status int
	}{
		{"/", 404},
		{"/favicon.ico", 404},
		{"/announce/", 404},
		{"/announcex?" + base, 404},
		{"/announce?" + base, 200},
		{"/announce.php?" + base, 200},
		{"/a1b2c3d4passkey/announce?" + base, 200},
		{"http://tracker.example/announce?" + base, 200},
		{"http://tracker.example", 404},
		{"*", 400},
	}
	c := dial(t, addr)
	for _, tt := range tests {
		c.send(get(tt.target))
		r := c.read()
		if r.status != tt.status {
			t.Errorf("GET %.40s: status %d, want %d", tt.target, r.status, tt.status)
		}
		if tt.status == 404 && (!r.close || string(r.body) != "not found\n") {
			t.Errorf("404 should say so and close the connection: %q close=%v", r.body, r.close)
		}
		if tt.status != 200 {
			c.expectClosed()
			c = dial(t, addr)
		}
	}
}

func TestHTTPBadRequests(t *testing.T) {
	tr := newFakeTracker()
	_, addr := startServer(t, tr, testConfig())
	huge := "/announce?" + base + "&pad=" + strings.Repeat("x", ReadBufferSize)
	tests := []struct {
		name   string
		raw    string
		status int
	}{
		{"POST", "POST /announce HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405},
		{"HEAD", "HEAD /announce HTTP/1.1\r\nHost: x\r\n\r\n", 405},
		{"oversized request line", "GET " + huge + " HTTP/1.1\r\n\r\n", 414},
		{"oversized headers", "GET / HTTP/1.1\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("y", 100)+"\r\n", 50) + "\r\n", 431},
		{"body", "GET /announce?" + base + " HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 400},
		{"chunked", "GET /announce?" + base + " HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"bad content-length", "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400},
		{"HTTP/0.9", "GET /announce\r\n\r\n", 400},
		{"no colon", "GET / HTTP/1.1\r\nNoColonHere\r\n\r\n", 400},
		{"folded header", "GET / HTTP/1.1\r\nX-A: b\r\n c\r\n\r\n", 400},
		{"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, addr)
			c.send(tt.raw)
			r := c.read()
			if r.status != tt.status || !r.close {
				t.Errorf("status %d close %v, want %d and close", r.status, r.close, tt.status)
			}
			if tt.status == 405 && r.header.Get("Allow") != "GET" {
				t.Errorf("405 without Allow: GET: %v", r.header)
			}
			c.expectClosed()
		})
	}
}

func TestHTTPKeepAlive(t *testing.T) {
	tr := newFakeTracker()
	_, addr := startServer(t, tr, testConfig())
	c := dial(t, addr)
	for i := range 3 {
		c.send(get(announceTarget("&numwant=" + strconv.Itoa(i))))
		if r := c.read(); r.status != 200 || r.close {
			t.Fatalf("request %d: %d close=%v", i, r.status, r.close)
		}
		if got := tr.lastRequest().NumWant; got != int32(i) {
			t.Errorf("request %d reached the tracker with numwant %d", i, got)
		}
	}
	// Connection: close is honoured.
	c.send("GET /announce?" + base + " HTTP/1.1\r\nConnection: Keep-Alive, close\r\n\r\n")
	if r := c.read(); r.status != 200 || !r.close {
		t.Fatalf("got %d %v", r.status, r.header)
	}
	c.expectClosed()
}

func TestHTTPPipelined(t *testing.T) {
	tr := newFakeTracker()
	h := [20]byte{9}
	tr.known[h] = store.ScrapeCounts{Complete: 99}
	_, addr := startServer(t, tr, testConfig())
	c := dial(t, addr)
	// Three requests in one write, with bare-LF line endings in the middle one.
	c.send(get(announceTarget("")) +
		"GET /announce?" + base[:19] + " HTTP/1.1\nHost: x\n\n" +
		get("/scrape?info_hash="+escapeAll(h[:])))
	r1, r2, r3 := c.read(), c.read(), c.read()
	if d := decodeDict(t, r1.body); d["interval"] != int64(1800) {
		t.Errorf("first: %#v", d)
	}
	if d := decodeDict(t, r2.body); d["failure reason"] != string(ErrInvalidInfoHash) {
		t.Errorf("second: %#v", d)
	}
	if d := decodeDict(t, r3.body); !strings.Contains(fmt.Sprint(d), "complete:99") {
		t.Errorf("third: %#v", d)
	}
}

func TestHTTP10(t *testing.T) {
	tr := newFakeTracker()
	_, addr := startServer(t, tr, testConfig())

	c := dial(t, addr)
	c.send("GET /announce?" + base + " HTTP/1.0\r\n\r\n")
	if r := c.read(); r.status != 200 || !r.close {
		t.Fatalf("HTTP/1.0: %d %v", r.status, r.header)
	}
	c.expectClosed()

	c = dial(t, addr)
	for range 2 {
		c.send("GET /announce?" + base + " HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
		if r := c.read(); r.status != 200 || r.header.Get("Connection") != "keep-alive" {
			t.Fatalf("HTTP/1.0 keep-alive: %d %v", r.status, r.header)
		}
	}
}

func TestHTTPSlowClientCutOff(t *testing.T) {
	cfg := testConfig()
	cfg.ReadTimeout = 300 * time.Millisecond
	tr := newFakeTracker()
	_, addr := startServer(t, tr, cfg)

	// A client dribbling a byte every 20ms is cut off although it never
	// stops sending.
	c := dial(t, addr)
	req := get(announceTarget(""))
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < len(req)-2; i++ {
			if _, err := c.nc.Write([]byte{req[i]}); err != nil {
				return
			}
			<-tick.C
		}
	}()
	c.expectClosed()
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("cut off after %v", el)
	}
	<-done
	var calls int
	tr.set(func(f *fakeTracker) { calls = f.calls })
	if calls != 0 {
		t.Error("the partial request reached the tracker")
	}

	// The same for the second request on a keep-alive connection.
	c = dial(t, addr)
	c.send(get(announceTarget("")))
	c.read()
	c.send("GET /announce?")
	start = time.Now()
	c.expectClosed()
	if el := time.Since(start); el < 200*time.Millisecond || el > 3*time.Second {
		t.Errorf("second request cut off after %v, want about %v", el, cfg.ReadTimeout)
	}
}

func TestHTTPIdleTimeout(t *testing.T) {
	cfg := testConfig()
	cfg.IdleTimeout = 200 * time.Millisecond
	_, addr := startServer(t, newFakeTracker(), cfg)
	c := dial(t, addr)
	c.send(get(announceTarget("")))
	c.read()
	start := time.Now()
	c.expectClosed()
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("idle connection closed after %v", el)
	}
}

func TestHTTPClientAddress(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	elsewhere := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	chain := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name    string
		trusted []netip.Prefix
		header  string // HTTPConfig.TrustedProxyHeader
		headers string
		want    string // the address the tracker sees
		fail    store.Failure
	}{
		{name: "no proxy", headers: "", want: "127.0.0.1"},
		{name: "untrusted XFF", trusted: elsewhere, headers: "X-Forwarded-For: 203.0.113.7\r\n", want: "127.0.0.1"},
		{name: "untrusted X-Real-IP", headers: "X-Real-IP: 203.0.113.7\r\n", want: "127.0.0.1"},
		{name: "trusted XFF last entry", trusted: loopback, headers: "X-Forwarded-For: 198.51.100.1, 203.0.113.7\r\n", want: "203.0.113.7"},
		{name: "trusted XFF two headers", trusted: loopback, headers: "X-Forwarded-For: 198.51.100.1\r\nx-forwarded-for: 203.0.113.8:4444\r\n", want: "203.0.113.8"},
		{name: "trusted XFF IPv6", trusted: loopback, headers: "X-Forwarded-For: [2001:db8::9]:80\r\n", want: "2001:db8::9"},
		{name: "trusted XFF mapped", trusted: loopback, headers: "X-Forwarded-For: ::ffff:203.0.113.9\r\n", want: "203.0.113.9"},
		{name: "trusted without header", trusted: loopback, headers: "", want: "127.0.0.1"},
		{name: "trusted garbage", trusted: loopback, headers: "X-Forwarded-For: unknown\r\n", fail: ErrBadForwardedAddr},
		{name: "trusted empty", trusted: loopback, headers: "X-Forwarded-For:\r\n", fail: ErrBadForwardedAddr},
		{name: "trusted zone", trusted: loopback, headers: "X-Forwarded-For: fe80::1%eth0\r\n", fail: ErrBadForwardedAddr},
		// Only the named header is read: behind nginx's
		// "proxy_set_header X-Real-IP $remote_addr", a client's own
		// X-Forwarded-For decides nothing.
		{name: "X-Real-IP named, client sends XFF", trusted: loopback, header: "X-Real-IP", headers: "X-Real-IP: 198.51.100.4\r\nX-Forwarded-For: 6.6.6.6\r\n", want: "198.51.100.4"},
		{name: "X-Real-IP named, XFF only", trusted: loopback, header: "X-Real-IP", headers: "X-Forwarded-For: 6.6.6.6\r\n", want: "127.0.0.1"},
		{name: "XFF named, X-Real-IP ignored", trusted: loopback, headers: "X-Real-IP: 6.6.6.6\r\n", want: "127.0.0.1"},
		{name: "trusted X-Real-IP IPv6", trusted: loopback, header: "x-real-ip", headers: "X-Real-IP: 2001:db8::10\r\n", want: "2001:db8::10"},
		// The rightmost entry that is not a trusted proxy is the client;
		// what is left of it was written by the client.
		{name: "chain of trusted proxies", trusted: chain, headers: "X-Forwarded-For: 6.6.6.6, 198.51.100.5, 10.1.2.3\r\n", want: "198.51.100.5"},
		{name: "client garbage left of the client", trusted: chain, headers: "X-Forwarded-For: nonsense, 198.51.100.5, 10.1.2.3\r\n", want: "198.51.100.5"},
		{name: "every entry trusted", trusted: chain, headers: "X-Forwarded-For: 10.9.9.9, 10.1.2.3\r\n", want: "10.9.9.9"},
		{name: "unspecified", trusted: loopback, headers: "X-Forwarded-For: 0.0.0.0\r\n", fail: ErrUnusableForwardedAddr},
		{name: "unspecified IPv6", trusted: loopback, headers: "X-Forwarded-For: ::\r\n", fail: ErrUnusableForwardedAddr},
		{name: "multicast", trusted: loopback, headers: "X-Forwarded-For: 224.0.0.1\r\n", fail: ErrUnusableForwardedAddr},
		{name: "multicast IPv6", trusted: loopback, headers: "X-Forwarded-For: ff02::1\r\n", fail: ErrUnusableForwardedAddr},
		{name: "broadcast", trusted: loopback, headers: "X-Forwarded-For: 255.255.255.255\r\n", fail: ErrUnusableForwardedAddr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newFakeTracker()
			cfg := testConfig()
			cfg.TrustedProxies = tt.trusted
			cfg.TrustedProxyHeader = tt.header
			_, addr := startServer(t, tr, cfg)
			c := dial(t, addr)
			c.send("GET /announce?" + base + " HTTP/1.1\r\nHost: x\r\n" + tt.headers + "\r\n")
			d := decodeDict(t, c.read().body)
			if tt.fail != "" {
				if d["failure reason"] != string(tt.fail) {
					t.Errorf("got %#v, want the failure %q", d, tt.fail)
				}
				return
			}
			if d["failure reason"] != nil {
				t.Fatalf("got %#v", d)
			}
			req := tr.lastRequest()
			want := netip.MustParseAddr(tt.want)
			var got netip.Addr
			if req.Is6 {
				got = netip.AddrFrom16(req.Addr)
			} else {
				got = netip.AddrFrom4([4]byte(req.Addr[:4]))
			}
			if got != want || req.Is6 != want.Is6() {
				t.Errorf("tracker saw %v (Is6 %v), want %v", got, req.Is6, want)
			}
		})
	}
}

func TestHTTPIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	ln.Close()
	tr := newFakeTracker()
	_, addr := startServerOn(t, "tcp", "[::1]:0", tr, testConfig())
	c := dial(t, addr)
	c.send(get(announceTarget("")))
	if r := c.read(); r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	req := tr.lastRequest()
	if !req.Is6 || netip.AddrFrom16(req.Addr) != netip.IPv6Loopback() || !req.BothFamilies {
		t.Errorf("got %+v, want ::1", req)
	}
}

func TestHTTPNetHTTPClient(t *testing.T) {
	tr := newFakeTracker()
	_, addr := startServer(t, tr, testConfig())
	hc := &http.Client{Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	for range 2 {
		resp, err := hc.Get("http://" + addr + "/announce?" + base + "&event=completed")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("status %d, %v", resp.StatusCode, err)
		}
		if d := decodeDict(t, body); d["peers"] != string(tr.peers4) {
			t.Errorf("got %#v", d)
		}
	}
	if tr.lastRequest().Event != store.EventCompleted {
		t.Error("event lost")
	}
	resp, err := hc.Get("http://" + addr + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("status %d, want 404", resp.StatusCode)
	}
}

// TestHTTPMaxConnsReclaimsIdle: at the cap, a new connection is served in
// place of the connection idle longest, which is closed; the other idle
// ones keep working.
func TestHTTPMaxConnsReclaimsIdle(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConns = 4
	cfg.MaxConnsPerIP = 2
	s, addr := startServer(t, newFakeTracker(), cfg)
	var held []*client
	for i, from := range []string{"127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3"} {
		c := dialFrom(t, from, addr)
		served(t, c, "a connection under the cap")
		waitConns(t, s, i+1, idle) // one at a time, so the first is idle longest
		held = append(held, c)
	}
	served(t, dialFrom(t, "127.0.0.4", addr), "a new client at the cap")
	held[0].expectClosed()
	for i, c := range held[1:] {
		served(t, c, "idle connection "+strconv.Itoa(i+2))
	}
	if f := s.Figures(); f.Reclaimed != 1 || f.RefusedGlobal != 0 || f.OpenConns > 4 {
		t.Errorf("reclaimed %d, refused %d, %d open; want 1, 0, at most 4", f.Reclaimed, f.RefusedGlobal, f.OpenConns)
	}
}

// What waitConns waits for.
const (
	idle = iota // waiting for a request
	busy        // has read part of a request
)

// waitConns waits until s holds n connections in state want. busy is for
// servers on ListenHTTP's listeners: TCP_DEFER_ACCEPT accepts a
// connection once its first bytes have come, so a connection with a
// net.Conn (not served inline) that is not idle is reading the rest of a
// head it has begun.
func waitConns(t testing.TB, s *HTTPServer, n, want int) {
	t.Helper()
	for range 1000 {
		got := 0
		s.mu.Lock()
		for c := range s.conns {
			st := c.state.Load()
			if want == idle && st == stateIdle || want == busy && st == stateActive && c.nc != nil {
				got++
			}
		}
		s.mu.Unlock()
		if got == n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("the server never held %d connections in state %d", n, want)
}

func TestHTTPPanicRecovered(t *testing.T) {
	tr := newFakeTracker()
	_, addr := startServer(t, tr, testConfig())
	tr.set(func(f *fakeTracker) { f.panics = true })
	c := dial(t, addr)
	c.send(get(announceTarget("")))
	c.expectClosed()
	tr.set(func(f *fakeTracker) { f.panics = false })
	c = dial(t, addr)
	c.send(get(announceTarget("")))
	if r := c.read(); r.status != 200 {
		t.Errorf("after a panic: %d", r.status)
	}
}

func TestHTTPShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewHTTPServer(newFakeTracker(), testConfig(), zerolog.Nop())
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(context.Background(), ln) }()

	idle := dial(t, ln.Addr().String())
	idle.send(get(announceTarget("")))
	idle.read()
	fresh := dial(t, ln.Addr().String()) // connected, nothing sent

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	idle.expectClosed()
	fresh.expectClosed()
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("still accepting after Shutdown")
	}
	if err := s.Serve(context.Background(), ln); err != nil {
		t.Errorf("Serve after Shutdown: %v", err)
	}
}

func TestHTTPServeContextCancel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewHTTPServer(newFakeTracker(), testConfig(), zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ctx, ln) }()
	c := dial(t, ln.Addr().String())
	c.send(get(announceTarget("")))
	c.read()
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after its context was cancelled")
	}
	c.expectClosed()
}

// TestHTTPShutdownWaitsForRequest checks that a request in progress is
// answered, with Connection: close, before Shutdown returns.
func TestHTTPShutdownWaitsForRequest(t *testing.T) {
	block := &blockingTracker{entered: make(chan struct{}), release: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewHTTPServer(block, testConfig(), zerolog.Nop())
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(context.Background(), ln) }()
	c := dial(t, ln.Addr().String())
	c.send(get(announceTarget("")))
	<-block.entered

	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v while a request was in progress", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(block.release)
	r := c.read()
	if r.status != 200 || !r.close {
		t.Errorf("in-flight request: %d close=%v", r.status, r.close)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-errc; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func TestHTTPShutdownDeadline(t *testing.T) {
	block := &blockingTracker{entered: make(chan struct{}), release: make(chan struct{})}
	defer close(block.release)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewHTTPServer(block, testConfig(), zerolog.Nop())
	go s.Serve(context.Background(), ln)
	c := dial(t, ln.Addr().String())
	c.send(get(announceTarget("")))
	<-block.entered
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want the deadline", err)
	}
	c.expectClosed()
}

type blockingTracker struct {
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (b *blockingTracker) Announce(req *store.Request, resp *store.Response) error {
	b.once.Do(func() { close(b.entered) })
	<-b.release
	return nil
}

func (b *blockingTracker) Scrape([20]byte) (store.ScrapeCounts, bool) {
	return store.ScrapeCounts{}, false
}

// rawClient does keep-alive announces without allocating, so allocation
// figures measure the server.
type rawClient struct {
	nc  net.Conn
	req []byte
	buf []byte
}

// roundTrip sends the request and reads one whole response.
func (c *rawClient) roundTrip() error {
	if _, err := c.nc.Write(c.req); err != nil {
		return err
	}
	n := 0
	for {
		m, err := c.nc.Read(c.buf[n:])
		if err != nil {
			return err
		}
		n += m
		end := bytes.Index(c.buf[:n], []byte("\r\n\r\n"))
		if end < 0 {
			continue
		}
		const clh = "Content-Length: "
		i := bytes.Index(c.buf[:end], []byte(clh))
		if i < 0 {
			return errors.New("no Content-Length")
		}
		j := i + len(clh)
		cl := 0
		for ; c.buf[j] != '\r'; j++ {
			cl = cl*10 + int(c.buf[j]-'0')
		}
		if n >= end+4+cl {
			if n != end+4+cl {
				return errors.New("extra bytes after the response")
			}
			return nil
		}
	}
}

func newRawClient(t testing.TB, addr string) *rawClient {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	q := readRequest(t, requestsDir+"/qbittorrent-started.txt")
	req := "GET /announce?" + string(q) + " HTTP/1.1\r\nHost: tracker.example:6969\r\nUser-Agent: qBittorrent/4.6.2\r\nAccept-Encoding: gzip\r\nConnection: close, keep-alive\r\n\r\n"
	return &rawClient{nc: nc, req: []byte(req), buf: make([]byte, 8192)}
}

func TestHTTPKeepAliveAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts over TCP")
	}
	scrapeHash := [20]byte{7}
	tests := []struct {
		name    string
		trusted []netip.Prefix
		err     error
		target  string // "" for the recorded qBittorrent announce
		header  string
		rate    *limit.Rate
	}{
		{name: "announce"},
		{name: "announce via trusted proxy", trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, header: "X-Forwarded-For: 198.51.100.1, 2001:db8::5\r\n"},
		{name: "store failure", err: store.ErrUnregistered},
		{name: "bad query", target: "/announce?info_hash=%zz"},
		{name: "scrape", target: "/scrape?info_hash=" + escapeAll(scrapeHash[:]) + "&info_hash=" + escapeAll(ih[:])},
		{name: "announce under a rate limit", rate: limit.NewRate(limit.MaxPerSecond, limit.MaxBurst, nil)},
		{name: "rate limited", rate: limit.NewRate(1, 1, func() time.Duration { return time.Hour })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newFakeTracker()
			tr.err = tt.err
			tr.known[scrapeHash] = store.ScrapeCounts{Complete: 1}
			cfg := testConfig()
			cfg.TrustedProxies = tt.trusted
			cfg.RateLimit = tt.rate
			_, addr := startServer(t, tr, cfg)
			c := newRawClient(t, addr)
			c.req = bytes.Replace(c.req, []byte("close, "), nil, 1)
			c.req = bytes.Replace(c.req, []byte("\r\n\r\n"), []byte("\r\n"+tt.header+"\r\n"), 1)
			if tt.target != "" {
				c.req = []byte("GET " + tt.target + " HTTP/1.1\r\nHost: x\r\n\r\n")
			}
			if err := c.roundTrip(); err != nil { // warm up: the pooled conn is built
				t.Fatal(err)
			}
			if got := testing.AllocsPerRun(300, func() {
				if err := c.roundTrip(); err != nil {
					t.Fatal(err)
				}
			}); got != 0 {
				t.Errorf("a keep-alive request allocates %v times, want 0", got)
			}
		})
	}
}

func BenchmarkHTTPAnnounceKeepAlive(b *testing.B) {
	tr := newFakeTracker()
	tr.peers4 = fiftyPeers().Peers4
	_, addr := startServer(b, tr, HTTPConfig{})
	c := newRawClient(b, addr)
	c.req = bytes.Replace(c.req, []byte("close, "), nil, 1)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.roundTrip(); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzHTTPHead(f *testing.F) {
	f.Add([]byte(get(announceTarget(""))))
	f.Add([]byte("GET / HTTP/1.0\nConnection: keep-alive\n\n"))
	f.Add([]byte("GET /x HTTP/1.1\r\nX-Forwarded-For: [::1]:80, 1.2.3.4\r\nContent-Length: 0\r\n\r\n"))
	s := NewHTTPServer(newFakeTracker(), HTTPConfig{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, zerolog.Nop())
	f.Fuzz(func(t *testing.T, b []byte) {
		var scanned int
		end := headEnd(b, &scanned)
		if end == 0 {
			return
		}
		var h httpHead
		if parseHead(b[:end], &h, "x-forwarded-for") == 0 && h.hasFwd {
			s.forwardedAddr(h.fwd)
		}
	})
}
