package daemon

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestClaimPidFile(t *testing.T) {
	self := strconv.Itoa(os.Getpid()) + "\n"
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skip(err)
	}
	other := exec.Command("sleep", "10")
	if err := other.Start(); err != nil {
		t.Skip(err)
	}
	defer func() { _ = other.Process.Kill(); _ = other.Wait() }()

	for _, tc := range []struct {
		name, existing string
	}{
		{"no file", ""},
		{"a dead process", strconv.Itoa(dead.Process.Pid)},
		{"a live process that is not johnlocke", strconv.Itoa(other.Process.Pid)},
		{"garbage", "not a pid"},
		{"this process", strconv.Itoa(os.Getpid())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "j.pid")
			if tc.existing != "" {
				if err := os.WriteFile(path, []byte(tc.existing), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := claimPidFile(path); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, path); got != self {
				t.Fatalf("pid file holds %q, want %q", got, self)
			}
			entries, _ := os.ReadDir(filepath.Dir(path))
			if len(entries) != 1 {
				t.Fatalf("temp files left: %v", entries)
			}
			releasePidFile(path)
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Fatalf("pid file after release: %v", err)
			}
		})
	}

	// Release leaves a pid file that names someone else.
	path := filepath.Join(t.TempDir(), "j.pid")
	if err := os.WriteFile(path, []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	releasePidFile(path)
	if got := readFile(t, path); got != "1\n" {
		t.Fatalf("release changed another process's pid file to %q", got)
	}
	if err := claimPidFile(filepath.Join(t.TempDir(), "missing-dir", "j.pid")); err == nil || !strings.Contains(err.Error(), "--pidfile") {
		t.Fatalf("claim in a missing directory: %v", err)
	}
}

func TestSdNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	sdNotify("READY=1")
	buf := make([]byte, 64)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := conn.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("got %q, %v", buf[:n], err)
	}
	t.Setenv("NOTIFY_SOCKET", "")
	sdNotify("READY=1") // no systemd: nothing happens
}

func TestLogFileReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.log")
	lf, err := newLogFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if _, err := lf.Write([]byte("one\n")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := lf.reopen(); err != nil {
		t.Fatal(err)
	}
	if _, err := lf.Write([]byte("two\n")); err != nil {
		t.Fatal(err)
	}
	if got, old := readFile(t, path), readFile(t, path+".1"); got != "two\n" || old != "one\n" {
		t.Fatalf("new file %q, old file %q", got, old)
	}
	_ = lf.Close()
	if _, err := lf.Write([]byte("three\n")); err == nil {
		t.Fatal("write after Close succeeded")
	}
}

// wait fails the test when ch is not ready within a generous bound.
func wait[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func TestLifecycleSignals(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	dir := t.TempDir()
	logPath, pidPath, sock := filepath.Join(dir, "j.log"), filepath.Join(dir, "j.pid"), filepath.Join(dir, "j.sock")
	if err := os.WriteFile(sock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	aborted := make(chan struct{})
	lc := NewLifecycle()
	if err := lc.Start(Options{LogFile: logPath, PidFile: pidPath, Abort: func() { close(aborted) }}, io.Discard); err != nil {
		t.Fatal(err)
	}
	defer lc.Finish(nil, 0)
	lc.RemoveOnAbort(sock)
	if got, want := readFile(t, pidPath), strconv.Itoa(os.Getpid())+"\n"; got != want {
		t.Fatalf("pid file holds %q, want %q", got, want)
	}

	// SIGHUP: a rescan, and the log carries on in a new file.
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	wait(t, lc.Rescan(), "the rescan after SIGHUP")
	select {
	case <-lc.Context().Done():
		t.Fatal("SIGHUP ended the context")
	default:
	}

	// The first SIGTERM stops gracefully, the second aborts.
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wait(t, lc.Context().Done(), "the context after SIGTERM")
	if _, err := os.Stat(pidPath); err != nil {
		t.Fatalf("the first signal removed the pid file: %v", err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wait(t, aborted, "Abort after a second SIGTERM")
	for _, p := range []string{pidPath, sock} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s after the abort: %v", p, err)
		}
	}
	log := readFile(t, logPath)
	for _, want := range []string{"SIGHUP: reloading", "shutting down", "second signal"} {
		if !strings.Contains(log, want) {
			t.Errorf("the reopened log lacks %q:\n%s", want, log)
		}
	}
}

func TestStartNeedsAbort(t *testing.T) {
	lc := NewLifecycle()
	defer lc.Finish(nil, 0)
	if err := lc.Start(Options{}, io.Discard); err == nil {
		t.Fatal("Start without Abort succeeded")
	}
}
