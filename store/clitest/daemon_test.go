package clitest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// procState returns the state letter of pid from /proc ("" when gone) and
// its session id.
func procState(pid int) (state string, session int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0
	}
	// pid (comm) state ppid pgrp session ...; comm may hold spaces.
	rest := b[bytes.LastIndexByte(b, ')')+2:]
	f := strings.Fields(string(rest))
	session, _ = strconv.Atoi(f[3])
	return f[0], session
}

// alive reports whether pid runs (a zombie nobody reaped yet has exited).
func alive(pid int) bool {
	s, _ := procState(pid)
	return s != "" && s != "Z" && s != "X"
}

func TestDaemon(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "j.db")
	pidFile := filepath.Join(dir, "johnlocke.pid")
	logFile := filepath.Join(dir, "johnlocke.log")
	args := []string{"serve", "--daemon", "--db", db, "--http", "127.0.0.1:0", "--udp", "127.0.0.1:0", "--pidfile", pidFile, "--log-file", logFile}

	start := time.Now()
	r := run(t, nil, args...)
	if r.code != 0 {
		t.Fatalf("serve --daemon: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	m := regexp.MustCompile(`^johnlocke is serving in the background: pid (\d+), http ([^ ,]+), udp ([^ ,]+)\n$`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("serve --daemon printed %q", r.stdout)
	}
	pid, _ := strconv.Atoi(m[1])
	addr := m[2]
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("serve --daemon took %v to return", took)
	}

	// The pid file names a live process, detached in its own session.
	b, err := os.ReadFile(pidFile)
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(pid) {
		t.Fatalf("pid file holds %q (%v), want %d", b, err, pid)
	}
	if state, session := procState(pid); !alive(pid) || session != pid {
		t.Fatalf("daemon pid %d: state %q, session %d (want its own)", pid, state, session)
	}
	// The tracker answers, the subcommands reach it, it logs to the file.
	s := &server{addr: addr}
	q := announceQuery(v1Single, 7001, 10, "started")
	if m := s.get(t, "/announce", q); m["failure reason"] != "unregistered torrent" {
		t.Fatalf("announce to the daemon: %v", m)
	}
	if r := run(t, nil, "import", "--db", db, filepath.Join(torrentsDir, "v1-single.torrent")); r.code != 0 {
		t.Fatalf("import beside the daemon: exit %d\n%s", r.code, r.stderr)
	}
	if m := s.get(t, "/announce", q); m["incomplete"] != int64(1) {
		t.Fatalf("announce after import: %v", m)
	}
	if logged, _ := os.ReadFile(logFile); !bytes.Contains(logged, []byte("johnlocke is serving")) {
		t.Fatalf("log file lacks the serving line:\n%s", logged)
	}

	// A second daemon is refused while the first runs, naming it; the
	// first keeps its pid file.
	r = run(t, nil, args...)
	if r.code == 0 || !strings.Contains(r.stderr, fmt.Sprintf("pid %d", pid)) {
		t.Fatalf("second serve --daemon: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if b, _ := os.ReadFile(pidFile); strings.TrimSpace(string(b)) != strconv.Itoa(pid) {
		t.Fatalf("pid file changed to %q by a refused start", b)
	}

	// SIGTERM: it flushes, removes the pid file and socket, and exits.
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the daemon to exit", func() bool { return !alive(pid) })
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pid file after SIGTERM: %v", err)
	}
	if _, err := os.Lstat(db + ".sock"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("admin socket after SIGTERM: %v", err)
	}
	// large is the default mode: the leecher was flushed on the way out.
	if got := statsOf(t, "--db", db, v1Single); got.Leechers != 1 {
		t.Fatalf("stats after the daemon stopped: %+v", got)
	}
}

func TestDaemonReportsFailure(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not a database "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(dir, "j.pid")
	r := run(t, nil, "serve", "--daemon", "--db", garbage, "--http", "127.0.0.1:0", "--udp", "127.0.0.1:0", "--pidfile", pidFile)
	if r.code != 3 || !strings.Contains(r.stderr, "corrupt") {
		t.Fatalf("serve --daemon on a corrupt file: exit %d, want 3\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pid file left by a failed daemon: %v", err)
	}

	// A stale pid file (a process that is gone) is replaced.
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(deadPid(t))+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = run(t, nil, "serve", "--daemon", "--db", filepath.Join(dir, "j.db"), "--http", "127.0.0.1:0", "--udp", "127.0.0.1:0", "--pidfile", pidFile)
	var pid int
	if _, err := fmt.Sscanf(r.stdout, "johnlocke is serving in the background: pid %d", &pid); r.code != 0 || err != nil {
		t.Fatalf("serve --daemon over a stale pid file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	if b, _ := os.ReadFile(pidFile); strings.TrimSpace(string(b)) != strconv.Itoa(pid) {
		t.Fatalf("pid file holds %q, want %d", b, pid)
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	waitFor(t, 10*time.Second, "the daemon to exit", func() bool { return !alive(pid) })
}

// startLoggingServer starts serve on loopback ports with --log-file
// logFile and the other flags given, and returns once the log says it
// serves. done receives the process's exit (put it back after taking it:
// the cleanup that kills the process at the test's end waits on it too).
func startLoggingServer(t *testing.T, logFile string, args ...string) (cmd *exec.Cmd, done chan error, s *server) {
	t.Helper()
	args = append([]string{"serve", "--http", "127.0.0.1:0", "--udp", "127.0.0.1:0", "--log-file", logFile}, args...)
	cmd = exec.Command(binary(t), args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done = make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	var addr string
	waitFor(t, 10*time.Second, "the serving line in the log file", func() bool {
		addr = logField(logFile, "johnlocke is serving", "http")
		return addr != ""
	})
	return cmd, done, &server{addr: addr}
}

// deadPid returns the pid of a process that has exited and been reaped.
func deadPid(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no `true` to make a dead pid:", err)
	}
	return cmd.Process.Pid
}

func TestSighupRescansAndReopensLog(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "j.db")
	torrents := filepath.Join(dir, "torrents")
	logFile := filepath.Join(dir, "j.log")
	if err := os.Mkdir(torrents, 0o755); err != nil {
		t.Fatal(err)
	}
	copyTorrent(t, torrents, "v1-single.torrent")
	cmd, done, s := startLoggingServer(t, logFile, "--db", db, "--dir", torrents, "--scan=false")
	if m := s.get(t, "/announce", announceQuery(v1Single, 7001, 10, "started")); m["incomplete"] != int64(1) {
		t.Fatalf("announce: %v", m)
	}

	// logrotate moves the file away; a new torrent appears in --dir.
	if err := os.Rename(logFile, logFile+".1"); err != nil {
		t.Fatal(err)
	}
	copyTorrent(t, torrents, "v1-multi.torrent")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	const v1Multi = "736605ab15899c93d8532788f63cf1b9fbebc1fb"
	waitFor(t, 5*time.Second, "the rescan to register the new torrent", func() bool {
		m := s.get(t, "/announce", announceQuery(v1Multi, 7002, 10, "started"))
		return m["failure reason"] == nil
	})
	waitFor(t, 5*time.Second, "a new log file", func() bool {
		return logField(logFile, "SIGHUP: reloading", "message") != ""
	})
	// No peer was dropped.
	if got := statsOf(t, "--db", db, v1Single); got.Leechers != 1 {
		t.Fatalf("after SIGHUP: %+v, want the leecher kept", got)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
}

func copyTorrent(t *testing.T, dir, name string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(torrentsDir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// logField returns field of the first JSON log line with message msg.
func logField(path, msg, field string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		var entry map[string]any
		if json.Unmarshal(lines.Bytes(), &entry) != nil || entry["message"] != msg {
			continue
		}
		if v, ok := entry[field].(string); ok {
			return v
		}
	}
	return ""
}

// TestSecondSignalExitsAtOnce holds the shutdown open with an admin request
// in flight (a torrent stream its client stopped reading: the admin server
// waits for it), then sends a second SIGTERM: serve must exit at once,
// non-zero, removing its admin socket.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	db := filepath.Join(t.TempDir(), "j.db")
	s := startServer(t, "--db", db)
	hc := &http.Client{Transport: &http.Transport{Dial: func(string, string) (net.Conn, error) {
		return net.Dial("unix", s.admin)
	}}}
	// Enough torrents that their stream is far larger than socket buffers.
	var body bytes.Buffer
	body.WriteString(`{"torrents":[`)
	for i := 0; i < 2000; i++ {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"infohash":"%040x","name":"%s","source":"import"}`, i+1, strings.Repeat("n", 2000))
	}
	body.WriteString(`]}`)
	resp, err := hc.Post("http://x/v1/register", "application/json", &body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("register: %s", resp.Status)
	}
	resp, err = hc.Get("http://x/v1/torrents")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := resp.Body.Read(make([]byte, 1)); err != nil {
		t.Fatal(err) // the stream has begun; nobody reads the rest
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Shutting down: the listener is closed.
	waitFor(t, 5*time.Second, "the listener to close", func() bool {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-s.done:
		s.done <- err
		t.Fatalf("serve finished its shutdown (%v) while an admin request was in flight", err)
	default:
	}
	sent := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		s.done <- err
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("after a second SIGTERM: %v, want exit 1", err)
		}
		if took := time.Since(sent); took > 2*time.Second {
			t.Errorf("took %v to exit after the second signal", took)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("a second SIGTERM did not end serve at once")
	}
	if _, err := os.Lstat(db + ".sock"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("admin socket left after a forced exit: %v", err)
	}
}
