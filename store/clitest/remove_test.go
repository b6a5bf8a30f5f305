package clitest

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestRemoveAndBan drives remove, remove --ban, unban and stats --banned
// beside a running serve and on the stopped database: the same output and
// exit codes both ways, a ban that outlives a restart and refuses import.
func TestRemoveAndBan(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "j.db")
	single := filepath.Join(torrentsDir, "v1-single.torrent")
	hybrid := filepath.Join(torrentsDir, "hybrid.torrent")
	s := startServer(t, "--db", db)

	if r := run(t, nil, "import", "--db", db, single, hybrid); r.code != 0 {
		t.Fatalf("import: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	q := announceQuery(v1Single, 7001, 100, "started")
	if m := s.get(t, "/announce", q); m["failure reason"] != nil {
		t.Fatalf("announce after import: %v", m)
	}

	// Live: remove --ban, then an unknown infohash without --ban.
	const unknownHash = "00000000000000000000000000000000000000aa"
	r := run(t, nil, "remove", "--db", db, "--ban", "--reason", "takedown 42", v1Single)
	if r.code != 0 || r.stdout != "removed  "+v1Single+" banned\n" {
		t.Fatalf("remove --ban live: exit %d\n%q\n%s", r.code, r.stdout, r.stderr)
	}
	if m := s.get(t, "/announce", q); m["failure reason"] != "torrent removed" {
		t.Fatalf("announce of a banned torrent: %v, want failure reason \"torrent removed\"", m)
	}
	if m := s.get(t, "/scrape", url1(v1Single)); len(m["files"].(map[string]any)) != 0 {
		t.Fatalf("scrape of a removed torrent: %v, want no files", m)
	}
	r = run(t, nil, "remove", "--db", db, unknownHash)
	if r.code != 1 || r.stdout != "unknown  "+unknownHash+"\n" {
		t.Fatalf("remove of an unknown infohash live: exit %d, want 1\n%q\n%s", r.code, r.stdout, r.stderr)
	}
	liveUnknown := r.stdout
	r = run(t, nil, "import", "--db", db, single)
	if r.code != 1 || !strings.Contains(r.stdout, "banned   "+v1Single) || !strings.Contains(r.stderr, "banned") {
		t.Fatalf("import of a banned file live: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	liveImport := r.stdout
	r = run(t, nil, "stats", "--db", db, "--banned")
	if r.code != 0 || !strings.Contains(r.stdout, v1Single) || !strings.Contains(r.stdout, "takedown 42") {
		t.Fatalf("stats --banned live: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	liveBanned := r.stdout

	// Stopped: the same answers from the file.
	s.stop(t)
	if r = run(t, nil, "stats", "--db", db, "--banned"); r.code != 0 || r.stdout != liveBanned {
		t.Fatalf("stats --banned offline: exit %d\n%q\nwant %q", r.code, r.stdout, liveBanned)
	}
	if r = run(t, nil, "import", "--db", db, single); r.code != 1 || r.stdout != liveImport {
		t.Fatalf("import of a banned file offline: exit %d, want 1\n%q\nwant %q", r.code, r.stdout, liveImport)
	}
	if r = run(t, nil, "remove", "--db", db, unknownHash); r.code != 1 || r.stdout != liveUnknown {
		t.Fatalf("remove of an unknown infohash offline: exit %d\n%q\nwant %q", r.code, r.stdout, liveUnknown)
	}
	// A hybrid torrent removed by magnet link of its primary name, banned.
	magnet := "magnet:?xt=urn:btih:" + hybridV1 + "&dn=x"
	if r = run(t, nil, "remove", "--db", db, "--ban", magnet); r.code != 0 || r.stdout != "removed  "+hybridV1+" banned\n" {
		t.Fatalf("remove --ban offline: exit %d\n%q\n%s", r.code, r.stdout, r.stderr)
	}
	if r = run(t, nil, "remove", "--db", db, "--reason", "x", hybridV1); r.code != 2 {
		t.Fatalf("--reason without --ban: exit %d, want 2", r.code)
	}
	if r = run(t, nil, "remove", "--db", db, "not-a-hash"); r.code != 2 {
		t.Fatalf("remove of a malformed infohash: exit %d, want 2", r.code)
	}

	// The ban outlives the restart; unban lifts it live.
	s = startServer(t, "--db", db)
	if m := s.get(t, "/announce", q); m["failure reason"] != "torrent removed" {
		t.Fatalf("announce of a banned torrent after restart: %v", m)
	}
	if r = run(t, nil, "unban", "--db", db, v1Single); r.code != 0 || r.stdout != "unbanned "+v1Single+"\n" {
		t.Fatalf("unban live: exit %d\n%q\n%s", r.code, r.stdout, r.stderr)
	}
	if m := s.get(t, "/announce", q); m["failure reason"] != "unregistered torrent" {
		t.Fatalf("announce after unban: %v, want unregistered", m)
	}
	if r = run(t, nil, "unban", "--db", db, v1Single); r.code != 1 || r.stdout != "unknown  "+v1Single+"\n" {
		t.Fatalf("second unban live: exit %d, want 1\n%q", r.code, r.stdout)
	}
	if r = run(t, nil, "import", "--db", db, single); r.code != 0 || !strings.Contains(r.stdout, "added    "+v1Single) {
		t.Fatalf("import after unban: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if m := s.get(t, "/announce", q); m["failure reason"] != nil {
		t.Fatalf("announce after re-import: %v", m)
	}
	s.stop(t)
	if r = run(t, nil, "stats", "--db", db, "--banned"); r.code != 0 || strings.Contains(r.stdout, v1Single) || !strings.Contains(r.stdout, hybridV1) {
		t.Fatalf("stats --banned after unban: exit %d\n%s", r.code, r.stdout)
	}
}

// url1 is a scrape query for one infohash (hex).
func url1(infohash string) map[string][]string {
	return map[string][]string{"info_hash": {hexBytes(infohash)}}
}
