package clitest

import (
	"crypto/rand"
	be "encoding/binary"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// udpClient speaks BEP 15 to a tracker from one socket, with one
// connection id.
type udpClient struct {
	c      net.Conn
	connID uint64
}

func dialUDP(t *testing.T, addr string) *udpClient {
	t.Helper()
	c, err := net.Dial("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	return connectUDP(t, c)
}

// connectUDP gets a connection id over c, closed when the test ends.
func connectUDP(t *testing.T, c net.Conn) *udpClient {
	t.Helper()
	t.Cleanup(func() { c.Close() })
	u := &udpClient{c: c}
	req := be.BigEndian.AppendUint64(nil, 0x41727101980)
	req = be.BigEndian.AppendUint32(req, 0) // connect
	req = be.BigEndian.AppendUint32(req, 1)
	reply := u.roundTrip(t, req)
	if len(reply) < 16 || be.BigEndian.Uint32(reply) != 0 {
		t.Fatalf("connect: %x", reply)
	}
	u.connID = be.BigEndian.Uint64(reply[8:])
	return u
}

func (u *udpClient) roundTrip(t *testing.T, pkt []byte) []byte {
	t.Helper()
	// A lost datagram on loopback would fail the test rather than hang it.
	_ = u.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := u.c.Write(pkt); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	n, err := u.c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

// announce sends a started announce with connID and returns the action
// of the reply.
func (u *udpClient) announce(t *testing.T, connID uint64, infohash string, left uint64) uint32 {
	t.Helper()
	action, _ := u.announceMsg(t, connID, infohash, left)
	return action
}

// announceMsg is announce that also returns an error reply's message.
func (u *udpClient) announceMsg(t *testing.T, connID uint64, infohash string, left uint64) (action uint32, msg string) {
	t.Helper()
	ann := be.BigEndian.AppendUint64(nil, connID)
	ann = be.BigEndian.AppendUint32(ann, 1) // announce
	ann = be.BigEndian.AppendUint32(ann, 2)
	ann = append(ann, hexBytes(infohash)...)
	peerID := make([]byte, 20)
	_, _ = rand.Read(peerID)
	ann = append(ann, peerID...)
	ann = be.BigEndian.AppendUint64(ann, 0)    // downloaded
	ann = be.BigEndian.AppendUint64(ann, left) // left
	ann = be.BigEndian.AppendUint64(ann, 0)    // uploaded
	ann = be.BigEndian.AppendUint32(ann, 2)    // started
	ann = be.BigEndian.AppendUint32(ann, 0)    // ip
	ann = be.BigEndian.AppendUint32(ann, 1)    // key
	ann = be.BigEndian.AppendUint32(ann, 5)    // numwant
	ann = be.BigEndian.AppendUint16(ann, 6881)
	reply := u.roundTrip(t, ann)
	if len(reply) < 8 {
		t.Fatalf("announce: a %d-byte reply", len(reply))
	}
	action = be.BigEndian.Uint32(reply)
	if action == 3 {
		msg = string(reply[8:])
	}
	return action, msg
}

func (u *udpClient) scrape(t *testing.T, infohash string) uint32 {
	t.Helper()
	req := be.BigEndian.AppendUint64(nil, u.connID)
	req = be.BigEndian.AppendUint32(req, 2) // scrape
	req = be.BigEndian.AppendUint32(req, 3)
	req = append(req, hexBytes(infohash)...)
	return be.BigEndian.Uint32(u.roundTrip(t, req))
}

// scrapeMetrics reads /metrics and parses it as Prometheus does.
func scrapeMetrics(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// metricValue returns the value of the sample of family name whose labels
// are exactly labels ("k=v" pairs), failing the test when there is none.
func metricValue(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	fam, ok := fams[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	want := map[string]string{}
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		want[k] = v
	}
next:
	for _, m := range fam.Metric {
		if len(m.Label) != len(want) {
			continue
		}
		for _, lp := range m.Label {
			if want[lp.GetName()] != lp.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("no sample of %s with labels %v", name, labels)
	return 0
}

func TestMetricsAndStatsJSONCountExactly(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, "--db", dir+"/t.db", "--locked=false", "--mode", "large", "--flush-interval", "100ms")
	if s.status == "" {
		t.Fatal("serve did not log its status address")
	}
	const hashA, hashB = v1Single, hybridV1

	// HTTP: two leechers and a seeder announce A (one leecher twice),
	// one scrape, one announce without an infohash.
	for _, q := range []url.Values{
		announceQuery(hashA, 1001, 10, "started"),
		announceQuery(hashA, 1002, 0, "started"),
		announceQuery(hashA, 1001, 10, ""),
	} {
		if r := s.get(t, "/announce", q); r["failure reason"] != nil {
			t.Fatalf("announce refused: %v", r["failure reason"])
		}
	}
	s.get(t, "/scrape", url.Values{"info_hash": {hexBytes(hashA)}})
	bad := announceQuery(hashA, 1003, 10, "started")
	bad.Del("info_hash")
	if r := s.get(t, "/announce", bad); r["failure reason"] == nil {
		t.Fatal("announce without info_hash was answered")
	}

	// UDP: one connect, a leecher on B, a scrape, an announce with a
	// connection id the tracker never issued.
	u := dialUDP(t, s.udp)
	if action := u.announce(t, u.connID, hashB, 10); action != 1 {
		t.Fatalf("udp announce: action %d", action)
	}
	if action := u.scrape(t, hashB); action != 2 {
		t.Fatalf("udp scrape: action %d", action)
	}
	if action := u.announce(t, u.connID^1, hashB, 10); action != 3 {
		t.Fatalf("udp announce with a bad connection id: action %d, want an error", action)
	}

	fams := scrapeMetrics(t, s.status)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"johnlocke_announces_total", []string{"protocol=http", "mode=large", "event=started"}, 2},
		{"johnlocke_announces_total", []string{"protocol=http", "mode=large", "event=none"}, 1},
		{"johnlocke_announces_total", []string{"protocol=http", "mode=large", "event=stopped"}, 0},
		{"johnlocke_announces_total", []string{"protocol=udp", "mode=large", "event=started"}, 1},
		{"johnlocke_announces_total", []string{"protocol=udp", "mode=small", "event=started"}, 0},
		{"johnlocke_scrapes_total", []string{"protocol=http"}, 1},
		{"johnlocke_scrapes_total", []string{"protocol=udp"}, 1},
		{"johnlocke_scraped_torrents_total", []string{"mode=large"}, 2},
		{"johnlocke_scraped_torrents_total", []string{"mode=small"}, 0},
		{"johnlocke_failures_total", []string{"protocol=http", "reason=malformed"}, 1},
		{"johnlocke_failures_total", []string{"protocol=http", "reason=unregistered"}, 0},
		{"johnlocke_failures_total", []string{"protocol=udp", "reason=bad_connection_id"}, 1},
		{"johnlocke_failures_total", []string{"protocol=udp", "reason=malformed"}, 0},
		{"johnlocke_udp_connects_total", nil, 1},
		// Three datagrams are far below two per window: no read paced.
		{"johnlocke_udp_paced_reads_total", nil, 0},
		{"johnlocke_udp_bad_connection_ids_total", nil, 1},
		{"johnlocke_torrents", []string{"mode=large", "origin=organic"}, 2},
		{"johnlocke_torrents", []string{"mode=large", "origin=imported"}, 0},
		{"johnlocke_peers", []string{"mode=large", "family=ipv4", "role=leecher"}, 2},
		{"johnlocke_peers", []string{"mode=large", "family=ipv4", "role=seeder"}, 1},
		{"johnlocke_peers", []string{"mode=large", "family=ipv6", "role=seeder"}, 0},
		{"johnlocke_peer_budget", nil, 20_000_000},
		{"johnlocke_peer_budget_refusals_total", nil, 0},
		{"johnlocke_http_refused_connections_total", []string{"cap=per_source"}, 0},
		{"johnlocke_http_refused_connections_total", []string{"cap=global"}, 0},
		{"johnlocke_http_reclaimed_connections_total", nil, 0},
	} {
		if got := metricValue(t, fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// The announce time histograms exist (sampled, so their counts are
	// not known here), as do the Go and process collectors.
	metricValue(t, fams, "johnlocke_announce_duration_seconds", "protocol=http")
	metricValue(t, fams, "johnlocke_announce_duration_seconds", "protocol=udp")
	metricValue(t, fams, "johnlocke_http_open_connections")
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "johnlocke_build_info", "johnlocke_database_size_bytes"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("no metric %s", name)
		}
	}
	if m := fams["johnlocke_build_info"].Metric; len(m) != 1 || m[0].Gauge.GetValue() != 1 {
		t.Errorf("build_info: %v", m)
	}

	// stats.json says the same; the flush (every 100 ms) shows there.
	var st statusJSON
	waitFor(t, 10*time.Second, "a flush in stats.json", func() bool {
		st = readStatsJSON(t, s.status)
		return st.LastFlush != nil
	})
	check := func(what string, got, want uint64) {
		t.Helper()
		if got != want {
			t.Errorf("stats.json %s = %d, want %d", what, got, want)
		}
	}
	check("announces.http.large.started", st.Announces["http"]["large"]["started"], 2)
	check("announces.http.large.none", st.Announces["http"]["large"]["none"], 1)
	check("announces.udp.large.started", st.Announces["udp"]["large"]["started"], 1)
	check("scrapes.http", st.Scrapes["http"], 1)
	check("scrapes.udp", st.Scrapes["udp"], 1)
	check("failures.http.malformed", st.Failures["http"]["malformed"], 1)
	check("failures.udp.bad_connection_id", st.Failures["udp"]["bad_connection_id"], 1)
	check("udp_connects", st.UDPConnects, 1)
	check("modes.large.torrents.organic", uint64(st.Modes["large"].Torrents["organic"]), 2)
	check("modes.large.seeders", uint64(st.Modes["large"].Seeders), 1)
	check("modes.large.leechers", uint64(st.Modes["large"].Leechers), 2)
	if st.LastFlush.Torrents < 1 || st.Database.SizeBytes <= 0 || st.Database.Path == "" {
		t.Errorf("stats.json flush and database: %+v, %+v", st.LastFlush, st.Database)
	}
	// A and B have a leecher each (in either order), only A a seeder.
	leechers := map[string]int{}
	for _, top := range st.TopLeechers {
		leechers[top.InfoHash] = top.Leechers
	}
	if len(st.TopLeechers) != 2 || leechers[hashA] != 1 || leechers[hashB] != 1 ||
		len(st.TopSeeders) != 1 || st.TopSeeders[0].InfoHash != hashA || st.TopSeeders[0].Seeders != 1 {
		t.Errorf("stats.json tops: leechers %+v, seeders %+v", st.TopLeechers, st.TopSeeders)
	}
}

// statusJSON is the part of /stats.json the tests read.
type statusJSON struct {
	Version       string                                  `json:"version"`
	Announces     map[string]map[string]map[string]uint64 `json:"announces"`
	Scrapes       map[string]uint64                       `json:"scrapes"`
	Failures      map[string]map[string]uint64            `json:"failures"`
	UDPConnects   uint64                                  `json:"udp_connects"`
	UDPPacedReads uint64                                  `json:"udp_paced_reads"`
	Modes         map[string]struct {
		Torrents map[string]int64 `json:"torrents"`
		Seeders  int64            `json:"seeders"`
		Leechers int64            `json:"leechers"`
	} `json:"modes"`
	LastFlush *struct {
		Torrents int `json:"torrents"`
	} `json:"last_flush"`
	Database struct {
		Path      string `json:"path"`
		SizeBytes int64  `json:"size_bytes"`
	} `json:"database"`
	TopLeechers []topJSON `json:"top_leechers"`
	TopSeeders  []topJSON `json:"top_seeders"`
}

type topJSON struct {
	InfoHash string `json:"info_hash"`
	Seeders  int    `json:"seeders"`
	Leechers int    `json:"leechers"`
}

func readStatsJSON(t *testing.T, addr string) statusJSON {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/stats.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st statusJSON
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// A status address asked for and taken stops serve (exit 1, naming it).
// (The default one taken is only logged; that is not tested here, as
// holding 127.0.0.1:6970 would race with anything else on the machine.)
func TestStatusAddressTaken(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	db := filepath.Join(t.TempDir(), "j.db")
	r := runBounded(t, "serve", "--db", db, "--http", "127.0.0.1:0", "--udp", "127.0.0.1:0", "--status", held.Addr().String())
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "status") || !strings.Contains(r.stdout+r.stderr, held.Addr().String()) {
		t.Fatalf("exit %d, want 1 naming the status address\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// Torrents are counted by their origin whatever their modes: one read
// from --dir under the server's mode, one imported with its own.
func TestMetricsTorrentsByOrigin(t *testing.T) {
	dir := t.TempDir()
	torrents := filepath.Join(dir, "torrents")
	if err := os.Mkdir(torrents, 0o755); err != nil {
		t.Fatal(err)
	}
	copyTorrent(t, torrents, "v1-single.torrent")
	db := filepath.Join(dir, "t.db")
	s := startServer(t, "--db", db, "--dir", torrents, "--mode", "surge")
	if r := run(t, nil, "import", "--db", db, "--mode", "small", filepath.Join("..", "..", "testdata", "torrents", "v1-multi.torrent")); r.code != 0 {
		t.Fatalf("import: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	fams := scrapeMetrics(t, s.status)
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"mode=surge", "origin=dir"}, 1},
		{[]string{"mode=surge", "origin=imported"}, 0},
		{[]string{"mode=small", "origin=imported"}, 1},
		{[]string{"mode=small", "origin=dir"}, 0},
	} {
		if got := metricValue(t, fams, "johnlocke_torrents", c.labels...); got != c.want {
			t.Errorf("johnlocke_torrents%v = %v, want %v", c.labels, got, c.want)
		}
	}
}

// Refused announces are failures by reason, not announces.
func TestMetricsCountRefusalsApart(t *testing.T) {
	s := startServer(t, "--db", filepath.Join(t.TempDir(), "t.db")) // --locked: unknown torrents refused
	if r := s.get(t, "/announce", announceQuery(v1Single, 1001, 10, "started")); r["failure reason"] != "unregistered torrent" {
		t.Fatalf("announce of an unknown torrent: %v", r)
	}
	u := dialUDP(t, s.udp)
	if action := u.announce(t, u.connID, v1Single, 10); action != 3 {
		t.Fatalf("udp announce of an unknown torrent: action %d, want an error", action)
	}
	fams := scrapeMetrics(t, s.status)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"johnlocke_failures_total", []string{"protocol=http", "reason=unregistered"}, 1},
		{"johnlocke_failures_total", []string{"protocol=udp", "reason=unregistered"}, 1},
		{"johnlocke_failures_total", []string{"protocol=http", "reason=malformed"}, 0},
		{"johnlocke_announces_total", []string{"protocol=http", "mode=large", "event=started"}, 0},
		{"johnlocke_announces_total", []string{"protocol=udp", "mode=large", "event=started"}, 0},
		{"johnlocke_torrents", []string{"mode=large", "origin=organic"}, 0},
	} {
		if got := metricValue(t, fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// A connection over --max-conns-per-ip is counted as refused by the
// per-source cap; the one admitted is open.
func TestMetricsCountRefusedConnections(t *testing.T) {
	s := startServer(t, "--db", filepath.Join(t.TempDir(), "t.db"), "--max-conns-per-ip", "1")
	for range 2 {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Half a request head: accepted at once (TCP_DEFER_ACCEPT waits
		// for data), then held until the 5 s read timeout.
		if _, err := c.Write([]byte("GET /announce")); err != nil {
			t.Fatal(err)
		}
	}
	var refused, open float64
	waitFor(t, 10*time.Second, "a refused connection in the metrics", func() bool {
		fams := scrapeMetrics(t, s.status)
		refused = metricValue(t, fams, "johnlocke_http_refused_connections_total", "cap=per_source")
		open = metricValue(t, fams, "johnlocke_http_open_connections")
		return refused > 0 && open > 0
	})
	if refused != 1 || open != 1 {
		t.Errorf("refused %v, open %v; want 1 and 1", refused, open)
	}
	if got := metricValue(t, scrapeMetrics(t, s.status), "johnlocke_http_refused_connections_total", "cap=global"); got != 0 {
		t.Errorf("refused by the global cap %v, want 0", got)
	}
}

// TestBusyUDPReaderPaces loads serve over UDP with the binary's own load
// generator (16 clients, as fast as answered, far over two datagrams per
// 200 µs window): its readers must pace, and /metrics and /stats.json must
// say so; with --udp-window 0 they never do.
func TestBusyUDPReaderPaces(t *testing.T) {
	for _, window := range []string{"200us", "0"} {
		t.Run("window "+window, func(t *testing.T) {
			dir := t.TempDir()
			s := startServer(t, "--db", dir+"/t.db", "--locked=false", "--max-torrents-per-ip", "0", "--udp-window", window)
			r := run(t, nil, "loadtest", "--addr", s.udp, "--protocol", "udp", "--duration", "1s", "--torrents", "100", "--peers", "2000")
			if r.code != 0 || !strings.Contains(r.stdout, " errors=0 ") {
				t.Fatalf("loadtest: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			paced := metricValue(t, scrapeMetrics(t, s.status), "johnlocke_udp_paced_reads_total")
			st := readStatsJSON(t, s.status)
			if float64(st.UDPPacedReads) < paced {
				t.Errorf("stats.json udp_paced_reads %d, /metrics %v before it", st.UDPPacedReads, paced)
			}
			if window == "0" && paced != 0 {
				t.Errorf("%v paced reads with --udp-window 0", paced)
			}
			if window != "0" && paced == 0 {
				t.Errorf("no paced read under load:\n%s", r.stdout)
			}
		})
	}
}
