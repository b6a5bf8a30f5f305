package clitest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestFinalFlushFailureExits1: when the disk is full at shutdown, serve
// says the final flush failed and exits 1, so a supervisor notices. The full
// disk is a real one: a small tmpfs (root only; skipped otherwise), filled
// up after serve opened its file.
func TestFinalFlushFailureExits1(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a full disk is made with a tmpfs mount, which needs root")
	}
	dir := filepath.Join(t.TempDir(), "tiny")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=8m"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })

	// No flush but the final one: every organic torrent is in memory only
	// when serve stops.
	s := startServer(t, "--db", filepath.Join(dir, "j.db"), "--locked=false", "--mode", "small",
		"--flush-interval", "1h", "--max-torrents-per-ip", "0")
	filler, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := filler.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the tmpfs: %v", err)
			}
			break
		}
	}
	filler.Close()
	for i := range 3000 {
		h := fmt.Sprintf("%040x", i+1)
		if d := s.get(t, "/announce", announceQuery(h, 1000, 1, "started")); d["failure reason"] != nil {
			t.Fatalf("announce %d: %v", i, d["failure reason"])
		}
	}

	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		s.done <- nil // for the cleanup's wait
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("serve after a failed final flush: %v, want exit status 1", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
}
