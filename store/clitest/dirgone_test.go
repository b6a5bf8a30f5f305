package clitest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startLogged starts serve with its log in logFile and returns the server
// once it serves.
func startLogged(t *testing.T, logFile string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"serve", "--http", "127.0.0.1:0", "--udp", "127.0.0.1:0", "--log-file", logFile}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		err := <-s.done
		s.done <- err
	})
	waitFor(t, 10*time.Second, "the serving line in the log file", func() bool {
		s.addr = logField(logFile, "johnlocke is serving", "http")
		return s.addr != ""
	})
	return s
}

// TestDirDeletedFileUnregistered: a file deleted from --dir takes its
// torrent with it at the next rescan (on SIGHUP, and periodically with
// --scan), logged by name; an imported torrent is left alone; a banned
// file stays out of the scans.
func TestDirDeletedFileUnregistered(t *testing.T) {
	const v1Multi = "736605ab15899c93d8532788f63cf1b9fbebc1fb"
	dir := t.TempDir()
	db := filepath.Join(dir, "j.db")
	torrents := filepath.Join(dir, "torrents")
	if err := os.Mkdir(torrents, 0o755); err != nil {
		t.Fatal(err)
	}
	copyTorrent(t, torrents, "v1-single.torrent")
	copyTorrent(t, torrents, "v1-multi.torrent")
	copyTorrent(t, dir, "hybrid.torrent") // imported, from outside --dir
	logFile := filepath.Join(dir, "j.log")
	s := startLogged(t, logFile, "--db", db, "--dir", torrents, "--scan=false")
	if r := run(t, nil, "import", "--db", db, filepath.Join(dir, "hybrid.torrent")); r.code != 0 {
		t.Fatalf("import: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	announceFails := func(hash string) any {
		return s.get(t, "/announce", announceQuery(hash, 7001, 10, "started"))["failure reason"]
	}
	if announceFails(v1Multi) != nil {
		t.Fatal("the --dir torrent is not registered")
	}

	// Deleted, then SIGHUP: unregistered, logged by file.
	gone := filepath.Join(torrents, "v1-multi.torrent")
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "hybrid.torrent")); err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the rescan to unregister the deleted file's torrent", func() bool {
		return announceFails(v1Multi) == "unregistered torrent"
	})
	if got := logField(logFile, "unregistered torrent: its file is gone from --dir", "file"); got != gone {
		t.Errorf("log names file %q, want %q", got, gone)
	}
	if announceFails(v1Single) != nil || announceFails(hybridV1) != nil {
		t.Fatal("a torrent whose file stayed, or an imported one, was unregistered")
	}

	// A banned file stays out of every scan.
	if r := run(t, nil, "remove", "--db", db, "--ban", v1Single); r.code != 0 {
		t.Fatalf("remove --ban: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the rescan to skip the banned file", func() bool {
		return logField(logFile, "skipping banned torrent", "file") == filepath.Join(torrents, "v1-single.torrent")
	})
	if got := announceFails(v1Single); got != "torrent removed" {
		t.Fatalf("announce of a banned --dir torrent after a rescan: %v", got)
	}
	s.stop(t)

	// Periodic rescans do the same; a file deleted while stopped goes at
	// the first scan.
	if r := run(t, nil, "unban", "--db", db, v1Single); r.code != 0 {
		t.Fatalf("unban: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	copyTorrent(t, torrents, "v1-multi.torrent")
	logFile2 := filepath.Join(dir, "j2.log")
	s = startLogged(t, logFile2, "--db", db, "--dir", torrents, "--scan-interval", "1s")
	if announceFails(v1Single) != nil || announceFails(v1Multi) != nil {
		t.Fatal("the --dir torrents are not registered after the restart")
	}
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the periodic rescan to unregister the deleted file's torrent", func() bool {
		return announceFails(v1Multi) == "unregistered torrent"
	})
	s.stop(t)
	if err := os.Remove(filepath.Join(torrents, "v1-single.torrent")); err != nil {
		t.Fatal(err)
	}
	s = startLogged(t, filepath.Join(dir, "j3.log"), "--db", db, "--dir", torrents)
	if got := announceFails(v1Single); got != "unregistered torrent" {
		t.Fatalf("a torrent whose file went while stopped: %v, want unregistered", got)
	}
	if announceFails(hybridV1) != nil {
		t.Fatal("the imported torrent was unregistered")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "j3.log")); !strings.Contains(string(b), "its file is gone") {
		t.Errorf("the start's scan did not log the gone file:\n%s", b)
	}
}
