package status_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"johnlocke/announce"
	"johnlocke/announce/status"
	"johnlocke/announce/udp"
	"johnlocke/modes"
	"johnlocke/store"
	"johnlocke/store/clusterview"
)

// tracker is a real store with real HTTP, UDP and status listeners on
// loopback.
type tracker struct {
	st                    *store.Store
	http, udp, statusAddr string
}

// numTorrents are registered with names, half large, half small.
const numTorrents = 30

func hashOf(i int) [20]byte {
	var h [20]byte
	copy(h[:], fmt.Sprintf("status-test-%08d", i))
	return h
}

func startTracker(t *testing.T) *tracker {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := zerolog.Nop()
	st, err := store.Open(filepath.Join(t.TempDir(), "t.db"), store.Config{Mode: modes.Large, Locked: true, FlushInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var ts []store.Torrent
	for i := range numTorrents {
		m := modes.Large
		if i%2 == 1 {
			m = modes.Small
		}
		ts = append(ts, store.Torrent{InfoHash: hashOf(i), Name: fmt.Sprintf("torrent-%02d.iso", i), Mode: m, Source: store.SourceImport, Size: 1 << 20})
	}
	if _, err := st.Register(ts); err != nil {
		t.Fatal(err)
	}
	storeDone := make(chan error, 1)
	go func() { storeDone <- st.Run(ctx) }()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := announce.NewHTTPServer(st, announce.HTTPConfig{MaxPeers: 50}, log)
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	us := udp.NewServer(st, udp.Config{Key: make([]byte, 32), MaxPeers: 50}, log)
	sln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ss := status.New(status.Sources{Store: st, HTTP: hs, UDP: us, Version: "test", Started: time.Now()}, 50*time.Millisecond, log)
	done := make(chan error, 3)
	go func() { done <- hs.Serve(ctx, ln) }()
	go func() { done <- us.Serve(ctx, pc) }()
	go func() { done <- ss.Serve(ctx, sln) }()
	t.Cleanup(func() {
		cancel()
		for range 3 {
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
		if err := <-storeDone; err != nil {
			t.Error(err)
		}
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	return &tracker{st: st, http: ln.Addr().String(), udp: pc.LocalAddr().String(), statusAddr: sln.Addr().String()}
}

// load announces torrent i's peers: i+1 leechers and i%3 seeders over
// HTTP, one leecher over UDP, so that the tops are known.
func (tr *tracker) load(t *testing.T) {
	t.Helper()
	c, err := net.Dial("udp4", tr.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	be := binary.BigEndian
	buf := make([]byte, 1500)
	conn := be.AppendUint64(nil, 0x41727101980)
	conn = be.AppendUint32(conn, 0)
	conn = be.AppendUint32(conn, 1)
	if _, err := c.Write(conn); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(buf); err != nil || n != 16 {
		t.Fatalf("connect: %d bytes, %v", n, err)
	}
	id := be.Uint64(buf[8:])
	port := 10000
	for i := range numTorrents {
		h := hashOf(i)
		for j := range i + 1 + i%3 {
			port++
			left := "10"
			if j > i {
				left = "0"
			}
			q := url.Values{"info_hash": {string(h[:])}, "peer_id": {fmt.Sprintf("-XX0001-%012d", port)},
				"port": {strconv.Itoa(port)}, "uploaded": {"0"}, "downloaded": {"0"}, "left": {left}, "event": {"started"}}
			resp, err := http.Get("http://" + tr.http + "/announce?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), "failure reason") {
				t.Fatalf("announce refused: %s", body)
			}
		}
		ann := be.AppendUint64(nil, id)
		ann = be.AppendUint32(ann, 1)
		ann = be.AppendUint32(ann, 2)
		ann = append(ann, h[:]...)
		ann = append(ann, fmt.Sprintf("-YY0001-%012d", i)...)
		ann = be.AppendUint64(ann, 0)
		ann = be.AppendUint64(ann, 10)
		ann = be.AppendUint64(ann, 0)
		ann = be.AppendUint32(ann, 2)
		ann = be.AppendUint32(ann, 0)
		ann = be.AppendUint32(ann, 1)
		ann = be.AppendUint32(ann, 5)
		ann = be.AppendUint16(ann, 7000)
		if _, err := c.Write(ann); err != nil {
			t.Fatal(err)
		}
		if n, err := c.Read(buf); err != nil || n < 20 || be.Uint32(buf) != 1 {
			t.Fatalf("udp announce: %d bytes, %v", n, err)
		}
	}
}

func getJSON(t *testing.T, addr string) status.Stats {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/stats.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st status.Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// waitHistory waits until the charts' history holds a sample with
// announces in it.
func waitHistory(t *testing.T, addr string) status.Stats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := getJSON(t, addr)
		for _, r := range st.History.HTTP {
			if r > 0 {
				return st
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no announce rate in the history after 10 s: %+v", st.History)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The page says something without JavaScript: the server renders the
// tables, with the announced torrents' names, and no peer address.
func TestPageRendersTablesServerSide(t *testing.T) {
	tr := startTracker(t)
	tr.load(t)
	resp, err := http.Get("http://" + tr.statusAddr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("/: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	// The most leechers: torrent 29 (30 over HTTP, 1 over UDP).
	// One UDP announce is far below two per window: no paced read.
	for _, want := range []string{"torrent-29.iso", "torrent-10.iso", "<table id=\"modes\"", "assets/uPlot.iife.min.js", "UDP paced reads 0"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "127.0.0.1:10") || strings.Contains(page, "//cdn") || regexp.MustCompile(`src="https?:`).MatchString(page) {
		t.Error("page shows a peer address or loads from another host")
	}
	for _, asset := range []string{"uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE", "status.js", "status.css"} {
		r, err := http.Get("http://" + tr.statusAddr + "/assets/" + asset)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != 200 {
			t.Errorf("/assets/%s: %s", asset, r.Status)
		}
	}
	st := getJSON(t, tr.statusAddr)
	if len(st.TopLeechers) != 20 || st.TopLeechers[0].Name != "torrent-29.iso" || st.TopLeechers[0].Leechers != 31 ||
		st.TopLeechers[0].Completed != 0 || st.TopLeechers[0].Mode != "small" {
		t.Errorf("top leechers: %+v", st.TopLeechers)
	}
	// Seeders: torrent i has i%3 of them; 20 torrents have some.
	if len(st.TopSeeders) != 20 || st.TopSeeders[0].Seeders != 2 || st.TopSeeders[19].Seeders != 1 {
		t.Errorf("top seeders: %+v", st.TopSeeders)
	}
	if got := st.Modes["small"].Torrents["imported"] + st.Modes["large"].Torrents["imported"]; got != numTorrents {
		t.Errorf("imported torrents %d, want %d", got, numTorrents)
	}
}

// chromium finds Debian's headless browser, skipping the test without one.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium installed (apt-get install chromium)")
	return ""
}

func runChromium(t *testing.T, args ...string) string {
	t.Helper()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir=" + t.TempDir(),
		// Lets the page's script fetch stats.json and draw before the
		// DOM is dumped, in virtual time (no waiting).
		"--virtual-time-budget=3000"}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium(t), append(base, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}

// A real browser loads the page after a short load run: the charts have
// drawn data and the top tables list the announced torrents. It saves a
// screenshot (to $JOHNLOCKE_STATUS_SCREENSHOT when set, for the README).
func TestPageInBrowser(t *testing.T) {
	chromium(t)
	tr := startTracker(t)
	tr.load(t)
	waitHistory(t, tr.statusAddr)
	url := "http://" + tr.statusAddr + "/"
	dom := runChromium(t, "--dump-dom", url)
	if !strings.Contains(dom, "data-refreshed=") {
		t.Fatalf("the script did not render stats.json:\n%s", dom)
	}
	for _, id := range []string{"chart-proto", "chart-mode", "chart-swarm"} {
		m := regexp.MustCompile(`id="` + id + `" data-points="(\d+)"`).FindStringSubmatch(dom)
		if m == nil || m[1] == "0" {
			t.Errorf("chart %s drew no data: %v", id, m)
		}
	}
	if n := strings.Count(dom, "<canvas"); n != 3 {
		t.Errorf("%d canvases, want 3", n)
	}
	for _, want := range []string{"torrent-29.iso", "torrent-10.iso"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
	shot := os.Getenv("JOHNLOCKE_STATUS_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(t.TempDir(), "status.png")
	}
	runChromium(t, "--screenshot="+shot, "--window-size=1280,1600", "--hide-scrollbars", url)
	if fi, err := os.Stat(shot); err != nil || fi.Size() < 10_000 {
		t.Errorf("screenshot %s: %v", shot, err)
	}
}

// The Grafana dashboard asks only for metrics the listener serves.
func TestGrafanaDashboardNamesServedMetrics(t *testing.T) {
	tr := startTracker(t)
	tr.load(t)
	raw, err := os.ReadFile("grafana.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("grafana.json: %v", err)
	}
	resp, err := http.Get("http://" + tr.statusAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The cluster panels ask for what a node in cluster mode adds.
	clusterNode := startStatus(t, func() clusterview.Figures {
		return clusterview.Figures{NodeName: "a", Seen: []clusterview.Peer{{Name: "b", Live: true}}, ChangesSent: 1, ChangesApplied: 1}
	})
	body = append(body, get(t, "http://"+clusterNode+"/metrics")...)
	served := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if name, _, ok := strings.Cut(line, " "); ok && !strings.HasPrefix(line, "#") {
			name, _, _ = strings.Cut(name, "{")
			served[name] = true
		}
	}
	if !served["johnlocke_cluster_nodes_seen"] {
		t.Fatal("the cluster-mode listener serves no johnlocke_cluster_nodes_seen")
	}
	name := regexp.MustCompile(`\b(?:johnlocke|process|go)_[a-z0-9_]+`)
	asked := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, n := range name.FindAllString(tg.Expr, -1) {
				asked++
				if !served[n] {
					t.Errorf("panel %q asks for %s, which /metrics does not serve", p.Title, n)
				}
			}
		}
	}
	if asked < 20 {
		t.Errorf("the dashboard names %d metrics; is it read right?", asked)
	}
}
