package announce

import (
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/rs/zerolog"

	"johnlocke/modes"
	"johnlocke/store"
)

// fullScrapeGet fetches /scrape without an infohash, asking for gzip when
// gz is set, and returns the decoded body and its Content-Encoding.
func fullScrapeGet(t *testing.T, addr string, gz bool) (body []byte, encoding string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/scrape", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Set by hand, the transport leaves the body as it came.
	if gz {
		req.Header.Set("Accept-Encoding", "deflate, gzip;q=0.8")
	} else {
		req.Header.Set("Accept-Encoding", "gzip;q=0, identity")
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	encoding = resp.Header.Get("Content-Encoding")
	if encoding == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if raw, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	return raw, encoding
}

// TestFullScrape: with FullScrape on, a scrape without an infohash gets
// every torrent's counts but small-mode ones, plain or gzipped as the
// client accepts, from a cache rebuilt in the background.
func TestFullScrape(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "t.db"), store.Config{Mode: modes.Large, Locked: true, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	large, surge, small := [20]byte{0x10, 1}, [20]byte{0x01, 2}, [20]byte{0x80, 3}
	if _, err := st.Register([]store.Torrent{
		{InfoHash: large, Mode: modes.Large}, {InfoHash: surge, Mode: modes.Surge}, {InfoHash: small, Mode: modes.Small},
	}); err != nil {
		t.Fatal(err)
	}
	announceOne := func(h [20]byte, port uint16, left uint64) {
		req := store.Request{InfoHash: h, Port: port, Left: left, NumWant: -1}
		copy(req.Addr[:], []byte{127, 0, 0, 1})
		if err := st.Announce(&req, &store.Response{}); err != nil {
			t.Fatal(err)
		}
	}
	announceOne(large, 1, 0)
	announceOne(large, 2, 5)
	announceOne(small, 3, 5)

	cfg := testConfig()
	cfg.FullScrape, cfg.FullScrapeInterval = true, 1 // every request asks for a rebuild
	srv, addr := startServer(t, st, cfg)
	<-srv.fullBuilt

	want := AppendScrapeStart(nil)
	want = AppendScrapeFile(want, surge, store.ScrapeCounts{})
	want = AppendScrapeFile(want, large, store.ScrapeCounts{Complete: 1, Incomplete: 1})
	want = AppendScrapeEnd(want)
	plain, enc := fullScrapeGet(t, addr, false)
	if enc != "" || !bytes.Equal(plain, want) {
		t.Fatalf("plain full scrape (encoding %q):\n got %q\nwant %q", enc, plain, want)
	}
	<-srv.fullBuilt // the request found the answer stale and asked for another
	gz, enc := fullScrapeGet(t, addr, true)
	if enc != "gzip" || !bytes.Equal(gz, want) {
		t.Fatalf("gzip full scrape (encoding %q):\n got %q\nwant %q", enc, gz, want)
	}

	// A new peer shows in the next build, not in the answer being served.
	<-srv.fullBuilt
	announceOne(surge, 4, 5)
	if got, _ := fullScrapeGet(t, addr, false); !bytes.Equal(got, want) {
		t.Fatalf("the cached answer changed before a rebuild:\n got %q", got)
	}
	<-srv.fullBuilt
	got, _ := fullScrapeGet(t, addr, false)
	d := decodeDict(t, got)
	files := d["files"].(map[string]any)
	if c := files[string(surge[:])].(map[string]any); c["incomplete"] != int64(1) {
		t.Fatalf("surge torrent after a rebuild: %#v", c)
	}
	if _, ok := files[string(small[:])]; ok {
		t.Fatal("a small-mode torrent is in the full scrape")
	}
}

// TestFullScrapeOff: without FullScrape the answer is the failure reason.
func TestFullScrapeOff(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "t.db"), store.Config{Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	_, addr := startServer(t, st, testConfig())
	body, _ := fullScrapeGet(t, addr, true)
	if d := decodeDict(t, body); d["failure reason"] != string(ErrFullScrape) {
		t.Fatalf("full scrape without FullScrape: %#v", d)
	}
}

func TestAcceptsGzip(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"gzip", true}, {"GZIP", true}, {"deflate, gzip;q=0.5", true}, {"*", true}, {"x-gzip", true},
		{"", false}, {"deflate", false}, {"gzip;q=0", false}, {"gzip; q=0.000", false}, {"identity", false},
	} {
		if got := acceptsGzip([]byte(tc.in)); got != tc.want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestFullScrapeLarge: an answer larger than the socket takes at once is
// written whole (on Linux: the accepting goroutine hands the rest to a
// goroutine of its own).
func TestFullScrapeLarge(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "t.db"), store.Config{Mode: modes.Large, Locked: true, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	const n = 20_000 // about 1.4 MB of bencode, more than a socket takes at once
	ts := make([]store.Torrent, n)
	for i := range ts {
		ts[i].InfoHash = [20]byte{byte(i), byte(i >> 8), byte(i >> 16), 7}
	}
	if _, err := st.Register(ts); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.FullScrape = true
	srv, addr := startServer(t, st, cfg)
	<-srv.fullBuilt
	slices.SortFunc(ts, func(a, b store.Torrent) int { return bytes.Compare(a.InfoHash[:], b.InfoHash[:]) })
	want := AppendScrapeStart(nil)
	for i := range ts {
		want = AppendScrapeFile(want, ts[i].InfoHash, store.ScrapeCounts{})
	}
	want = AppendScrapeEnd(want)
	body, _ := fullScrapeGet(t, addr, false)
	if !bytes.Equal(body, want) {
		t.Fatalf("full scrape of %d torrents: %d bytes, want %d", n, len(body), len(want))
	}
	gz, enc := fullScrapeGet(t, addr, true)
	if enc != "gzip" || !bytes.Equal(gz, body) {
		t.Fatalf("gzip answer (encoding %q) differs from the plain one", enc)
	}
}

// BenchmarkBuildFullScrape measures one build of the full scrape answer
// (plain and gzip) over 200,000 registered torrents.
func BenchmarkBuildFullScrape(b *testing.B) {
	st, err := store.Open(filepath.Join(b.TempDir(), "t.db"), store.Config{Mode: modes.Large, Locked: true, Log: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	const n = 200_000
	ts := make([]store.Torrent, n)
	for i := range ts {
		ts[i].InfoHash = sha1.Sum([]byte(strconv.Itoa(i))) // random-looking, as real infohashes are
	}
	if _, err := st.Register(ts); err != nil {
		b.Fatal(err)
	}
	srv := NewHTTPServer(st, HTTPConfig{FullScrape: true}, zerolog.Nop())
	var buf []store.ScrapeEntry
	b.ReportAllocs()
	for b.Loop() {
		buf = srv.buildFullScrape(st, buf)
	}
	f := srv.full.Load()
	b.ReportMetric(float64(len(f.plain)), "plain-bytes")
	b.ReportMetric(float64(len(f.gz)), "gzip-bytes")
}
