package main

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"johnlocke/modes"
	"johnlocke/store/cluster"
)

// parseServe runs the command line args (without the program name) up to
// parseServeConfig, serving nothing, and returns its config.
func parseServe(t *testing.T, args ...string) (serveConfig, error) {
	t.Helper()
	app := newApp(io.Discard, io.Discard)
	var (
		cfg  serveConfig
		perr error
	)
	app.Command("serve").Action = func(c *cli.Context) error {
		cfg, perr = parseServeConfig(c)
		return perr
	}
	err := app.Run(flagsFirst(app, append([]string{"johnlocke"}, args...)))
	return cfg, err
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigFilePrecedence: the file sets what the command line does not;
// a flag given before or after serve, or $JOHNLOCKE_DB, wins over it.
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
			cfg, err := parseServe(t, "serve", "--config", path, "--mode", "small", "--maxpeers", "30")
			if err != nil {
				t.Fatal(err)
			}
			wantProxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}
			switch {
			case cfg.Mode != modes.Small, cfg.MaxPeers != 30:
				t.Errorf("mode %v maxpeers %d: the command line must win (small, 30)", cfg.Mode, cfg.MaxPeers)
			case cfg.DB != "from-file.db", cfg.HTTP != "127.0.0.1:7000", cfg.UDP != "", cfg.Interval != 10*time.Minute,
				cfg.Locked, !cfg.FullScrape, cfg.Dir != dir, !cfg.Scan:
				t.Errorf("values from the file not taken: %+v", cfg)
			case len(cfg.TrustedProxy) != 2 || cfg.TrustedProxy[0] != wantProxies[0] || cfg.TrustedProxy[1] != wantProxies[1]:
				t.Errorf("trusted proxies %v, want %v", cfg.TrustedProxy, wantProxies)
			}
			// The global --db before the subcommand wins too.
			if cfg, err = parseServe(t, "--db", "cli.db", "serve", "--config", path); err != nil || cfg.DB != "cli.db" {
				t.Errorf("db %q, %v: --db before serve must win over the file", cfg.DB, err)
			}
			t.Setenv("JOHNLOCKE_DB", "env.db")
			if cfg, err = parseServe(t, "serve", "--config", path); err != nil || cfg.DB != "env.db" {
				t.Errorf("db %q, %v: $JOHNLOCKE_DB must win over the file", cfg.DB, err)
			}
		})
	}
}

// TestConfigFileErrors: an unknown key, a value of the wrong type, a value
// out of range and an unreadable file are usage errors naming the file.
func TestConfigFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
	}{
		{"j.toml", "mode = \"large\"\nmaxpers = 50\n", `unknown key "maxpers"`},
		{"j.yaml", "mode: large\nbogus: 1\n", `unknown key "bogus"`},
		{"j.toml", "[serve]\nmode = \"large\"\n", `unknown key "serve"`},
		{"j.toml", "maxpeers = \"many\"\n", "maxpeers"},
		{"j.toml", "maxpeers = 0\n", "--maxpeers 0"},
		{"j.toml", "mode = \n", "j.toml"},
		{"j.ini", "mode = large\n", "want a .toml, .yaml or .yml file"},
	} {
		t.Run(tc.content, func(t *testing.T) {
			path := writeFile(t, tc.name, tc.content)
			_, err := parseServe(t, "serve", "--config", path)
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != exitUsage || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want a usage error (exit 2) saying %q", err, tc.want)
			}
		})
	}
	_, err := parseServe(t, "serve", "--config", filepath.Join(t.TempDir(), "missing.toml"))
	if exitCode(err) != exitUsage || !strings.Contains(err.Error(), "missing.toml") {
		t.Fatalf("missing file: %v (exit %d), want exit 2 naming it", err, exitCode(err))
	}
}

// TestEveryServeFlagFromConfig: every serve flag, those added later
// included, can be set from the file, and the README's example file names
// every one and parses.
func TestEveryServeFlagFromConfig(t *testing.T) {
	flags := serveCommandFlags()
	for _, f := range flags {
		if _, ok := f.(altsrc.FlagInputSourceExtension); !ok {
			t.Errorf("--%s (%T) cannot be read from a config file: add its type to withConfigFile", f.Names()[0], f)
		}
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "```toml\n# /etc/johnlocke/johnlocke.toml\n")
	if !ok {
		t.Fatal("README.md has no example config file")
	}
	block, _, _ = strings.Cut(block, "```")
	for _, f := range flags {
		name := f.Names()[0]
		if name == "config" {
			continue
		}
		if !regexp.MustCompile(`(?m)^(# )?` + regexp.QuoteMeta(name) + ` = `).MatchString(block) {
			t.Errorf("the README's example config file does not name %s", name)
		}
	}
	path := writeFile(t, "johnlocke.toml", block)
	dir := t.TempDir()
	cfg, err := parseServe(t, "serve", "--config", path, "--dir", dir)
	if err != nil {
		t.Fatalf("the README's example: %v", err)
	}
	if cfg.Mode != modes.Large || cfg.DB != "/var/lib/johnlocke/johnlocke.db" || cfg.FullScrapeInterval != 5*time.Minute || cfg.Dir != dir {
		t.Errorf("the README's example gave %+v", cfg)
	}
}

// placeholderPattern is what a flag's placeholder must look like: a name
// in capitals for its value (FILE, DURATION, HOST:PORT), never urfave/cli's
// "value" nor a word of the usage text backquoted by accident.
var placeholderPattern = regexp.MustCompile(`^[A-Z][A-Z0-9_:]*$`)

// TestHelpReadsRight renders the help of johnlocke and of every subcommand
// and checks each flag's line: one placeholder that names its value (none
// for a switch), at most one default, no stray backquote.
func TestHelpReadsRight(t *testing.T) {
	app := newApp(new(bytes.Buffer), new(bytes.Buffer))
	pages := []struct {
		args  []string
		flags []cli.Flag
	}{{[]string{"johnlocke", "--help"}, app.Flags}}
	for _, cmd := range app.Commands {
		pages = append(pages, struct {
			args  []string
			flags []cli.Flag
		}{[]string{"johnlocke", cmd.Name, "--help"}, cmd.Flags})
	}
	for _, page := range pages {
		t.Run(strings.Join(page.args[1:], " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(page.args, &stdout, &stderr); code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			help := stdout.String()
			lines := strings.Split(help, "\n")
			for _, line := range lines {
				if n := strings.Count(line, "(default:"); n > 1 {
					t.Errorf("%d defaults in %q", n, line)
				}
				if strings.Contains(line, "`") {
					t.Errorf("a backquote left in %q", line)
				}
			}
			for _, f := range page.flags {
				name := f.Names()[0]
				line := flagLine(lines, name)
				if line == "" {
					t.Errorf("--%s is not in the help", name)
					continue
				}
				placeholder := placeholderOf(line, f.Names())
				takesValue := f.(cli.DocGenerationFlag).TakesValue()
				switch {
				case !takesValue && placeholder != "":
					t.Errorf("--%s is a switch but shows placeholder %q: %q", name, placeholder, line)
				case takesValue && !placeholderPattern.MatchString(placeholder):
					t.Errorf("--%s shows placeholder %q, want a name in capitals for its value: %q", name, placeholder, line)
				}
			}
		})
	}
}

// flagLine returns the help line that documents --name.
func flagLine(lines []string, name string) string {
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "--"+name+" ") || strings.HasPrefix(l, "--"+name+",") {
			return l
		}
	}
	return ""
}

// placeholderOf returns the word after a flag's names on its help line,
// "" when the usage text follows them directly.
func placeholderOf(line string, names []string) string {
	head, _, _ := strings.Cut(line, "  ") // names and placeholder end at the column gap
	for _, n := range names {
		prefix := "--"
		if len(n) == 1 {
			prefix = "-"
		}
		head = strings.Replace(head, prefix+n, "", 1)
	}
	head = strings.TrimLeft(head, ", ")
	word, _, _ := strings.Cut(head, " ")
	return word
}

// TestSimulateCommand runs a small simulation through the command line and
// checks its usage errors.
func TestSimulateCommand(t *testing.T) {
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	args := []string{"johnlocke", "simulate", "--scenario", "small", "--peers", "8", "--seeds", "2", "--out", out}
	if code := run(args, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"| median download s |", "johnlocke", "random"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	for _, name := range []string{"small-runs.csv", "small-downloads.csv", "small-downloads.png"} {
		if fi, err := os.Stat(filepath.Join(out, name)); err != nil || fi.Size() == 0 {
			t.Errorf("%s not written: %v", name, err)
		}
	}
	for _, bad := range [][]string{
		{"--scenario", "huge"},
		{"--tracker", "opentracker"},
		{"--seeds", "0"},
		{"--peers", "-1"},
		{"--scenario", "small", "--peers", "1"},
	} {
		stderr.Reset()
		code := run(append([]string{"johnlocke", "simulate"}, bad...), new(bytes.Buffer), &stderr)
		if code != exitUsage || !strings.Contains(stderr.String(), bad[0]) {
			t.Errorf("%v: exit %d, %q; want a usage error naming %s", bad, code, stderr.String(), bad[0])
		}
	}
}

// TestClusterFlags: with no cluster flag cluster mode is off; a good set
// fills the config; every bad combination or value is a usage error (exit
// 2) naming its flag.
func TestClusterFlags(t *testing.T) {
	cfg, err := parseServe(t, "serve")
	if err != nil || cfg.Cluster.Enabled {
		t.Fatalf("no cluster flags: enabled %v, %v", cfg.Cluster.Enabled, err)
	}

	secret := writeFile(t, "secret", "  0123456789abcdef0123\n")
	cfg, err = parseServe(t, "serve", "--cluster-listen", "127.0.0.1:7422", "--cluster-peer", "127.0.0.2:7422",
		"--cluster-peer", "[::1]:7422", "--cluster-secret-file", secret, "--node-name", "node-1")
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Cluster
	if !c.Enabled || c.Listen != "127.0.0.1:7422" || len(c.Peers) != 2 || c.NodeName != "node-1" || string(c.Secret) != "0123456789abcdef0123" {
		t.Fatalf("cluster config %+v", c)
	}
	cfg, err = parseServe(t, "serve", "--cluster-nats", "nats://127.0.0.1:4222, nats://127.0.0.2:4222", "--cluster-secret-file", secret)
	if err != nil || len(cfg.Cluster.NATSURLs) != 2 || cfg.Cluster.NodeName != cluster.DefaultNodeName() {
		t.Fatalf("--cluster-nats: %+v, %v", cfg.Cluster, err)
	}

	short := writeFile(t, "short", "tooshort\n")
	open := writeFile(t, "open", "0123456789abcdef0123\n")
	if err := os.Chmod(open, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--cluster-listen", "127.0.0.1:7422"}, "--cluster-secret-file"},
		{[]string{"--cluster-secret-file", secret}, "--cluster-listen or --cluster-nats"},
		{[]string{"--node-name", "a", "--cluster-secret-file", secret}, "--cluster-listen or --cluster-nats"},
		{[]string{"--cluster-peer", "127.0.0.2:7422", "--cluster-secret-file", secret}, "--cluster-peer"},
		{[]string{"--cluster-nats", "nats://127.0.0.1:4222", "--cluster-listen", "127.0.0.1:7422", "--cluster-secret-file", secret}, "--cluster-nats"},
		{[]string{"--cluster-listen", "nowhere", "--cluster-secret-file", secret}, "--cluster-listen"},
		{[]string{"--cluster-listen", "127.0.0.1:7422", "--cluster-peer", "127.0.0.2", "--cluster-secret-file", secret}, "--cluster-peer"},
		{[]string{"--cluster-nats", "4222", "--cluster-secret-file", secret}, "--cluster-nats"},
		{[]string{"--cluster-listen", "127.0.0.1:7422", "--node-name", "a.b", "--cluster-secret-file", secret}, "--node-name"},
		{[]string{"--cluster-listen", "127.0.0.1:7422", "--cluster-secret-file", short}, "at least 16"},
		{[]string{"--cluster-listen", "127.0.0.1:7422", "--cluster-secret-file", open}, "group or others"},
		{[]string{"--cluster-listen", "127.0.0.1:7422", "--cluster-secret-file", filepath.Join(t.TempDir(), "none")}, "--cluster-secret-file"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := parseServe(t, append([]string{"serve"}, tc.args...)...)
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != exitUsage || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want a usage error (exit 2) saying %q", err, tc.want)
			}
		})
	}
}
