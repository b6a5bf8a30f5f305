// Package clitest runs the real johnlocke binary the way an operator or a
// cron job does and checks what it prints and how it exits.
package clitest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackpal/bencode-go"
)

// Fixture infohashes, from testdata/torrents/README.md (computed there by
// libtorrent, not by johnlocke).
const (
	v1Single = "e555daab1fe3a02583db3e6f4146f8a98abfb538"
	hybridV1 = "90ca69e182bf7b93f2245b72cce8971e63d0e9bb"
	v2Only   = "787645446cb82e5eaa0f311317c0a98d91b62124"
)

var torrentsDir = filepath.Join("..", "..", "testdata", "torrents")

// binary builds johnlocke once per test binary run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "johnlocke-bin")
		if err != nil {
			buildErr = err
			return
		}
		built = filepath.Join(dir, "johnlocke")
		out, err := exec.Command("go", "build", "-o", built, "johnlocke").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

type result struct {
	stdout, stderr string
	code           int
}

func run(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return runWithin(t, 0, env, args...)
}

// runWithin is run that kills the command after bound (0: never), for a
// command that should exit at once but might serve instead: the test
// fails instead of hanging.
func runWithin(t *testing.T, bound time.Duration, env []string, args ...string) result {
	t.Helper()
	ctx := context.Background()
	if bound > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, bound)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%v did not exit within %v: it serves", args, bound)
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return result{out.String(), errOut.String(), code}
}

func TestImportStatsPurgeOffline(t *testing.T) {
	db := filepath.Join(t.TempDir(), "j.db")
	r := run(t, nil, "import", "--db", db, torrentsDir)
	if r.code != 1 {
		t.Fatalf("import with broken files: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"added    " + v1Single, "added    " + hybridV1, "added    " + v2Only,
		"broken-truncated.torrent", "imported 5 new, 0 already registered, 0 mode changed, 4 failed"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("import output lacks %q:\n%s", want, r.stdout)
		}
	}
	// Idempotent, and a per-torrent mode; flags after the arguments work.
	r = run(t, nil, "import", filepath.Join(torrentsDir, "v1-single.torrent"), "--db", db, "--mode", "small")
	if r.code != 0 || !strings.Contains(r.stdout, "0 new, 0 already registered, 1 mode changed, 0 failed") {
		t.Fatalf("re-import: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// stats by hex, by magnet (v2), as JSON, with --db from the environment.
	env := []string{"JOHNLOCKE_DB=" + db}
	r = run(t, env, "stats", v1Single, "--json")
	var got struct {
		InfoHash, Name, Mode, Source string
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 {
		t.Fatalf("stats --json: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if got.InfoHash != v1Single || got.Name != "hello.txt" || got.Mode != "small" || got.Source != "import" {
		t.Fatalf("stats --json = %+v", got)
	}
	r = run(t, env, "stats", "magnet:?xt=urn:btmh:1220787645446cb82e5eaa0f311317c0a98d91b621249b818f13b0894ba5f5150d20")
	if r.code != 0 || !strings.Contains(r.stdout, "v2album") {
		t.Fatalf("stats by v2 magnet: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run(t, env, "stats")
	if r.code != 0 || !strings.Contains(r.stdout, "torrents                5") {
		t.Fatalf("stats summary: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r = run(t, env, "stats", strings.Repeat("0", 40)); r.code != 1 || !strings.Contains(r.stderr, "not registered") {
		t.Fatalf("stats of an unknown torrent: exit %d\n%s", r.code, r.stderr)
	}
	if r = run(t, env, "stats", "xyz"); r.code != 2 {
		t.Fatalf("stats of a malformed infohash: exit %d, want 2\n%s", r.code, r.stderr)
	}

	// purge is quiet on success; --dry-run says what it would do.
	if r = run(t, env, "purge"); r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Fatalf("purge: exit %d, output %q %q", r.code, r.stdout, r.stderr)
	}
	r = run(t, env, "purge", "--older-than", "0s", "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "would remove 0 torrents") {
		t.Fatalf("purge --dry-run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r = run(t, env, "purge", "--older-than", "soon"); r.code != 2 {
		t.Fatalf("purge with a bad age: exit %d, want 2", r.code)
	}
	if r = run(t, env, "migrate", "--dry-run"); r.code != 0 || !strings.Contains(r.stdout, "nothing to do") {
		t.Fatalf("migrate --dry-run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestDatabaseProblemsExit3(t *testing.T) {
	dir := t.TempDir()
	if r := run(t, nil, "stats", "--db", filepath.Join(dir, "missing.db")); r.code != 3 || !strings.Contains(r.stderr, "no database at") {
		t.Fatalf("missing database: exit %d\n%s", r.code, r.stderr)
	}
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not a database "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(garbage)
	for _, args := range [][]string{{"stats"}, {"purge"}, {"serve", "--http", "127.0.0.1:0", "--udp", "127.0.0.1:0"}, {"import", torrentsDir}} {
		r := run(t, nil, append(args, "--db", garbage)...)
		if r.code != 3 {
			t.Errorf("%v on a corrupt file: exit %d, want 3\n%s", args, r.code, r.stderr)
		}
	}
	after, _ := os.ReadFile(garbage)
	if !bytes.Equal(before, after) {
		t.Fatal("a corrupt database was modified")
	}
	if r := run(t, nil, "serve", "--mode", "huge"); r.code != 2 {
		t.Fatalf("serve --mode huge: exit %d, want 2", r.code)
	}
}

// server is a running `johnlocke serve` process.
type server struct {
	cmd    *exec.Cmd
	addr   string // HTTP
	udp    string // UDP
	admin  string // admin socket
	status string // status listener
	pid    int
	done   chan error
}

func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"serve", "--http", "127.0.0.1:0", "--udp", "127.0.0.1:0", "--status", "127.0.0.1:0"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, done: make(chan error, 1)}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-s.done
	})
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		var entry struct {
			Message, HTTP, UDP, Admin, Status string
			PID                               int
		}
		if json.Unmarshal(lines.Bytes(), &entry) == nil && entry.Message == "johnlocke is serving" {
			s.addr, s.udp, s.admin, s.status, s.pid = entry.HTTP, entry.UDP, entry.Admin, entry.Status, entry.PID
			break
		}
	}
	if s.addr == "" {
		t.Fatal("server exited before serving")
	}
	go func() {
		_, _ = io.Copy(io.Discard, stdout)
		s.done <- cmd.Wait()
	}()
	return s
}

func (s *server) get(t *testing.T, path string, q url.Values) map[string]any {
	t.Helper()
	resp, err := http.Get("http://" + s.addr + path + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	v, err := bencode.Decode(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("response is %T, want a dictionary", v)
	}
	return m
}

func hexBytes(h string) string {
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 20 {
		panic("bad fixture infohash " + h)
	}
	return string(b)
}

func TestServeAnnounceAndGracefulStop(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "j.db")
	torrents := filepath.Join(dir, "torrents")
	if err := os.Mkdir(torrents, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"v1-single.torrent", "broken-no-info.torrent"} {
		data, err := os.ReadFile(filepath.Join(torrentsDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(torrents, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := startServer(t, "--db", db, "--dir", torrents, "--mode", "large")

	// Beside serve, stats goes through the admin socket.
	if r := run(t, nil, "stats", "--db", db); r.code != 0 || !strings.Contains(r.stdout, "torrents                1") {
		t.Fatalf("stats beside serve: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	q := url.Values{
		"info_hash": {hexBytes(v1Single)}, "peer_id": {"-XX0001-abcdefghijkl"},
		"port": {"6881"}, "uploaded": {"0"}, "downloaded": {"0"}, "left": {"100"}, "event": {"started"},
	}
	// A completion counts for a peer the swarm knew as a leecher.
	if m := s.get(t, "/announce", q); m["incomplete"] != int64(1) {
		t.Fatalf("leecher announce: %v", m)
	}
	q.Set("left", "0")
	q.Set("event", "completed")
	if m := s.get(t, "/announce", q); m["complete"] != int64(1) || m["downloaded"] != int64(1) {
		t.Fatalf("announce answer %v", m)
	}
	q.Set("info_hash", hexBytes(hybridV1))
	if m := s.get(t, "/announce", q); m["failure reason"] != "unregistered torrent" {
		t.Fatalf("announce for a torrent outside --dir: %v", m)
	}

	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("serve after SIGTERM: %v, want exit 0", err)
		}
		s.done <- nil
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
	r := run(t, nil, "stats", "--db", db, v1Single, "--json")
	var got struct {
		Seeders   int
		Completed int
		Source    string
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("stats after stop: %v\n%s%s", err, r.stdout, r.stderr)
	}
	if got.Seeders != 1 || got.Completed != 1 || got.Source != "dir" {
		t.Fatalf("stats after stop %+v, want the seeder and the completed count flushed", got)
	}
}

var (
	buildOnce sync.Once
	built     string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if built != "" {
		os.RemoveAll(filepath.Dir(built))
	}
	os.Exit(code)
}
