package store

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

const torrentFixtures = "../testdata/torrents"

func copyTorrentFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(torrentFixtures, from))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestScanDirBoundsFiles: a file over --max-torrent-size and one under it
// that would decode to too much are refused by name; the others are
// registered.
func TestScanDirBoundsFiles(t *testing.T) {
	dir := t.TempDir()
	torrents := filepath.Join(dir, "torrents")
	if err := os.Mkdir(torrents, 0o700); err != nil {
		t.Fatal(err)
	}
	const bound = 64 << 10
	copyTorrentFile(t, "v1-single.torrent", filepath.Join(torrents, "a.torrent"))
	big := filepath.Join(torrents, "big.torrent")
	if err := os.WriteFile(big, bytes.Repeat([]byte("x"), bound+1), 0o600); err != nil {
		t.Fatal(err)
	}
	nested := filepath.Join(torrents, "nested.torrent")
	if err := os.WriteFile(nested, []byte("d4:infod5:filesl"+strings.Repeat("d0:dee", (bound-100)/6)+"e4:name1:xee"), 0o600); err != nil {
		t.Fatal(err)
	}
	copyTorrentFile(t, "v2-only.torrent", filepath.Join(torrents, "z.torrent"))

	var logs bytes.Buffer
	st := openStore(t, filepath.Join(dir, "j.db"), Config{MaxTorrentSize: bound, Log: zerolog.New(&logs)})
	defer st.Close()
	res, err := st.ScanDir(torrents)
	if err != nil {
		t.Fatal(err)
	}
	if want := (ScanResult{Found: 2, Added: 2, Failed: 2}); res != want {
		t.Fatalf("scan: %+v, want %+v", res, want)
	}
	for _, want := range []string{big + `: file too large: 65537 bytes, limit 65536`, nested + `: file too large: decoding takes more than`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not say %q:\n%s", want, logs.String())
		}
	}
	if n, _ := st.Counts(); n != 2 {
		t.Fatalf("%d torrents registered, want 2", n)
	}
}

// TestRescanSkipsUnchangedFiles: a rescan leaves unread the files it read
// before (registered or refused) and reads those that changed, were
// replaced or are new.
func TestRescanSkipsUnchangedFiles(t *testing.T) {
	dir := t.TempDir()
	torrents := filepath.Join(dir, "torrents")
	if err := os.Mkdir(torrents, 0o700); err != nil {
		t.Fatal(err)
	}
	a, b, broken := filepath.Join(torrents, "a.torrent"), filepath.Join(torrents, "b.torrent"), filepath.Join(torrents, "broken.torrent")
	copyTorrentFile(t, "v1-single.torrent", a)
	copyTorrentFile(t, "v1-multi.torrent", b)
	if err := os.WriteFile(broken, []byte("not bencode"), 0o600); err != nil {
		t.Fatal(err)
	}
	st := openStore(t, filepath.Join(dir, "j.db"), Config{Log: zerolog.Nop()})
	defer st.Close()
	scan := func(want ScanResult) {
		t.Helper()
		got, err := st.ScanDir(torrents)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("scan: %+v, want %+v", got, want)
		}
	}
	scan(ScanResult{Found: 2, Added: 2, Failed: 1})
	scan(ScanResult{Unchanged: 3})

	// A changed file is read again: new content and mtime. The torrent
	// it held before is unregistered: its file no longer holds it.
	copyTorrentFile(t, "hybrid.torrent", b)
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(b, future, future); err != nil {
		t.Fatal(err)
	}
	scan(ScanResult{Found: 1, Added: 1, Unchanged: 2, Removed: 1})

	// Replaced by rename with the same size and mtime: a new inode.
	fi, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "a.tmp")
	copyTorrentFile(t, "v1-single.torrent", tmp)
	if err := os.Chtimes(tmp, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, a); err != nil {
		t.Fatal(err)
	}
	scan(ScanResult{Found: 1, Unchanged: 2})

	// A new file is read; a removed one is forgotten.
	if err := os.Remove(broken); err != nil {
		t.Fatal(err)
	}
	copyTorrentFile(t, "v2-only.torrent", filepath.Join(torrents, "c.torrent"))
	scan(ScanResult{Found: 1, Added: 1, Unchanged: 2})
	scan(ScanResult{Unchanged: 3})

	// A purge keeps the torrents whose files are still there (b's first
	// torrent went when b came to hold another), so the next scan has
	// nothing new.
	rep, err := st.Purge(PurgeOptions{OlderThan: time.Nanosecond, Now: time.Now().Add(time.Hour)})
	if err != nil || len(rep.Torrents) != 0 || len(rep.Kept) != 3 {
		t.Fatalf("purge: %+v, %v", rep, err)
	}
	scan(ScanResult{Unchanged: 3})
}
