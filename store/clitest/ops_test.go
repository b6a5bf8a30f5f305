package clitest

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMissingDatabaseIsNotCreated: a typo in --db fails loudly (exit 3,
// naming the file) in every subcommand but serve and import, and leaves no
// file behind, so a cron job with a mistyped path mails someone.
func TestMissingDatabaseIsNotCreated(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	for _, args := range [][]string{
		{"purge"}, {"purge", "--older-than", "90d"}, {"purge", "--dry-run"},
		{"stats"}, {"stats", v1Single, "--json"},
		{"migrate"}, {"migrate", "--dry-run"},
	} {
		r := run(t, nil, append(args, "--db", missing)...)
		if r.code != 3 || !strings.Contains(r.stderr, "no database at "+missing) || !strings.Contains(r.stderr, "creates one") {
			t.Errorf("%v on a missing database: exit %d, want 3 and a message naming it\n%s%s", args, r.code, r.stdout, r.stderr)
		}
		if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%v created %s (stat: %v)", args, missing, err)
		}
	}

	// import creates one and says so, once.
	db := filepath.Join(dir, "new.db")
	torrent := filepath.Join(torrentsDir, "v1-single.torrent")
	r := run(t, nil, "import", "--db", db, torrent)
	if r.code != 0 || strings.Count(r.stdout, "created new database "+db+"\n") != 1 {
		t.Fatalf("import into a new database: exit %d, want 0 and one line saying it created %s\n%s%s", r.code, db, r.stdout, r.stderr)
	}
	if r = run(t, nil, "import", "--db", db, torrent); r.code != 0 || strings.Contains(r.stdout, "created") {
		t.Fatalf("import into an existing database: exit %d, want 0 and no 'created'\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestServeThatCannotListenLeavesNoDatabase: serve creates a database only
// to serve it; one that fails to open its listener takes the file away
// again, and one that serves says it created it.
func TestServeThatCannotListenLeavesNoDatabase(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	db := filepath.Join(t.TempDir(), "j.db")
	r := run(t, nil, "serve", "--db", db, "--http", taken.Addr().String(), "--udp", "")
	if r.code != 1 {
		t.Fatalf("serve on a taken port: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("serve that never served left %s behind (stat: %v)", db, err)
	}
}
