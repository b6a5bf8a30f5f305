package clitest

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeWireLimitFlags: out-of-range per-address flags are usage errors
// (exit 2) naming the flag, and --rate-limit reaches the listener.
func TestServeWireLimitFlags(t *testing.T) {
	db := filepath.Join(t.TempDir(), "j.db")
	for _, args := range [][]string{
		{"--max-conns-per-ip", "0"},
		{"--max-conns-per-ip", "100000"},
		{"--trusted-proxy-header", "X-Real-IP :"},
		{"--trusted-proxy-header", ""},
		{"--rate-limit", "-1"},
		{"--rate-limit", "2000000"},
		{"--rate-burst", "10"},
		{"--rate-limit", "5", "--rate-burst", "0"},
	} {
		r := run(t, nil, append([]string{"serve", "--db", db, "--http", "127.0.0.1:0", "--udp", "127.0.0.1:0"}, args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, args[len(args)-2]) {
			t.Errorf("serve %v: exit %d, want 2 naming the flag\n%s", args, r.code, r.stderr)
		}
	}

	s := startServer(t, "--db", db, "--locked=false", "--rate-limit", "1", "--rate-burst", "2")
	q := url.Values{
		"info_hash": {hexBytes(v1Single)}, "peer_id": {"-XX0001-abcdefghijkl"},
		"port": {"6881"}, "uploaded": {"0"}, "downloaded": {"0"}, "left": {"0"},
	}
	// 20 announces at one a second would take 18 s past the burst of 2;
	// on loopback they take milliseconds, so some must be refused.
	limited := 0
	for range 20 {
		if m := s.get(t, "/announce", q); m["failure reason"] != nil {
			if !strings.HasPrefix(m["failure reason"].(string), "rate limited; retry in") {
				t.Fatalf("failure %v", m)
			}
			limited++
		}
	}
	if limited == 0 {
		t.Error("--rate-limit 1 --rate-burst 2 let 20 announces through")
	}
	// The metrics count each refusal as a failure, the rest as announces.
	fams := scrapeMetrics(t, s.status)
	if got := metricValue(t, fams, "johnlocke_failures_total", "protocol=http", "reason=rate_limited"); got != float64(limited) {
		t.Errorf("rate_limited failures %v, want %d", got, limited)
	}
	var answered float64
	for _, ev := range []string{"started", "none"} {
		answered += metricValue(t, fams, "johnlocke_announces_total", "protocol=http", "mode=large", "event="+ev)
	}
	if answered != float64(20-limited) {
		t.Errorf("announces counted %v, want %d", answered, 20-limited)
	}
}
