package clitest

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// printed is the output of `serve --print-config`: each key's value as
// compact JSON text.
type printed map[string]string

// printConfig runs the command line args (with serve among them) with
// --print-config, which must exit 0 at once, saying nothing on stderr, and
// returns what it printed.
func printConfig(t *testing.T, env []string, args ...string) printed {
	t.Helper()
	r := runWithin(t, exitBound, env, append(args, "--print-config")...)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("%v --print-config: exit %d, want 0 and nothing on stderr\n%s", args, r.code, r.stderr)
	}
	if !strings.HasPrefix(r.stdout, "{\n  \"") {
		t.Errorf("%v --print-config: the JSON is not indented:\n%s", args, r.stdout)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
		t.Fatalf("%v --print-config printed no JSON object: %v\n%s", args, err, r.stdout)
	}
	p := printed{}
	for k, v := range raw {
		var b bytes.Buffer
		if err := json.Compact(&b, v); err != nil {
			t.Fatal(err)
		}
		p[k] = b.String()
	}
	return p
}

// check reports, saying why, each key of want whose printed value is not
// the JSON of want's value.
func (p printed) check(t *testing.T, why string, want map[string]any) {
	t.Helper()
	for k, w := range want {
		b, err := json.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := p[k]; !ok || got != string(b) {
			t.Errorf("%s: %q is %s, want %s", why, k, got, b)
		}
	}
}

// TestPrintConfig: --print-config prints what serve would run with, the
// defaults that depend on other values or on the environment worked out,
// and exits 0 without touching the database, a port, the pid file or the
// log file, and without going to the background; a bad value is still a
// usage error.
func TestPrintConfig(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "j.db")
	// Held by this test: a serve that bound them would exit 1.
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	status, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer status.Close()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	pidFile, logFile := filepath.Join(dir, "j.pid"), filepath.Join(dir, "j.log")
	sockets := 1 // SO_REUSEPORT is Linux's alone
	if runtime.GOOS == "linux" {
		sockets = 3
	}
	// GOGC empty is GOGC unset, for the default of --gc-percent.
	p := printConfig(t, []string{"GOMAXPROCS=3", "GOGC="}, "serve", "--db", db, "--http", tcp.Addr().String(),
		"--udp", udp.LocalAddr().String(), "--status", status.Addr().String(),
		"--daemon", "--pidfile", pidFile, "--log-file", logFile)
	p.check(t, "the defaults and the command line", map[string]any{
		"db": db, "admin": db + ".sock", "http": tcp.Addr().String(), "daemon": true, "pidfile": pidFile,
		"log-file": logFile, "udp-sockets": sockets, "udp-window": "200µs", "interval": nil, "min-interval": nil,
		"max-torrent-size": 16 << 20, "max-torrents-per-ip": 10000, "rate-limit": 0, "rate-burst": 0,
		"gc-percent": 20, "scan": false, "trusted-proxy": []string{}, "cluster-secret-set": false,
	})
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("--print-config left %s behind", e.Name())
	}

	// Defaults drawn from other flags and from the environment.
	printConfig(t, nil, "serve", "--max-torrents", "500", "--rate-limit", "50", "--interval", "30m").check(t, "worked out from other flags",
		map[string]any{"max-torrents-per-ip": 5, "rate-burst": 3000, "interval": "30m0s", "min-interval": nil})
	printConfig(t, nil, "serve", "--max-torrents-per-ip", "0").check(t, "no per-address bound",
		map[string]any{"max-torrents-per-ip": 0})
	printConfig(t, []string{"GOGC=150"}, "serve").check(t, "$GOGC kept", map[string]any{"gc-percent": 150})
	printConfig(t, []string{"GOGC=off"}, "serve").check(t, "$GOGC off kept", map[string]any{"gc-percent": -1})
	printConfig(t, []string{"GOGC=150"}, "serve", "--gc-percent", "30").check(t, "--gc-percent over $GOGC",
		map[string]any{"gc-percent": 30})

	r := runWithin(t, exitBound, nil, "serve", "--db", db, "--print-config", "--maxpeers", "0")
	if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, "--maxpeers") {
		t.Fatalf("--print-config --maxpeers 0: exit %d, stdout %q, stderr %q; want exit 2 naming --maxpeers, nothing printed",
			r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a usage error touched the database: %v", err)
	}
}

// TestClusterFlags: with no cluster flag cluster mode is off; a good set
// shows in --print-config, the secret itself never; every bad combination
// or value is a usage error (exit 2) naming its flag.
func TestClusterFlags(t *testing.T) {
	printConfig(t, nil, "serve").check(t, "no cluster flags: cluster mode off", map[string]any{
		"cluster-listen": "", "cluster-peer": []string{}, "cluster-nats": []string{},
		"cluster-secret-file": "", "cluster-secret-set": false, "node-name": "",
	})

	const secretText = "0123456789abcdef0123"
	secret := writeFile(t, "secret", "  "+secretText+"\n")
	p := printConfig(t, nil, "serve", "--cluster-listen", "127.0.0.1:7422", "--cluster-peer", "127.0.0.2:7422",
		"--cluster-peer", "[::1]:7422", "--cluster-secret-file", secret, "--node-name", "node-1")
	p.check(t, "cluster flags", map[string]any{"cluster-listen": "127.0.0.1:7422",
		"cluster-peer": []string{"127.0.0.2:7422", "[::1]:7422"}, "node-name": "node-1",
		"cluster-secret-file": secret, "cluster-secret-set": true})
	for k, v := range p {
		if strings.Contains(v, secretText[:16]) {
			t.Errorf("--print-config shows the cluster secret under %q: %s", k, v)
		}
	}

	// Without --node-name, the host name up to its first dot, or
	// "johnlocke" when that is no node name.
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	host, _, _ = strings.Cut(host, ".")
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`).MatchString(host) {
		host = "johnlocke"
	}
	printConfig(t, nil, "serve", "--cluster-nats", "nats://127.0.0.1:4222, nats://127.0.0.2:4222", "--cluster-secret-file", secret).check(t,
		"--cluster-nats", map[string]any{"cluster-nats": []string{"nats://127.0.0.1:4222", "nats://127.0.0.2:4222"}, "node-name": host})

	// 14 bytes inside white space that would make it 18: the secret's
	// length is counted trimmed.
	short := writeFile(t, "short", "  0123456789abcd  \n")
	open := writeFile(t, "open", secretText+"\n")
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
			db := filepath.Join(t.TempDir(), "j.db")
			r := runWithin(t, exitBound, nil, append([]string{"serve", "--db", db, "--print-config"}, tc.args...)...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want a usage error (exit 2) saying %q", r.code, r.stderr, tc.want)
			}
		})
	}
}
