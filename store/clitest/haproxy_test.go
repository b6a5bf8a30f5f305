package clitest

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestHAProxyInFrontOfCluster announces over HTTP through HAProxy run
// with testdata/cluster/haproxy.cfg in front of three nodes that trust it
// (--trusted-proxy 127.0.0.1): every node serves the peers under the
// client's own address (X-Forwarded-For), and with one node killed the
// announces through HAProxy still succeed.
func TestHAProxyInFrontOfCluster(t *testing.T) {
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		t.Skip("haproxy is not installed (apt-get install haproxy; .ci/run installs it)")
	}
	hashes := randomHashes(1)
	ih := hashes[0]
	nodes := newCluster(t, 3, hashes, "--trusted-proxy", "127.0.0.1")
	startAll(t, nodes)

	front := freePort(t)
	cfg, err := filepath.Abs(filepath.Join("..", "..", "testdata", "cluster", "haproxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(haproxy, "-db", "-f", cfg)
	cmd.Env = append(os.Environ(), "JOHNLOCKE_FRONTEND="+front,
		"JOHNLOCKE_NODE_A="+nodes[0].http, "JOHNLOCKE_NODE_B="+nodes[1].http, "JOHNLOCKE_NODE_C="+nodes[2].http)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-done
	})

	client := httpFrom("127.0.0.2")
	waitFor(t, 10*time.Second, "HAProxy to accept on "+front, func() bool {
		_, err := httpGet(client, front, "/scrape", nil)
		return err == nil
	})

	// Round robin: the three announces land on the three nodes. Each
	// answer names the client's address, not HAProxy's.
	ports := []uint16{7601, 7602, 7603}
	for _, port := range ports {
		m := httpAnnounce(t, client, front, ih, int(port), 10, "started")
		if got := m["external ip"]; got != "\x7f\x00\x00\x02" {
			t.Fatalf("external ip through HAProxy = %q, want 127.0.0.2", got)
		}
	}
	for i, node := range nodes {
		u := dialUDPFrom(t, "127.0.0.3", node.udp)
		awaitPeers(t, u, 7002, ih, clusterPropagation, "node "+node.name+" to serve the peers announced through HAProxy",
			peerAt("127.0.0.2", ports[0]), peerAt("127.0.0.2", ports[1]), peerAt("127.0.0.2", ports[2]))
		if a := u.announceFull(t, ih, 7002, 1, udpNone); a.has(peerAt("127.0.0.1", ports[i])) {
			t.Fatalf("node %s serves HAProxy's address as a peer: %v", node.name, a.peers)
		}
	}

	// A node dies: HAProxy retries on another, so no announce fails.
	nodes[0].kill(t, syscall.SIGKILL)
	for port := 7611; port < 7617; port++ {
		httpAnnounce(t, client, front, ih, port, 10, "started")
	}
	u := dialUDPFrom(t, "127.0.0.3", nodes[2].udp)
	awaitPeers(t, u, 7002, ih, clusterPropagation, "c to serve the peers announced through HAProxy after a died",
		peerAt("127.0.0.2", 7611), peerAt("127.0.0.2", 7616))
}
