package clitest

import (
	"bytes"
	"compress/gzip"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackpal/bencode-go"
)

// rawScrape fetches /scrape without an infohash from addr, asking for
// gzip when gz is set; it returns the body (gunzipped) and its encoding.
func rawScrape(t *testing.T, addr string, gz bool) (map[string]any, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/scrape", nil)
	if err != nil {
		t.Fatal(err)
	}
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	} else {
		req.Header.Set("Accept-Encoding", "identity")
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body io.Reader = resp.Body
	enc := resp.Header.Get("Content-Encoding")
	if enc == "gzip" {
		if body, err = gzip.NewReader(resp.Body); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	v, err := bencode.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%v: %q", err, raw)
	}
	return v.(map[string]any), enc
}

// TestFullScrapeThroughServe: serve --full-scrape answers a scrape without
// an infohash with every torrent but small-mode ones, plain and gzipped;
// without the flag the answer is the old failure reason.
func TestFullScrapeThroughServe(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "j.db")
	if r := run(t, nil, "--db", db, "import", filepath.Join(torrentsDir, "v1-single.torrent")); r.code != 0 {
		t.Fatalf("import: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, nil, "--db", db, "import", "--mode", "small", filepath.Join(torrentsDir, "v1-multi.torrent")); r.code != 0 {
		t.Fatalf("import: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	s := startServer(t, "--db", db, "--full-scrape")
	// The first answer is built as serve starts.
	var files map[string]any
	waitFor(t, 10*time.Second, "the first full scrape answer", func() bool {
		m, _ := rawScrape(t, s.addr, false)
		files, _ = m["files"].(map[string]any)
		return m["failure reason"] != "full scrape not ready yet, try again later"
	})
	if c, _ := files[hexBytes(v1Single)].(map[string]any); c == nil || c["complete"] != int64(0) || len(files) != 1 {
		t.Fatalf("full scrape lists %d torrents, want 1 (the small one left out): %v", len(files), files)
	}
	m, enc := rawScrape(t, s.addr, true)
	if enc != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", enc)
	}
	if gzFiles, _ := m["files"].(map[string]any); len(gzFiles) != 1 || gzFiles[hexBytes(v1Single)] == nil {
		t.Fatalf("gzip full scrape: %v", m)
	}
	s.stop(t)

	s = startServer(t, "--db", db)
	if m, _ := rawScrape(t, s.addr, true); m["failure reason"] != "full scrape is not supported" {
		t.Fatalf("full scrape without --full-scrape: %v", m)
	}
}

// TestExternalIPThroughServe: serve's HTTP announce answers name the
// address they came from (BEP 24), over IPv4 and IPv6.
func TestExternalIPThroughServe(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "j.db")
	if r := run(t, nil, "--db", db, "import", filepath.Join(torrentsDir, "v1-single.torrent")); r.code != 0 {
		t.Fatalf("import: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	s := startServer(t, "--db", db)
	if m := s.get(t, "/announce", announceQuery(v1Single, 7001, 0, "started")); m["external ip"] != string(net.IPv4(127, 0, 0, 1).To4()) {
		t.Fatalf("external ip over IPv4: %q", m["external ip"])
	}
	s.stop(t)
	if ln, err := net.Listen("tcp6", "[::1]:0"); err != nil {
		t.Skip("no IPv6 loopback")
	} else {
		ln.Close()
	}
	cmd := []string{"--db", db, "--http", "[::1]:0"}
	s6 := startServer(t, cmd...)
	if m := s6.get(t, "/announce", announceQuery(v1Single, 7002, 0, "started")); m["external ip"] != string(net.IPv6loopback) {
		t.Fatalf("external ip over IPv6: %q", m["external ip"])
	}
}
