package announce_test

import (
	"net/netip"
	"testing"

	"johnlocke/modes"
	"johnlocke/store"
)

// TestIntegrationExternalIP checks BEP 24: every HTTP announce answer
// names the address the tracker saw, 4 bytes over IPv4 and 16 over IPv6,
// in the compact and the dictionary model alike.
func TestIntegrationExternalIP(t *testing.T) {
	tr := startTracker(t, store.Config{Mode: modes.Large, Locked: true})
	h := hashOf("external-ip")
	tr.register(t, store.Torrent{InfoHash: h, Mode: modes.Large, Name: "external ip"})
	for _, tc := range []struct {
		name    string
		v6      bool
		compact string
		want    netip.Addr
		wantLen int
	}{
		{"ipv4 compact", false, "1", netip.MustParseAddr("127.0.0.1"), 4},
		{"ipv4 dictionary", false, "0", netip.MustParseAddr("127.0.0.1"), 4},
		{"ipv6 compact", true, "1", netip.MustParseAddr("::1"), 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := tr.announce(t, peerReq{hash: h, port: 20001, left: 1, event: "started", compact: tc.compact, v6: tc.v6})
			if got := res.externalIP; got != tc.want {
				t.Errorf("external ip %v, want %v", got, tc.want)
			}
			if raw, _ := res.raw["external ip"].(string); len(raw) != tc.wantLen {
				t.Errorf("external ip is %d bytes, want %d", len(raw), tc.wantLen)
			}
		})
	}
	// A failure answer carries nothing but the reason.
	d := tr.announceRaw(t, peerReq{hash: hashOf("not registered"), port: 20002, left: 1})
	if _, ok := d["external ip"]; ok || len(d) != 1 {
		t.Errorf("failure answer %#v, want only a failure reason", d)
	}
}
