package store

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// mountTiny mounts a tmpfs of size bytes on a fresh directory and returns
// it; the test is skipped where mounting is not allowed (not root). A full
// disk cannot be made otherwise without mocking bbolt's writes; this one
// is a real filesystem that really fills up.
func mountTiny(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a full disk is made with a tmpfs mount, which needs root")
	}
	dir := filepath.Join(t.TempDir(), "tiny")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes path until the filesystem is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", path, err)
			}
			return
		}
	}
}

// TestDiskFullRefusesNewTorrents: while flushes fail for want of space the
// tracker answers for the torrents it has, refuses new ones (organic and
// imported) instead of keeping them in memory only, and takes them again
// once a flush succeeds; nothing accepted is lost.
func TestDiskFullRefusesNewTorrents(t *testing.T) {
	dir := mountTiny(t, "8m")
	st := openStore(t, filepath.Join(dir, "t.db"), Config{Locked: false, MaxTorrentsPerAddr: -1, Now: newClock().Now})
	defer st.Close()
	known := hash(0x01)
	if _, err := st.Register([]Torrent{{InfoHash: known}}); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(dir, "filler")
	fill(t, filler)

	const accepted = 5000 // far more than the file's free pages hold
	for i := range accepted {
		if err := announceFrom(st, []byte{10, 0, 0, 1}, invented(i), 1, 1, EventStarted); err != nil {
			t.Fatalf("organic torrent %d before any flush failed: %v", i, err)
		}
	}
	err := st.Flush()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("flush on a full disk: %v, want ENOSPC", err)
	}
	if err := announceFrom(st, []byte{10, 0, 0, 2}, hash(0x77), 1, 1, EventStarted); err != ErrNotStoring {
		t.Fatalf("organic torrent while flushes fail: %v, want %v", err, ErrNotStoring)
	}
	if _, err := st.Register([]Torrent{{InfoHash: hash(0x78)}}); !errors.Is(err, ErrWritesFailing) {
		t.Fatalf("import while flushes fail: %v, want %v", err, ErrWritesFailing)
	}
	if err := announceFrom(st, []byte{10, 0, 0, 2}, known, 1, 1, EventStarted); err != nil {
		t.Fatalf("known torrent while flushes fail: %v", err)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := st.Flush(); err != nil {
		t.Fatalf("flush after space was freed: %v", err)
	}
	if err := announceFrom(st, []byte{10, 0, 0, 2}, hash(0x77), 1, 1, EventStarted); err != nil {
		t.Fatalf("organic torrent after a flush succeeded: %v", err)
	}
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := st.Torrents(func(*Torrent) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if want := accepted + 2; n != want {
		t.Fatalf("%d torrents on file, want %d", n, want)
	}
}
