package clitest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// writeFile writes content to a file called name in a fresh temporary
// directory, readable by its owner only, and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigFileThroughServe: a real serve takes its settings from the
// --config file, and a flag on the command line wins.
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
}

// TestConfigFilePrecedence: the file sets what the command line does not;
// a flag given before or after serve, or $JOHNLOCKE_DB, wins over it. TOML
// and YAML alike.
func TestConfigFilePrecedence(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"j.toml": `
db = "from-file.db"
mode = "surge"
http = "127.0.0.1:7000"
udp = ""
interval = "10m"
locked = false
maxpeers = 20
trusted-proxy = ["10.0.0.0/8", "127.0.0.1"]
full-scrape = true
dir = "` + dir + `"
`,
		"j.yaml": `
db: from-file.db
mode: surge
http: 127.0.0.1:7000
udp: ""
interval: 10m
locked: false
maxpeers: 20
trusted-proxy: [10.0.0.0/8, 127.0.0.1]
full-scrape: true
dir: ` + dir + `
`,
	}
	for name, content := range files {
		t.Run(name, func(t *testing.T) {
			path := writeFile(t, name, content)
			got := printConfig(t, nil, "serve", "--config", path, "--mode", "small", "--maxpeers", "30")
			got.check(t, "the command line must win", map[string]any{"mode": "small", "maxpeers": 30})
			got.check(t, "values from the file not taken", map[string]any{
				"db": "from-file.db", "http": "127.0.0.1:7000", "udp": "", "interval": "10m0s",
				"locked": false, "full-scrape": true, "dir": dir, "scan": true,
				"trusted-proxy": []string{"10.0.0.0/8", "127.0.0.1/32"},
			})
			got = printConfig(t, nil, "--db", "cli.db", "serve", "--config", path)
			got.check(t, "--db before serve must win over the file", map[string]any{"db": "cli.db"})
			got = printConfig(t, []string{"JOHNLOCKE_DB=env.db"}, "serve", "--config", path)
			got.check(t, "$JOHNLOCKE_DB must win over the file", map[string]any{"db": "env.db"})
		})
	}
}

// TestConfigFileErrors: an unknown key, a value of the wrong type, a value
// out of range and an unreadable file are usage errors (exit 2) saying
// what is wrong, before anything is opened.
func TestConfigFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		want          []string // each in the error; "FILE" stands for the file's path
	}{
		{"j.toml", "mode = \"large\"\nmaxpers = 50\n", []string{`unknown key "maxpers"`, "FILE"}},
		{"j.yaml", "mode: large\nbogus: 1\n", []string{`unknown key "bogus"`, "FILE"}},
		{"j.yaml", "mode: large\nmax-peers: 10\n", []string{`unknown key "max-peers"`, "FILE"}},
		{"j.toml", "[serve]\nmode = \"large\"\n", []string{`unknown key "serve"`}},
		{"j.toml", "print-config = true\n", []string{`unknown key "print-config"`}},
		{"j.toml", "maxpeers = \"many\"\n", []string{"maxpeers"}},
		{"j.toml", "maxpeers = 0\n", []string{"--maxpeers 0"}},
		{"j.toml", "mode = \n", []string{"j.toml"}},
		{"j.ini", "mode = large\n", []string{"want a .toml, .yaml or .yml file"}},
	} {
		t.Run(tc.content, func(t *testing.T) {
			path := writeFile(t, tc.name, tc.content)
			db := filepath.Join(t.TempDir(), "j.db")
			r := runWithin(t, exitBound, nil, "serve", "--db", db, "--config", path, "--print-config")
			for _, want := range tc.want {
				if want == "FILE" {
					want = path
				}
				if r.code != 2 || !strings.Contains(r.stderr, want) {
					t.Errorf("exit %d, stderr %q; want a usage error (exit 2) saying %q", r.code, r.stderr, want)
				}
			}
			if _, err := os.Stat(db); err == nil {
				t.Error("a usage error created the database")
			}
		})
	}
	missing := filepath.Join(t.TempDir(), "missing.toml")
	r := runWithin(t, exitBound, nil, "serve", "--config", missing, "--print-config")
	if r.code != 2 || !strings.Contains(r.stderr, missing) {
		t.Fatalf("missing file: exit %d, %q; want exit 2 naming it", r.code, r.stderr)
	}
}

// TestEveryServeFlagFromConfig: every flag `serve --help` lists, those
// added later included, can be set from a TOML and from a YAML file, and
// --print-config shows each under its own name; the README's example file
// names every one and parses.
func TestEveryServeFlagFromConfig(t *testing.T) {
	var flags []string
	for _, f := range helpFlags(t, "serve") {
		// --config names the file, --print-config is asked on the command
		// line only, and help is no setting.
		if n := f.names[0]; n != "config" && n != "print-config" && n != "help" {
			flags = append(flags, n)
		}
	}
	dir := t.TempDir()
	secret := filepath.Join(dir, "cluster.secret")
	writeSecret(t, secret)
	// A value other than the default for each flag, as the file writes it
	// (TOML and YAML alike) and as --print-config shows it. --cluster-nats
	// is exclusive with --cluster-listen and --cluster-peer, so it is set
	// by a second file.
	type setting struct {
		flag, value string
		want        any
	}
	first := []setting{
		{"db", `"` + filepath.Join(dir, "j.db") + `"`, filepath.Join(dir, "j.db")},
		{"verbose", "true", true},
		{"admin", `"` + filepath.Join(dir, "admin.sock") + `"`, filepath.Join(dir, "admin.sock")},
		{"http", `"127.0.0.1:7001"`, "127.0.0.1:7001"},
		{"udp", `"127.0.0.1:7002"`, "127.0.0.1:7002"},
		{"udp-window", `"1ms"`, "1ms"},
		{"udp-sockets", "3", 3},
		{"mode", `"surge"`, "surge"},
		{"dir", `"` + dir + `"`, dir},
		{"scan", "false", false},
		{"scan-interval", `"2m"`, "2m0s"},
		{"max-torrent-size", `"1MiB"`, 1 << 20},
		{"locked", "false", false},
		{"maxpeers", "7", 7},
		{"max-torrents", "500", 500},
		{"max-torrents-per-ip", "3", 3},
		{"max-peers-total", "1000", 1000},
		{"interval", `"10m"`, "10m0s"},
		{"min-interval", `"2m"`, "2m0s"},
		{"flush-interval", `"7s"`, "7s"},
		{"gc-percent", "55", 55},
		{"trusted-proxy", `["10.0.0.0/8", "192.0.2.1"]`, []string{"10.0.0.0/8", "192.0.2.1/32"}},
		{"trusted-proxy-header", `"X-Real-IP"`, "X-Real-IP"},
		{"max-conns-per-ip", "9", 9},
		{"http-keepalive", `"on"`, "on"},
		{"rate-limit", "50", 50},
		{"rate-burst", "70", 70},
		{"daemon", "true", true},
		{"pidfile", `"` + filepath.Join(dir, "j.pid") + `"`, filepath.Join(dir, "j.pid")},
		{"log-file", `"` + filepath.Join(dir, "j.log") + `"`, filepath.Join(dir, "j.log")},
		{"full-scrape", "true", true},
		{"full-scrape-interval", `"30s"`, "30s"},
		{"status", `"127.0.0.1:7003"`, "127.0.0.1:7003"},
		{"cluster-listen", `"127.0.0.1:7422"`, "127.0.0.1:7422"},
		{"cluster-peer", `["127.0.0.2:7422"]`, []string{"127.0.0.2:7422"}},
		{"cluster-secret-file", `"` + secret + `"`, secret},
		{"node-name", `"node-7"`, "node-7"},
	}
	second := []setting{
		{"cluster-nats", `"nats://127.0.0.1:4222,nats://127.0.0.2:4222"`, []string{"nats://127.0.0.1:4222", "nats://127.0.0.2:4222"}},
		{"cluster-secret-file", `"` + secret + `"`, secret},
	}
	covered := map[string]bool{}
	for _, s := range slices.Concat(first, second) {
		covered[s.flag] = true
		if !slices.Contains(flags, s.flag) {
			t.Errorf("this test sets --%s, which serve --help does not list", s.flag)
		}
	}
	for _, f := range flags {
		if !covered[f] {
			t.Errorf("serve --%s: give it a value in this test, which checks that the config file sets it", f)
		}
	}
	for _, settings := range [][]setting{first, second} {
		for ext, sep := range map[string]string{"toml": " = ", "yaml": ": "} {
			var file strings.Builder
			want := map[string]any{}
			for _, s := range settings {
				fmt.Fprintf(&file, "%s%s%s\n", s.flag, sep, s.value)
				want[s.flag] = s.want
			}
			path := writeFile(t, "johnlocke."+ext, file.String())
			got := printConfig(t, nil, "serve", "--config", path)
			got.check(t, "not taken from the ."+ext+" file", want)
			for _, f := range flags {
				if _, ok := got[f]; !ok {
					t.Errorf("--print-config does not show --%s", f)
				}
			}
			for k := range got {
				if !slices.Contains(flags, k) && k != "cluster-secret-set" {
					t.Errorf("--print-config shows %q, which is no serve flag", k)
				}
			}
		}
	}

	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "```toml\n# /etc/johnlocke/johnlocke.toml\n")
	if !ok {
		t.Fatal("README.md has no example config file")
	}
	block, _, _ = strings.Cut(block, "```")
	for _, f := range flags {
		if !regexp.MustCompile(`(?m)^(# )?` + regexp.QuoteMeta(f) + ` = `).MatchString(block) {
			t.Errorf("the README's example config file does not name %s", f)
		}
	}
	path := writeFile(t, "johnlocke.toml", block)
	got := printConfig(t, nil, "serve", "--config", path, "--dir", dir)
	got.check(t, "from the README's example", map[string]any{
		"mode": "large", "db": "/var/lib/johnlocke/johnlocke.db", "full-scrape-interval": "5m0s", "dir": dir,
	})
}
