package clitest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// udpAnnounce speaks BEP 15 from a fresh socket: connect, then announce
// infohash (hex). It returns the announce answer's action (1: peers,
// 3: an error) and, for an error, its message.
func udpAnnounce(t *testing.T, tracker string, infohash string) (action uint32, msg string) {
	t.Helper()
	u := dialUDP(t, tracker)
	return u.announceMsg(t, u.connID, infohash, 10)
}

// TestSecondTrackerOnHeldUDPPort starts a second tracker (another
// database, another HTTP port) on the UDP port of a first: it must exit 1
// naming the address, and fresh UDP clients must all reach the first.
func TestSecondTrackerOnHeldUDPPort(t *testing.T) {
	dir := t.TempDir()
	torrents := filepath.Join(dir, "torrents")
	if err := os.Mkdir(torrents, 0o755); err != nil {
		t.Fatal(err)
	}
	copyTorrent(t, torrents, "v1-single.torrent")
	first := startServer(t, "--db", filepath.Join(dir, "first.db"), "--dir", torrents, "--udp-sockets", "4")

	cmd := exec.Command(binary(t), "serve", "--db", filepath.Join(dir, "second.db"),
		"--http", "127.0.0.1:0", "--udp", first.udp, "--udp-sockets", "4")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	serving := false
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if strings.Contains(lines.Text(), `"johnlocke is serving"`) {
			serving = true
			break
		}
	}
	go func() {
		_, _ = io.Copy(io.Discard, stdout)
		done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	// Whether or not the second started, every fresh client must get the
	// first tracker's answer (the second knows no torrent).
	wrong := 0
	const clients = 40
	for range clients {
		if action, msg := udpAnnounce(t, first.udp, v1Single); action != 1 {
			wrong++
			t.Logf("a client got action %d %q", action, msg)
		}
	}
	if wrong > 0 {
		t.Errorf("%d of %d fresh UDP clients did not reach the first tracker", wrong, clients)
	}
	if serving {
		t.Fatalf("a second tracker started on the UDP port %s the first holds", first.udp)
	}
	err = <-done
	done <- err
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("second tracker: %v, want exit 1\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), first.udp) {
		t.Errorf("the error does not name %s: %s", first.udp, stderr.String())
	}
}

// TestBadFlagValuesExit2 checks that every out-of-range value is a usage
// error, said once on stderr, naming its flag, before any file is made.
func TestBadFlagValuesExit2(t *testing.T) {
	tests := []struct {
		args []string
		flag string
	}{
		{[]string{"--interval", "-5m"}, "--interval"},
		{[]string{"--interval", "5s"}, "--interval"},
		{[]string{"--interval", "24h"}, "--interval"},
		{[]string{"--min-interval", "-1s"}, "--min-interval"},
		{[]string{"--interval", "10m", "--min-interval", "20m"}, "--min-interval"},
		{[]string{"--flush-interval", "0"}, "--flush-interval"},
		{[]string{"--flush-interval", "1000h"}, "--flush-interval"},
		{[]string{"--scan-interval", "0"}, "--scan-interval"},
		{[]string{"--maxpeers", "-1"}, "--maxpeers"},
		{[]string{"--maxpeers", "1000000"}, "--maxpeers"},
		{[]string{"--max-torrents", "0"}, "--max-torrents"},
		{[]string{"--max-peers-total", "-3"}, "--max-peers-total"},
		{[]string{"--udp-sockets", "0"}, "--udp-sockets"},
		{[]string{"--udp-window", "-1ms"}, "--udp-window"},
		{[]string{"--udp-window", "20ms"}, "--udp-window"},
		{[]string{"--http-keepalive", "yes"}, "--http-keepalive"},
		{[]string{"--http", ":99999"}, "--http"},
		{[]string{"--udp", "127.0.0.1:70000"}, "--udp"},
		{[]string{"--udp", "127.0.0.1"}, "--udp"},
		{[]string{"--status", "127.0.0.1:65536"}, "--status"},
		{[]string{"--status", "nowhere"}, "--status"},
		{[]string{"--maxpeers", "many"}, "maxpeers"},
		{[]string{"--no-such-flag"}, "no-such-flag"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "j.db")
			args := append([]string{"serve", "--db", db, "--http", "127.0.0.1:0", "--udp", "127.0.0.1:0"}, tt.args...)
			r := runBounded(t, args...)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2\n%s%s", r.code, r.stdout, r.stderr)
			}
			if r.stdout != "" || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, tt.flag) {
				t.Errorf("want one line on stderr naming %s and nothing on stdout; got stdout %q, stderr %q", tt.flag, r.stdout, r.stderr)
			}
			if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a usage error touched the database: %v", err)
			}
		})
	}
}

// TestHelpAndUnknownSubcommand checks the exit codes of help and of a
// subcommand that does not exist.
func TestHelpAndUnknownSubcommand(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		inStdout string
	}{
		{[]string{"help"}, 0, "johnlocke [global options] command"},
		{[]string{"help", "serve"}, 0, "johnlocke serve"},
		{[]string{"--help"}, 0, "johnlocke [global options] command"},
		{[]string{"frobnicate"}, 2, ""},
		{[]string{"help", "frobnicate"}, 2, ""},
		{[]string{"loadtest", "--no-keepalive", "--client-closes"}, 2, ""},
	}
	for _, cmd := range []string{"serve", "import", "stats", "purge", "migrate", "loadtest"} {
		tests = append(tests, struct {
			args     []string
			code     int
			inStdout string
		}{[]string{cmd, "--help"}, 0, "johnlocke " + cmd})
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := run(t, nil, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stdout, tt.inStdout) {
				t.Fatalf("exit %d, want %d and %q on stdout\n%s%s", r.code, tt.code, tt.inStdout, r.stdout, r.stderr)
			}
			if tt.code == 2 && (strings.Contains(r.stderr, "No help topic") || !strings.Contains(r.stderr, "--help")) {
				t.Errorf("stderr %q: want a pointer to --help", r.stderr)
			}
		})
	}
}

// TestVersion checks that --version prints what the Go toolchain recorded
// in the binary: the module version, the revision when stamped, the Go
// release.
func TestVersion(t *testing.T) {
	r := run(t, nil, "--version")
	if r.code != 0 {
		t.Fatalf("--version: exit %d\n%s", r.code, r.stderr)
	}
	out, err := exec.Command("go", "version", "-m", binary(t)).Output()
	if err != nil {
		t.Fatal(err)
	}
	var goVersion, modVersion, rev string
	for i, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		switch {
		case i == 0 && len(f) == 2:
			goVersion = f[1]
		case len(f) >= 3 && f[0] == "mod" && f[1] == "johnlocke":
			modVersion = f[2]
		case len(f) == 2 && strings.HasPrefix(f[1], "vcs.revision="):
			rev = strings.TrimPrefix(f[1], "vcs.revision=")[:12]
		}
	}
	got := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(got, "johnlocke "+modVersion) || !strings.HasSuffix(got, " "+goVersion) || !strings.Contains(got, rev) {
		t.Fatalf("--version = %q; the binary records %s, rev %q, %s", got, modVersion, rev, goVersion)
	}
}

// TestCleanStopSaysStopped checks that after SIGTERM the log says what the
// final flush wrote and ends with "stopped".
func TestCleanStopSaysStopped(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "j.log")
	cmd, done, s := startLoggingServer(t, logFile, "--db", filepath.Join(dir, "j.db"), "--locked=false")
	if m := s.get(t, "/announce", announceQuery(v1Single, 7001, 10, "started")); m["failure reason"] != nil {
		t.Fatalf("announce: %v", m)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	done <- nil
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var last, flush struct {
		Level, Message string
		Torrents       *int
		TookMS         *float64 `json:"took_ms"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last.Message != "stopped" || last.Level != "info" {
		t.Fatalf("last log line %q, want an info line saying stopped", lines[len(lines)-1])
	}
	if len(lines) < 2 || json.Unmarshal([]byte(lines[len(lines)-2]), &flush) != nil ||
		flush.Message != "final flush written" || flush.Torrents == nil || *flush.Torrents != 1 || flush.TookMS == nil {
		t.Fatalf("the line before: %q, want the final flush with torrents 1 and took_ms", lines[len(lines)-2])
	}
}

// runBounded is run for a command that should exit at once but might
// serve instead (as serve did with a bad value it replaced): it is killed
// after a generous bound, which fails the test instead of hanging it.
func runBounded(t *testing.T, args ...string) result {
	t.Helper()
	return runWithin(t, exitBound, nil, args...)
}

// exitBound is how long a command that should exit at once may take
// before runBounded calls it serving: generous, for a loaded machine.
const exitBound = 30 * time.Second
