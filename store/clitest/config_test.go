package clitest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigFileThroughServe: serve --config takes its settings from the
// file, a flag on the command line wins, and an unknown key is refused
// (exit 2) by name.
func TestConfigFileThroughServe(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "j.db")
	conf := filepath.Join(dir, "johnlocke.toml")
	content := "db = \"" + db + "\"\nmode = \"small\"\nlocked = false\nfull-scrape = true\n"
	if err := os.WriteFile(conf, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(dir, "j.log")
	s := startLogged(t, logFile, "--config", conf, "--mode", "large")
	if got := logField(logFile, "johnlocke is serving", "mode"); got != "large" {
		t.Errorf("mode %q, want large: the command line wins over the file", got)
	}
	if got := logField(logFile, "johnlocke is serving", "admin"); got != db+".sock" {
		t.Errorf("admin socket %q: the database is not the file's %s", got, db)
	}
	// locked = false from the file: an unknown infohash registers.
	if m := s.get(t, "/announce", announceQuery(v1Single, 7001, 10, "started")); m["failure reason"] != nil {
		t.Fatalf("announce on an unlocked tracker: %v", m)
	}
	s.stop(t)

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("mode: large\nmax-peers: 10\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, "serve", "--db", db, "--config", bad)
	if r.code != 2 || !strings.Contains(r.stderr, `unknown key "max-peers"`) || !strings.Contains(r.stderr, bad) {
		t.Fatalf("unknown key: exit %d, want 2 naming the key and file\n%s", r.code, r.stderr)
	}
}
