package clitest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportBoundsTorrentSize: import refuses, by name, a file over
// --max-torrent-size and one under it that would decode to too much, and
// still imports the rest; a bad --max-torrent-size is a usage error.
func TestImportBoundsTorrentSize(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "j.db")
	data, err := os.ReadFile(filepath.Join(torrentsDir, "v1-single.torrent"))
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.torrent")
	big := filepath.Join(dir, "big.torrent")
	nested := filepath.Join(dir, "nested.torrent")
	for path, body := range map[string]string{
		good:   string(data),
		big:    strings.Repeat("x", 64<<10+1),
		nested: "d4:infod5:filesl" + strings.Repeat("d0:dee", 10<<10) + "e4:name1:xee",
	} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := run(t, nil, "import", "--db", db, "--max-torrent-size", "64KiB", dir)
	if r.code != 1 {
		t.Fatalf("import: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"failed   " + big + ": file too large: 65537 bytes, limit 65536",
		"failed   " + nested + ": file too large: decoding takes more than",
		"added    " + v1Single,
		"imported 1 new, 0 already registered, 0 mode changed, 2 failed",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("import output lacks %q:\n%s", want, r.stdout)
		}
	}
	if r = run(t, nil, "import", "--db", db, "--max-torrent-size", "65MiB", good); r.code != 2 || !strings.Contains(r.stderr, "--max-torrent-size") {
		t.Fatalf("import --max-torrent-size 65MiB: exit %d, want 2\n%s", r.code, r.stderr)
	}
}
