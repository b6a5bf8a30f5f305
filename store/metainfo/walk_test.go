package metainfo

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

type walked struct {
	path string
	ok   bool
}

func collect(t *testing.T, root string) []walked {
	t.Helper()
	var got []walked
	err := Walk(root, func(path string, tor *Torrent, err error) {
		if (tor == nil) == (err == nil) {
			t.Errorf("%s: torrent %v and error %v: want exactly one", path, tor, err)
		}
		got = append(got, walked{path, err == nil})
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func copyFixture(t *testing.T, name, to string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWalk(t *testing.T) {
	root := t.TempDir()
	j := func(p ...string) string { return filepath.Join(append([]string{root}, p...)...) }
	copyFixture(t, "v1-single.torrent", j("b.torrent"))
	copyFixture(t, "hybrid.torrent", j("A.TORRENT"))
	copyFixture(t, "broken-truncated.torrent", j("c-broken.torrent"))
	copyFixture(t, "v2-only.torrent", j("sub", "d.Torrent"))
	copyFixture(t, "v1-multi.torrent", j("sub", "deeper", "e.torrent"))
	copyFixture(t, "v1-private.torrent", j("z.torrent.bak")) // wrong suffix
	if err := os.WriteFile(j("notes.txt"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(j("empty.torrent"), 0o755); err != nil { // a directory, not a file
		t.Fatal(err)
	}
	// A symlink loop and a link to a file: the loop must not be followed,
	// the file link is.
	if err := os.Symlink(root, j("sub", "loop")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(j("b.torrent"), j("sub", "link.torrent")); err != nil {
		t.Fatal(err)
	}

	want := []walked{
		{j("A.TORRENT"), true},
		{j("b.torrent"), true},
		{j("c-broken.torrent"), false},
		{j("sub", "d.Torrent"), true},
		{j("sub", "deeper", "e.torrent"), true},
		{j("sub", "link.torrent"), true},
	}
	got := collect(t, root)
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d: got %v, want %v", i, got[i], want[i])
		}
	}
}

func TestWalkSingleFile(t *testing.T) {
	path := filepath.Join(fixtures, "v1-single.torrent")
	got := collect(t, path)
	if len(got) != 1 || got[0] != (walked{path, true}) {
		t.Errorf("got %v", got)
	}
}

func TestWalkMissingRoot(t *testing.T) {
	err := Walk(filepath.Join(t.TempDir(), "nope"), func(string, *Torrent, error) {
		t.Error("fn called for a missing root")
	})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got %v, want not-exist", err)
	}
}

func TestWalkUnreadableDir(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("permission bits")
	}
	root := t.TempDir()
	locked := filepath.Join(root, "locked")
	copyFixture(t, "v1-single.torrent", filepath.Join(locked, "x.torrent"))
	copyFixture(t, "v1-multi.torrent", filepath.Join(root, "z.torrent"))
	if err := os.Chmod(locked, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(locked, 0o755) })
	if _, err := os.ReadDir(locked); err == nil {
		t.Skip("running with permission to read a mode-0 directory (root)")
	}
	got := collect(t, root)
	want := []walked{{locked, false}, {filepath.Join(root, "z.torrent"), true}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestWalkReadDirError covers the unreadable-directory path without relying on
// permission bits, which root ignores.
func TestWalkReadDirError(t *testing.T) {
	root := t.TempDir()
	bad := filepath.Join(root, "bad")
	copyFixture(t, "v1-single.torrent", filepath.Join(bad, "x.torrent"))
	copyFixture(t, "v1-multi.torrent", filepath.Join(root, "z.torrent"))
	boom := errors.New("boom")
	readDir = func(dir string) ([]os.DirEntry, error) {
		if dir == bad {
			return nil, boom
		}
		return os.ReadDir(dir)
	}
	t.Cleanup(func() { readDir = os.ReadDir })

	var errs []error
	err := Walk(root, func(path string, tor *Torrent, err error) {
		if path == bad {
			errs = append(errs, err)
		} else if err != nil || path != filepath.Join(root, "z.torrent") {
			t.Errorf("unexpected %s: %v", path, err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != 1 || !errors.Is(errs[0], boom) {
		t.Errorf("errors for %s: %v, want [boom]", bad, errs)
	}
}
