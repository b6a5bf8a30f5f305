package udp

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"johnlocke/store"
)

// TestManyClientsAtOnce has many IPv4 and IPv6 clients of one dual-stack
// socket send at once, so that the server reads them in batches (where it
// can) with announces, scrapes, forged ids and unanswerable packets mixed:
// every client gets exactly its own answers, with peers of its own family,
// and the silent cases stay silent. It runs on both of Serve's loops.
func TestManyClientsAtOnce(t *testing.T) {
	for _, batched := range []bool{true, false} {
		name := "batched"
		if !batched {
			name = "packet at a time"
		}
		t.Run(name, func(t *testing.T) { testManyClients(t, batched) })
	}
}

func testManyClients(t *testing.T, batched bool) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv6unspecified})
	if err != nil {
		t.Skipf("no dual-stack socket: %v", err)
	}
	conn.SetReadBuffer(1 << 20)
	st := openStore(t, store.Config{})
	h := hashOf("many clients at once")
	register(t, st, h)
	s := NewServer(st, Config{Key: testKey}, zerolog.Nop())
	s.noBatch = !batched
	port := startServer(t, s, conn).Port()

	type peer struct {
		c      *client
		to     netip.AddrPort
		id     uint64
		stride int
	}
	n6 := 0
	if hasIPv6Loopback() {
		n6 = 60
	}
	var peers []*peer
	for i := range 60 + n6 {
		p := &peer{stride: peer4Len}
		// Alternate the families.
		if i%2 == 1 && i/2 < n6 {
			p.c, p.to, p.stride = newClient(t, "udp6", "[::1]:0"), netip.AddrPortFrom(netip.IPv6Loopback(), port), peer6Len
		} else {
			p.c, p.to = newClient(t, "udp4", "127.0.0.1:0"), netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
		}
		p.id = p.c.connect(p.to)
		peers = append(peers, p)
	}
	// Everybody joins the swarm first, so that the answers below have
	// peers to list.
	for i, p := range peers {
		parseAnnounce(t, p.c.roundTrip(p.to, announcePacket(ann{connID: p.id, tx: uint32(i), hash: h, left: 1, port: uint16(10000 + i), numWant: 0})), uint32(i), p.stride)
	}

	// Then all at once: each client sends an announce, a scrape, an
	// announce with a forged id, a runt and a connect without the magic.
	for round := range 2 {
		for i, p := range peers {
			tx := uint32(round<<16 | i<<4)
			p.c.send(p.to, announcePacket(ann{connID: p.id, tx: tx, hash: h, left: 1, port: uint16(10000 + i), numWant: 50}))
			p.c.send(p.to, scrapePacket(p.id, tx+1, h))
			p.c.send(p.to, announcePacket(ann{connID: p.id ^ 0xff, tx: tx + 2, hash: h, port: 1}))
			p.c.send(p.to, []byte("runt"))
			bad := connectPacket(tx + 3)
			bad[0] ^= 1
			p.c.send(p.to, bad)
		}
		be := binary.BigEndian
		for i, p := range peers {
			tx := uint32(round<<16 | i<<4)
			got := make(map[uint32][]byte)
			for range 3 {
				pkt, ok := p.c.recv(replyTimeout)
				if !ok {
					t.Fatalf("round %d, peer %d: answers missing, got %d", round, i, len(got))
				}
				got[be.Uint32(pkt[4:])] = pkt
			}
			r := parseAnnounce(t, got[tx], tx, p.stride)
			if len(r.peers) != 50 {
				t.Errorf("peer %d got %d peers, want 50", i, len(r.peers))
			}
			for _, a := range r.peers {
				if a.Addr().Is4() != (p.stride == peer4Len) {
					t.Errorf("peer %d (stride %d) was given %v", i, p.stride, a)
				}
			}
			if c := parseScrape(t, got[tx+1], tx+1); len(c) != 1 || c[0].Incomplete != uint32(len(peers)) {
				t.Errorf("peer %d scrape %+v, want %d leechers", i, c, len(peers))
			}
			if etx, msg, ok := parseError(got[tx+2]); !ok || etx != tx+2 || msg != string(ErrBadConnectionID) {
				t.Errorf("peer %d forged id answered %q", i, got[tx+2])
			}
			if extra, ok := p.c.recv(2 * time.Millisecond); ok {
				t.Errorf("peer %d got an answer to a packet that deserves none: %x", i, extra)
			}
		}
	}
}
