package announce_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bencode "github.com/jackpal/bencode-go"
	"github.com/rs/zerolog"

	"johnlocke/announce"
	"johnlocke/store"
)

// testClock is an injected clock the tests move by hand; the store reads it
// from its own goroutines, so it is atomic.
type testClock struct{ ns atomic.Int64 }

func newClock(t time.Time) *testClock {
	c := &testClock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// epoch is where every test clock starts: a fixed instant in the middle of
// a minute, so that small clock moves never cross a tick by accident.
var epoch = time.Date(2025, 3, 14, 12, 0, 30, 0, time.UTC)

// testTracker is a real store on a real bbolt file behind a real HTTP
// server listening on loopback.
type testTracker struct {
	st     *store.Store
	path   string
	base4  string // http://127.0.0.1:port
	base6  string // http://[::1]:port, "" without IPv6 loopback
	client *http.Client
	stop   func()
}

// startTracker opens a store on a fresh file in t.TempDir() and serves it.
func startTracker(t testing.TB, cfg store.Config) *testTracker {
	t.Helper()
	return startTrackerAt(t, filepath.Join(t.TempDir(), "tracker.db"), cfg, announce.HTTPConfig{})
}

// startTrackerAt opens the store at path, starts Run and serves HTTP on
// 127.0.0.1:0 (and [::1]:0 when the host has IPv6 loopback). Stop (also
// registered with t.Cleanup) shuts the server down, ends Run and closes the
// store; it may be called early, e.g. to reopen the file.
func startTrackerAt(t testing.TB, path string, cfg store.Config, hcfg announce.HTTPConfig) *testTracker {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = newClock(epoch).Now
	}
	cfg.Log = zerolog.Nop()
	st, err := store.Open(path, cfg)
	if err != nil {
		t.Fatalf("store.Open(%s): %v", path, err)
	}
	if hcfg.MaxPeers == 0 {
		hcfg.MaxPeers = cfg.MaxPeers
	}
	hcfg.ReadTimeout, hcfg.WriteTimeout = 5*time.Second, 5*time.Second
	srv := announce.NewHTTPServer(st, hcfg, zerolog.Nop())

	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- st.Run(ctx) }()

	tr := &testTracker{st: st, path: path}
	var lns []net.Listener
	ln4, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		cancel()
		st.Close()
		t.Fatal(err)
	}
	lns = append(lns, ln4)
	tr.base4 = "http://" + ln4.Addr().String()
	if ln6, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		lns = append(lns, ln6)
		tr.base6 = "http://" + ln6.Addr().String()
	}
	serveErr := make(chan error, len(lns))
	for _, ln := range lns {
		go func() { serveErr <- srv.Serve(ctx, ln) }()
	}
	transport := &http.Transport{MaxIdleConnsPerHost: 4}
	tr.client = &http.Client{Transport: transport, Timeout: 10 * time.Second}

	var once sync.Once
	tr.stop = func() {
		once.Do(func() {
			sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer scancel()
			if err := srv.Shutdown(sctx); err != nil {
				t.Errorf("HTTPServer.Shutdown: %v", err)
			}
			for range lns {
				if err := <-serveErr; err != nil {
					t.Errorf("HTTPServer.Serve: %v", err)
				}
			}
			transport.CloseIdleConnections()
			cancel()
			if err := <-runErr; err != nil {
				t.Errorf("Store.Run: %v", err)
			}
			if err := st.Close(); err != nil {
				t.Errorf("Store.Close: %v", err)
			}
		})
	}
	t.Cleanup(tr.stop)
	return tr
}

// register registers torrents and fails the test unless each is new.
func (tr *testTracker) register(t testing.TB, ts ...store.Torrent) {
	t.Helper()
	res, err := tr.st.Register(ts)
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	for i, r := range res {
		if !r.Added {
			t.Fatalf("Register: torrent %x was not added", ts[i].InfoHash)
		}
	}
}

// hashOf derives a distinct infohash from a name.
func hashOf(name string) [20]byte { return sha1.Sum([]byte(name)) }

// escapeAll percent-encodes every byte, as the strictest clients do.
func escapeAll(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		fmt.Fprintf(&sb, "%%%02X", c)
	}
	return sb.String()
}

// peerIDFor gives each announced port its own 20-byte peer id.
func peerIDFor(port int) string { return fmt.Sprintf("-JL0100-%012d", port) }

// get fetches target (path and query) from base and returns the body; it
// fails the test unless the status is 200.
func (tr *testTracker) get(t testing.TB, base, target string) []byte {
	t.Helper()
	resp, err := tr.client.Get(base + target)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", target, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d, body %q", target, resp.StatusCode, body)
	}
	return body
}

// decodeDict decodes a whole bencoded body as a dictionary.
func decodeDict(t testing.TB, body []byte) map[string]any {
	t.Helper()
	// Decode reads through a bufio.Reader; handing it our own lets us see
	// whether anything follows the value.
	r := bufio.NewReader(bytes.NewReader(body))
	v, err := bencode.Decode(r)
	if err != nil {
		t.Fatalf("bencode.Decode(%q): %v", body, err)
	}
	if rest, _ := io.ReadAll(r); len(rest) != 0 {
		t.Fatalf("%d trailing bytes after the bencoded answer %q", len(rest), body)
	}
	d, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("answer is a %T, want a dictionary: %q", v, body)
	}
	return d
}

func intKey(t testing.TB, d map[string]any, key string) int64 {
	t.Helper()
	v, ok := d[key]
	if !ok {
		t.Fatalf("answer has no %q: %v", key, d)
	}
	n, ok := v.(int64)
	if !ok {
		t.Fatalf("%q is a %T, want an integer", key, v)
	}
	return n
}

// peerReq is one announce, as a given peer (its announced port; the
// address is the socket's).
type peerReq struct {
	hash    [20]byte
	port    int
	left    int64 // 0 makes a seeder
	event   string
	numwant string // "" leaves numwant out
	compact string // "" leaves compact out
	extra   string // appended to the query verbatim
	v6      bool   // announce over [::1]
}

func (p peerReq) query() string {
	q := "info_hash=" + escapeAll(p.hash[:]) +
		"&peer_id=" + peerIDFor(p.port) +
		"&port=" + strconv.Itoa(p.port) +
		"&uploaded=0&downloaded=0&left=" + strconv.FormatInt(p.left, 10)
	if p.event != "" {
		q += "&event=" + p.event
	}
	if p.numwant != "" {
		q += "&numwant=" + p.numwant
	}
	if p.compact != "" {
		q += "&compact=" + p.compact
	}
	return q + p.extra
}

// announceResult is a decoded announce answer.
type announceResult struct {
	complete, incomplete, downloaded int64
	interval, minInterval            int64      // minInterval -1 when absent
	externalIP                       netip.Addr // BEP 24; invalid when absent
	// peers4 and peers6 are "ip:port" strings in answer order; for the
	// dictionary model peers4 holds every entry of the list.
	peers4, peers6 []string
	// dictModel is true when peers was a list of dictionaries.
	dictModel bool
	raw       map[string]any
}

// all returns every peer of the answer, IPv4 then IPv6.
func (r announceResult) all() []string { return slices.Concat(r.peers4, r.peers6) }

func (tr *testTracker) base(t testing.TB, v6 bool) string {
	t.Helper()
	if !v6 {
		return tr.base4
	}
	if tr.base6 == "" {
		t.Skip("no IPv6 loopback on this host")
	}
	return tr.base6
}

// announceRaw sends an announce and returns the decoded dictionary.
func (tr *testTracker) announceRaw(t testing.TB, p peerReq) map[string]any {
	t.Helper()
	return decodeDict(t, tr.get(t, tr.base(t, p.v6), "/announce?"+p.query()))
}

// announce sends an announce that must succeed and decodes its answer,
// checking every key's type.
func (tr *testTracker) announce(t testing.TB, p peerReq) announceResult {
	t.Helper()
	d := tr.announceRaw(t, p)
	if f, ok := d["failure reason"]; ok {
		t.Fatalf("announce %+v failed: %v", p, f)
	}
	return parseAnnounce(t, d)
}

func parseAnnounce(t testing.TB, d map[string]any) announceResult {
	t.Helper()
	allowed := []string{"complete", "incomplete", "downloaded", "external ip", "interval", "min interval", "peers", "peers6"}
	for k := range d {
		if !slices.Contains(allowed, k) {
			t.Errorf("unexpected key %q in announce answer", k)
		}
	}
	r := announceResult{
		complete:    intKey(t, d, "complete"),
		incomplete:  intKey(t, d, "incomplete"),
		downloaded:  intKey(t, d, "downloaded"),
		interval:    intKey(t, d, "interval"),
		minInterval: -1,
		raw:         d,
	}
	if _, ok := d["min interval"]; ok {
		r.minInterval = intKey(t, d, "min interval")
	}
	if e, ok := d["external ip"]; ok {
		s, ok := e.(string)
		a, valid := netip.AddrFromSlice([]byte(s))
		if !ok || !valid {
			t.Fatalf("external ip is %#v, want 4 or 16 bytes", e)
		}
		r.externalIP = a
	}
	switch p := d["peers"].(type) {
	case string:
		r.peers4 = compactPeers(t, p, 4)
	case []any:
		r.dictModel = true
		for i, e := range p {
			r.peers4 = append(r.peers4, dictPeer(t, i, e))
		}
	default:
		t.Fatalf("peers is a %T, want a string or a list", d["peers"])
	}
	if p6, ok := d["peers6"]; ok {
		s, ok := p6.(string)
		if !ok {
			t.Fatalf("peers6 is a %T, want a string", p6)
		}
		if r.dictModel {
			t.Errorf("peers6 next to a dictionary-model peers list")
		}
		r.peers6 = compactPeers(t, s, 16)
	}
	return r
}

// compactPeers splits BEP 23 / BEP 7 compact peers into "ip:port" strings.
func compactPeers(t testing.TB, s string, addrLen int) []string {
	t.Helper()
	stride := addrLen + 2
	if len(s)%stride != 0 {
		t.Fatalf("compact peers of %d bytes, not a multiple of %d", len(s), stride)
	}
	var out []string
	for i := 0; i < len(s); i += stride {
		e := []byte(s[i : i+stride])
		addr, ok := netip.AddrFromSlice(e[:addrLen])
		if !ok {
			t.Fatalf("bad compact address %x", e[:addrLen])
		}
		port := uint16(e[addrLen])<<8 | uint16(e[addrLen+1])
		out = append(out, netip.AddrPortFrom(addr, port).String())
	}
	return out
}

// dictPeer reads one dictionary-model peer (BEP 3): ip and port.
func dictPeer(t testing.TB, i int, e any) string {
	t.Helper()
	d, ok := e.(map[string]any)
	if !ok {
		t.Fatalf("peers[%d] is a %T, want a dictionary", i, e)
	}
	for k := range d {
		if k != "ip" && k != "port" && k != "peer id" {
			t.Errorf("peers[%d] has unexpected key %q", i, k)
		}
	}
	ipv, ok := d["ip"].(string)
	if !ok {
		t.Fatalf("peers[%d].ip is a %T, want a string", i, d["ip"])
	}
	port := intKey(t, d, "port")
	addr, err := netip.ParseAddr(ipv)
	if err != nil {
		t.Fatalf("peers[%d].ip %q: %v", i, ipv, err)
	}
	if port <= 0 || port > 65535 {
		t.Fatalf("peers[%d].port %d out of range", i, port)
	}
	return netip.AddrPortFrom(addr, uint16(port)).String()
}

// announceFailure sends an announce that must fail and returns its
// failure reason, checking that the answer holds nothing else.
func (tr *testTracker) announceFailure(t testing.TB, p peerReq) string {
	t.Helper()
	return failureOf(t, tr.announceRaw(t, p))
}

func failureOf(t testing.TB, d map[string]any) string {
	t.Helper()
	f, ok := d["failure reason"]
	if !ok {
		t.Fatalf("want a failure reason, got %v", d)
	}
	s, ok := f.(string)
	if !ok || s == "" {
		t.Fatalf("failure reason is %T %q, want a non-empty string", f, f)
	}
	if len(d) != 1 {
		t.Errorf("failure answer has other keys too: %v", d)
	}
	return s
}

// scrapeCounts is one torrent's decoded scrape entry.
type scrapeCounts struct{ complete, incomplete, downloaded int64 }

// scrape scrapes hashes (repeated info_hash parameters) and returns the
// decoded files dictionary.
func (tr *testTracker) scrape(t testing.TB, hashes ...[20]byte) map[[20]byte]scrapeCounts {
	t.Helper()
	var parts []string
	for _, h := range hashes {
		parts = append(parts, "info_hash="+escapeAll(h[:]))
	}
	d := decodeDict(t, tr.get(t, tr.base4, "/scrape?"+strings.Join(parts, "&")))
	if f, ok := d["failure reason"]; ok {
		t.Fatalf("scrape failed: %v", f)
	}
	files, ok := d["files"].(map[string]any)
	if !ok {
		t.Fatalf("scrape files is a %T, want a dictionary: %v", d["files"], d)
	}
	out := make(map[[20]byte]scrapeCounts)
	for k, v := range files {
		if len(k) != 20 {
			t.Fatalf("scrape key %x is %d bytes, want 20", k, len(k))
		}
		e, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("scrape entry is a %T, want a dictionary", v)
		}
		out[[20]byte([]byte(k))] = scrapeCounts{
			complete:   intKey(t, e, "complete"),
			incomplete: intKey(t, e, "incomplete"),
			downloaded: intKey(t, e, "downloaded"),
		}
	}
	return out
}

// scrapeOne scrapes one registered torrent.
func (tr *testTracker) scrapeOne(t testing.TB, h [20]byte) scrapeCounts {
	t.Helper()
	got := tr.scrape(t, h)
	c, ok := got[h]
	if !ok || len(got) != 1 {
		t.Fatalf("scrape of %x: got %v, want exactly that torrent", h, got)
	}
	return c
}

// torrent looks a torrent up in the running store.
func (tr *testTracker) torrent(t testing.TB, h [20]byte) (store.Torrent, bool) {
	t.Helper()
	rec, ok, err := tr.st.Torrent(h)
	if err != nil {
		t.Fatalf("Store.Torrent(%x): %v", h, err)
	}
	return rec, ok
}

// v4 names a loopback IPv4 peer as the answers show it.
func v4(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// v6 names a loopback IPv6 peer as the answers show it.
func v6(port int) string { return "[::1]:" + strconv.Itoa(port) }

// checkNoDuplicates fails when a peer list names a peer twice.
func checkNoDuplicates(t testing.TB, what string, peers []string) {
	t.Helper()
	seen := make(map[string]bool, len(peers))
	for _, p := range peers {
		if seen[p] {
			t.Errorf("%s: %s listed twice in %v", what, p, peers)
		}
		seen[p] = true
	}
}
