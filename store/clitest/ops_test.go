package clitest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMissingDatabaseIsNotCreated: a typo in --db fails loudly (exit 3,
// naming the file) in every subcommand but serve and import, and leaves no
// file behind, so a cron job with a mistyped path mails someone.
func TestMissingDatabaseIsNotCreated(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	for _, args := range [][]string{
		{"purge"}, {"purge", "--older-than", "90d"}, {"purge", "--dry-run"},
		{"stats"}, {"stats", v1Single, "--json"},
		{"migrate"}, {"migrate", "--dry-run"},
	} {
		r := run(t, nil, append(args, "--db", missing)...)
		if r.code != 3 || !strings.Contains(r.stderr, "no database at "+missing) || !strings.Contains(r.stderr, "creates one") {
			t.Errorf("%v on a missing database: exit %d, want 3 and a message naming it\n%s%s", args, r.code, r.stdout, r.stderr)
		}
		if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%v created %s (stat: %v)", args, missing, err)
		}
	}

	// import creates one and says so, once.
	db := filepath.Join(dir, "new.db")
	torrent := filepath.Join(torrentsDir, "v1-single.torrent")
	r := run(t, nil, "import", "--db", db, torrent)
	if r.code != 0 || strings.Count(r.stdout, "created new database "+db+"\n") != 1 {
		t.Fatalf("import into a new database: exit %d, want 0 and one line saying it created %s\n%s%s", r.code, db, r.stdout, r.stderr)
	}
	if r = run(t, nil, "import", "--db", db, torrent); r.code != 0 || strings.Contains(r.stdout, "created") {
		t.Fatalf("import into an existing database: exit %d, want 0 and no 'created'\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestServeThatCannotListenLeavesNoDatabase: serve creates a database only
// to serve it; one that fails to open its listener takes the file away
// again, and one that serves says it created it.
func TestServeThatCannotListenLeavesNoDatabase(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	db := filepath.Join(t.TempDir(), "j.db")
	r := run(t, nil, "serve", "--db", db, "--http", taken.Addr().String(), "--udp", "")
	if r.code != 1 {
		t.Fatalf("serve on a taken port: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("serve that never served left %s behind (stat: %v)", db, err)
	}
}

// adminTorrents reads GET /v1/torrents from the admin socket at sock.
func adminTorrents(t *testing.T, sock string) map[string]map[string]any {
	t.Helper()
	hc := http.Client{Transport: &http.Transport{Dial: func(string, string) (net.Conn, error) {
		return net.Dial("unix", sock)
	}}, Timeout: 5 * time.Second}
	resp, err := hc.Get("http://x/v1/torrents")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]map[string]any{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var item struct{ Torrent map[string]any }
		if err := json.Unmarshal(sc.Bytes(), &item); err != nil {
			t.Fatalf("%v: %s", err, sc.Bytes())
		}
		if item.Torrent != nil {
			out[item.Torrent["infohash"].(string)] = item.Torrent
		}
	}
	return out
}

// TestStatsSaysWhenAndWhichMode: right after an announce, stats shows the
// last activity to the second and names the mode in effect; the admin API
// and stats --json agree on mode and source; without a server, stats says
// its figures are the last flush's.
func TestStatsSaysWhenAndWhichMode(t *testing.T) {
	db := filepath.Join(t.TempDir(), "j.db")
	s := startServer(t, "--db", db, "--mode", "surge", "--flush-interval", "1h")
	if r := run(t, nil, "import", "--db", db, filepath.Join(torrentsDir, "v1-single.torrent")); r.code != 0 {
		t.Fatalf("import: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, nil, "import", "--db", db, "--mode", "small", filepath.Join(torrentsDir, "v1-multi.torrent")); r.code != 0 {
		t.Fatalf("import --mode small: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Two announces, so the second is not the first of its minute (the one
	// that marks the record for the next flush).
	s.get(t, "/announce", announceQuery(v1Single, 7001, 100, "started"))
	before := time.Now().Truncate(time.Second)
	s.get(t, "/announce", announceQuery(v1Single, 7002, 100, "started"))
	after := time.Now()
	within := func(when string) {
		t.Helper()
		got := statsOf(t, "--db", db, v1Single)
		if got.LastActive == nil || got.LastActive.Before(before) || got.LastActive.After(after) {
			t.Fatalf("%s: last_active %v, want the announce at %v-%v", when, got.LastActive, before, after)
		}
	}
	within("beside the server")
	r := run(t, nil, "stats", "--db", db, v1Single)
	if !strings.Contains(r.stdout, "surge, the server's default") {
		t.Fatalf("stats does not name the mode in effect:\n%s", r.stdout)
	}

	// The admin API and stats --json say the same mode and source.
	api := adminTorrents(t, s.admin)
	if len(api) != 2 {
		t.Fatalf("/v1/torrents: %d torrents, want 2", len(api))
	}
	for hash, tor := range api {
		r := run(t, nil, "stats", "--db", db, hash, "--json")
		var js map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &js); err != nil {
			t.Fatalf("stats --json %s: %v\n%s", hash, err, r.stdout)
		}
		for _, key := range []string{"mode", "source"} {
			if tor[key] != js[key] {
				t.Errorf("%s: /v1/torrents %s = %#v, stats --json %s = %#v", hash, key, tor[key], key, js[key])
			}
		}
	}

	s.stop(t)
	within("without a server")
	r = run(t, nil, "stats", "--db", db, v1Single)
	for _, want := range []string{"surge, the default of the last serve", "as of the last flush", "surge keeps no peers on disk"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("offline stats lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestPurgeLeavesDirTorrents: a stale torrent whose file is still in --dir
// would come back at the next scan with its counters reset, so purge
// leaves it, and its dry run says so.
func TestPurgeLeavesDirTorrents(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "j.db")
	torrents := filepath.Join(dir, "torrents")
	if err := os.Mkdir(torrents, 0o755); err != nil {
		t.Fatal(err)
	}
	copyTorrent(t, torrents, "v1-single.torrent")
	s := startServer(t, "--db", db, "--dir", torrents)
	// A completion counts from a peer the swarm knew as a leecher.
	s.get(t, "/announce", announceQuery(v1Single, 7001, 100, "started"))
	s.get(t, "/announce", announceQuery(v1Single, 7001, 0, "completed"))
	s.stop(t)

	r := run(t, nil, "purge", "--db", db, "--older-than", "1ns", "--dry-run")
	want := "skipped torrent " + v1Single + ": its file " + filepath.Join(torrents, "v1-single.torrent") + " is still under --dir"
	if r.code != 0 || !strings.Contains(r.stdout, want) || strings.Contains(r.stdout, "would remove torrent") {
		t.Fatalf("purge --dry-run: exit %d, want it to say %q\n%s%s", r.code, want, r.stdout, r.stderr)
	}
	if r = run(t, nil, "purge", "--db", db, "--older-than", "1ns"); r.code != 0 || r.stdout != "" {
		t.Fatalf("purge: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := statsOf(t, "--db", db, v1Single); got.Completed != 1 {
		t.Fatalf("after purge: %+v, want it registered with its completed count", got)
	}
}

// TestImportHashes: an opentracker whitelist (one hex infohash a line)
// registers bare infohashes through the admin socket, each answering
// announces at once; a bad line fails like a broken .torrent file.
func TestImportHashes(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "j.db")
	s := startServer(t, "--db", db)
	var hashes []string
	for i := range 3 {
		hashes = append(hashes, fmt.Sprintf("%040x", 0xabc0+i))
	}
	list := filepath.Join(dir, "whitelist")
	if err := os.WriteFile(list, []byte(strings.Join(hashes, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, h := range hashes {
		if m := s.get(t, "/announce", announceQuery(h, 7001, 100, "started")); m["failure reason"] != "unregistered torrent" {
			t.Fatalf("announce before import: %v", m)
		}
	}
	r := run(t, nil, "import", "--db", db, "--hashes", list)
	if r.code != 0 || !strings.Contains(r.stdout, "imported 3 new, 0 already registered, 0 mode changed, 0 failed") {
		t.Fatalf("import --hashes: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for i, h := range hashes {
		if want := fmt.Sprintf("added    %s (name unknown) (%s:%d)", h, list, i+1); !strings.Contains(r.stdout, want) {
			t.Errorf("import --hashes output lacks %q:\n%s", want, r.stdout)
		}
		if m := s.get(t, "/announce", announceQuery(h, 7001, 100, "started")); m["failure reason"] != nil || m["incomplete"] != int64(1) {
			t.Fatalf("announce for %s after import --hashes: %v", h, m)
		}
	}
	if got := statsOf(t, "--db", db); got.Torrents != 3 {
		t.Fatalf("stats: %d torrents, want 3", got.Torrents)
	}

	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte(hashes[0]+"\nnot an infohash\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = run(t, nil, "import", "--db", db, "--hashes", bad)
	if r.code != 1 || !strings.Contains(r.stdout, "failed   "+bad+":2: ") || !strings.Contains(r.stdout, "0 new, 1 already registered, 0 mode changed, 1 failed") {
		t.Fatalf("import --hashes with a bad line: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r = run(t, nil, "import", "--db", db, "--hashes", filepath.Join(dir, "nope")); r.code != 1 {
		t.Fatalf("import --hashes of a missing file: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
}
