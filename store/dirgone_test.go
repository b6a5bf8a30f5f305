package store

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"johnlocke/store/metainfo"
)

// scanOrFail scans dir and checks the result.
func scanOrFail(t *testing.T, st *Store, dir string, want ScanResult) {
	t.Helper()
	got, err := st.ScanDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("scan: %+v, want %+v", got, want)
	}
}

func registered(t *testing.T, st *Store, path string) bool {
	t.Helper()
	m, err := metainfo.Options{}.ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, ok := st.Scrape(m.Primary())
	return ok
}

// TestDirIsSourceOfTruth: a torrent registered from --dir whose file has
// gone is unregistered at the next scan and logged by name, also when the
// file went while the store was closed; a file moved within the directory
// keeps its torrent; imported torrents are left alone; a directory that
// has gone removes nothing.
func TestDirIsSourceOfTruth(t *testing.T) {
	dir := t.TempDir()
	torrents := filepath.Join(dir, "torrents")
	sub := filepath.Join(torrents, "sub")
	if err := os.MkdirAll(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(torrents, "keep.torrent")
	gone := filepath.Join(sub, "gone.torrent")
	moved := filepath.Join(torrents, "moved.torrent")
	copyTorrentFile(t, "v1-single.torrent", keep)
	copyTorrentFile(t, "v1-multi.torrent", gone)
	copyTorrentFile(t, "hybrid.torrent", moved)
	// An imported torrent whose file lies outside the directory.
	outside := filepath.Join(dir, "imported.torrent")
	copyTorrentFile(t, "v2-only.torrent", outside)

	var logs bytes.Buffer
	path := filepath.Join(dir, "j.db")
	st := openStore(t, path, Config{Log: zerolog.New(&logs)})
	scanOrFail(t, st, torrents, ScanResult{Found: 3, Added: 3})
	m, err := metainfo.Options{}.ParseFile(outside)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Register([]Torrent{FromMetainfo(m, 0, SourceImport, outside)}); err != nil {
		t.Fatal(err)
	}

	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(moved, filepath.Join(sub, "renamed.torrent")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(outside); err != nil {
		t.Fatal(err)
	}
	scanOrFail(t, st, torrents, ScanResult{Found: 1, Unchanged: 1, Removed: 1})
	if !strings.Contains(logs.String(), gone) || !strings.Contains(logs.String(), "its file is gone") {
		t.Errorf("the log does not name %s:\n%s", gone, logs.String())
	}
	if n, _ := st.Counts(); n != 3 {
		t.Fatalf("%d torrents, want 3 (kept, moved, imported)", n)
	}
	copyTorrentFile(t, "v1-multi.torrent", gone)
	if registered(t, st, gone) {
		t.Fatal("the torrent of the deleted file is still registered")
	}
	if !registered(t, st, keep) {
		t.Fatal("the torrent whose file stayed is gone")
	}
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}

	// The directory itself gone: the scan fails and removes nothing.
	if err := os.Rename(torrents, torrents+".away"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ScanDir(torrents); err == nil {
		t.Fatal("a scan of a missing directory succeeded")
	}
	if n, _ := st.Counts(); n != 3 {
		t.Fatalf("%d torrents after a failed scan, want 3", n)
	}
	if err := os.Rename(torrents+".away", torrents); err != nil {
		t.Fatal(err)
	}

	// A file deleted while the store is closed goes at the first scan.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(keep); err != nil {
		t.Fatal(err)
	}
	st = openStore(t, path, Config{Log: zerolog.Nop()})
	defer st.Close()
	scanOrFail(t, st, torrents, ScanResult{Found: 1, Removed: 1})
	if n, _ := st.Counts(); n != 2 {
		t.Fatalf("%d torrents after a restart, want 2 (moved, imported)", n)
	}
}
