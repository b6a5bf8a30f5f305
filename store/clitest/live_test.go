package clitest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// announceQuery is a compact announce for infohash (hex) from port.
func announceQuery(infohash string, port int, left int, event string) url.Values {
	q := url.Values{
		"info_hash": {hexBytes(infohash)}, "peer_id": {fmt.Sprintf("-XX0001-%012d", port)},
		"port": {fmt.Sprint(port)}, "uploaded": {"0"}, "downloaded": {"0"}, "left": {fmt.Sprint(left)},
	}
	if event != "" {
		q.Set("event", event)
	}
	return q
}

// stop sends SIGTERM and waits (bounded) for a clean exit.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		s.done <- nil // for the cleanup's wait
		if err != nil {
			t.Fatalf("serve after SIGTERM: %v, want exit 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
}

// shape is what must not differ between the socket and the file: the labels
// of a text report (its first column), or the keys of a JSON one.
func shape(t *testing.T, out string) []string {
	t.Helper()
	var keys []string
	if strings.HasPrefix(out, "{") {
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return keys
	}
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		label, _, _ := strings.Cut(strings.TrimSpace(line), "  ")
		keys = append(keys, label)
	}
	return keys
}

// statsJSON is what the tests read from `stats --json`.
type statsJSON struct {
	Name, Mode        string
	Seeders, Leechers int
	Completed         int
	Torrents          int
	InfoHash, Source  string
	LastActive        *time.Time     `json:"last_active"`
	ActiveLastDay     int            `json:"active_last_day"`
	ByMode            map[string]int `json:"by_mode"`
}

func statsOf(t *testing.T, args ...string) statsJSON {
	t.Helper()
	r := run(t, nil, append([]string{"stats", "--json"}, args...)...)
	var got statsJSON
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &got) != nil {
		t.Fatalf("stats %v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
	}
	return got
}

func TestLiveSubcommandsThenOffline(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "j.db")
	s := startServer(t, "--db", db, "--mode", "large", "--flush-interval", "200ms")
	if want := db + ".sock"; s.admin != want {
		t.Fatalf("admin socket %q, want %q", s.admin, want)
	}
	fi, err := os.Stat(s.admin)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin socket: %v, mode %v", err, fi.Mode())
	}

	// import through the socket: the torrent answers announces at once.
	single := filepath.Join(torrentsDir, "v1-single.torrent")
	q := announceQuery(v1Single, 7001, 100, "started")
	if m := s.get(t, "/announce", q); m["failure reason"] != "unregistered torrent" {
		t.Fatalf("announce before import: %v", m)
	}
	r := run(t, nil, "import", "--db", db, "--mode", "small", single, filepath.Join(torrentsDir, "broken-truncated.torrent"))
	if r.code != 1 || !strings.Contains(r.stdout, "added    "+v1Single) || !strings.Contains(r.stdout, "imported 1 new, 0 already registered, 0 mode changed, 1 failed") {
		t.Fatalf("import through the socket: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	live := map[string]string{"import": r.stdout}
	if m := s.get(t, "/announce", q); m["failure reason"] != nil || m["incomplete"] != int64(1) {
		t.Fatalf("announce right after import: %v", m)
	}
	// A completion counts for a peer the swarm knew as a leecher.
	if m := s.get(t, "/announce", announceQuery(v1Single, 7002, 100, "started")); m["incomplete"] != int64(2) {
		t.Fatalf("second leecher: %v", m)
	}
	if m := s.get(t, "/announce", announceQuery(v1Single, 7002, 0, "completed")); m["complete"] != int64(1) {
		t.Fatalf("seeder announce: %v", m)
	}
	r = run(t, nil, "import", "--db", db, filepath.Join(torrentsDir, "v1-multi.torrent"))
	if r.code != 0 {
		t.Fatalf("second import: exit %d\n%s", r.code, r.stderr)
	}

	// stats through the socket: small swarms never reach the disk, so only
	// the server knows these two peers.
	got := statsOf(t, "--db", db, v1Single)
	if got.Seeders != 1 || got.Leechers != 1 || got.Completed != 1 || got.Mode != "small" || got.Name != "hello.txt" {
		t.Fatalf("live stats %+v", got)
	}
	sum := statsOf(t, "--db", db)
	if sum.Torrents != 2 || sum.Seeders != 1 || sum.Leechers != 1 || sum.ByMode["small"] != 1 {
		t.Fatalf("live summary %+v", sum)
	}
	for name, args := range map[string][]string{
		"one": {"stats", v1Single}, "one json": {"stats", v1Single, "--json"},
		"all": {"stats"}, "all json": {"stats", "--json"},
		"purge dry": {"purge", "--older-than", "1h", "--dry-run"},
	} {
		r := run(t, nil, append(args, "--db", db)...)
		if r.code != 0 {
			t.Fatalf("%v through the socket: exit %d\n%s", args, r.code, r.stderr)
		}
		live[name] = r.stdout
	}
	if r := run(t, nil, "stats", "--db", db, strings.Repeat("0", 40)); r.code != 1 || !strings.Contains(r.stderr, "not registered") {
		t.Fatalf("stats of an unknown torrent through the socket: exit %d\n%s", r.code, r.stderr)
	}
	// purge is quiet through the socket too, and removes nothing recent.
	if r := run(t, nil, "purge", "--db", db, "--older-than", "1h"); r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Fatalf("live purge: exit %d %q %q", r.code, r.stdout, r.stderr)
	}

	// migrate refuses while the server runs, naming it.
	r = run(t, nil, "migrate", "--db", db)
	if r.code != 3 || !strings.Contains(r.stderr, fmt.Sprintf("pid %d", s.pid)) {
		t.Fatalf("migrate beside serve: exit %d\n%s", r.code, r.stderr)
	}
	if r = run(t, nil, "migrate", "--db", db, "--dry-run"); r.code != 0 || !strings.Contains(r.stdout, "nothing to do") {
		t.Fatalf("migrate --dry-run beside serve: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// The same commands on the file print the same shapes.
	s.stop(t)
	if _, err := os.Lstat(s.admin); !os.IsNotExist(err) {
		t.Fatalf("admin socket left after a clean stop: %v", err)
	}
	for name, args := range map[string][]string{
		"one": {"stats", v1Single}, "one json": {"stats", v1Single, "--json"},
		"all": {"stats"}, "all json": {"stats", "--json"},
		"purge dry": {"purge", "--older-than", "1h", "--dry-run"},
		// A torrent new to the file, so the lines say the same things.
		"import": {"import", filepath.Join(torrentsDir, "v1-private.torrent"), filepath.Join(torrentsDir, "broken-truncated.torrent")},
	} {
		r := run(t, nil, append(args, "--db", db)...)
		if r.code != 0 && name != "import" {
			t.Fatalf("%v on the file: exit %d\n%s", args, r.code, r.stderr)
		}
		if g, w := shape(t, r.stdout), shape(t, live[name]); !slices.Equal(g, w) {
			t.Errorf("%s: on the file %q, through the socket %q", name, g, w)
		}
	}
	off := statsOf(t, "--db", db, v1Single)
	if off.Completed != 1 || off.Mode != "small" || off.Seeders != 0 {
		t.Fatalf("stats on the file %+v: want the completed count flushed and no small peers on disk", off)
	}

	// A purge through the socket removes from memory and disk together.
	s = startServer(t, "--db", db, "--mode", "large")
	r = run(t, nil, "purge", "--db", db, "--older-than", "1ns", "-v")
	if r.code != 0 || !strings.Contains(r.stdout, "removed 3 torrents") {
		t.Fatalf("live purge of everything: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if m := s.get(t, "/announce", q); m["failure reason"] != "unregistered torrent" {
		t.Fatalf("announce after a live purge: %v", m)
	}
	s.stop(t)
	if got := statsOf(t, "--db", db); got.Torrents != 0 {
		t.Fatalf("the file still holds %d torrents after a live purge", got.Torrents)
	}
}

func TestStaleSocketIsReplaced(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "j.db")
	// What a crash leaves: the socket file, nobody listening.
	ln, err := net.Listen("unix", db+".sock")
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	// With no server, the subcommands see through the stale socket.
	if r := run(t, nil, "import", "--db", db, filepath.Join(torrentsDir, "v1-single.torrent")); r.code != 0 {
		t.Fatalf("import beside a stale socket: exit %d\n%s", r.code, r.stderr)
	}
	s := startServer(t, "--db", db)
	if got := statsOf(t, "--db", db); got.Torrents != 1 {
		t.Fatalf("stats through the replaced socket: %+v", got)
	}
	s.stop(t)
}

func TestSecondServeIsRefused(t *testing.T) {
	db := filepath.Join(t.TempDir(), "j.db")
	s := startServer(t, "--db", db)
	start := time.Now()
	r := run(t, nil, "serve", "--db", db, "--http", "127.0.0.1:0", "--udp", "127.0.0.1:0")
	if r.code != 3 || !strings.Contains(r.stderr, fmt.Sprintf("already served by johnlocke (pid %d", s.pid)) {
		t.Fatalf("second serve: exit %d\n%s", r.code, r.stderr)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("second serve took %v to refuse", took)
	}
	// The first one is untouched: its socket still answers.
	if got := statsOf(t, "--db", db); got.Torrents != 0 {
		t.Fatalf("stats after the refused serve: %+v", got)
	}
	s.stop(t)
}

func TestAdminPathAndWrongDatabase(t *testing.T) {
	dir := t.TempDir()
	db, other, sock := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db"), filepath.Join(dir, "ctl")
	s := startServer(t, "--db", db, "--admin", sock)
	if s.admin != sock {
		t.Fatalf("admin socket %q, want %q", s.admin, sock)
	}
	if got := statsOf(t, "--db", db, "--admin", sock); got.Torrents != 0 {
		t.Fatalf("stats through --admin: %+v", got)
	}
	// A socket that serves another database is not used for this one.
	r := run(t, nil, "stats", "--db", other, "--admin", sock)
	if r.code != 3 || !strings.Contains(r.stderr, fmt.Sprintf("belongs to johnlocke pid %d", s.pid)) {
		t.Fatalf("stats of another database through the socket: exit %d\n%s", r.code, r.stderr)
	}
	s.stop(t)
}
