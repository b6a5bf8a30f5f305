package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"johnlocke/store/cluster"
)

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
