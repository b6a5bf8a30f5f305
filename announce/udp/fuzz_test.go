package udp

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/rs/zerolog"

	"johnlocke/store"
)

// FuzzHandlePacket feeds arbitrary bytes through the packet handler. When
// validID is set, the first 8 bytes are replaced by a connection id valid
// for the client, so that the fuzzer reaches the authenticated paths. It
// checks that nothing panics (the handler is called without its recover)
// and the bounds on every reply: none larger than MaxReplySize, none larger
// than its request unless it is an announce answer to a valid id, and every
// reply well formed for its action and carrying the request's transaction
// id.
func FuzzHandlePacket(f *testing.F) {
	st := openStore(f, store.Config{MaxTorrents: 1000, MaxPeersTotal: 20000})
	known := hashOf("fuzzing torrent.....")
	register(f, st, known)
	clock := newClock(clockStart)
	s := NewServer(st, Config{Key: testKey, Now: clock.Now}, zerolog.Nop())
	h := s.newHandler()
	clients := [2]netip.AddrPort{
		netip.MustParseAddrPort("198.51.100.4:6881"),
		netip.MustParseAddrPort("[2001:db8::42]:51413"),
	}
	epoch := epochOf(clock.Now())
	// Give the swarm some peers of both families to hand out.
	for i := range 30 {
		for _, c := range clients {
			h.handle(announcePacket(ann{connID: s.key.connID(epoch, c), hash: known, left: uint64(i % 3), port: uint16(100 + i), numWant: 0}), c)
		}
	}

	f.Add(false, false, connectPacket(7))
	f.Add(false, true, connectPacket(7)[:12])
	f.Add(true, false, announcePacket(ann{tx: 1, hash: known, port: 1, numWant: -1}))
	f.Add(true, true, announcePacket(ann{tx: 2, hash: known, port: 2, numWant: 500, event: 2}))
	f.Add(true, false, announcePacket(ann{tx: 3, hash: hashOf("new"), port: 3, options: []byte{1, 2, 3, '/', 'a', '?', 0}}))
	f.Add(true, false, announcePacket(ann{tx: 4, hash: known, port: 4, options: []byte{2, 255, 'x'}}))
	f.Add(true, false, announcePacket(ann{tx: 5, hash: known, port: 0, event: 9})[:60])
	f.Add(false, false, announcePacket(ann{connID: 0xdeadbeef, tx: 6, hash: known, port: 6}))
	f.Add(true, false, scrapePacket(0, 8, known, hashOf("other")))
	f.Add(true, true, scrapePacket(0, 9, make([][20]byte, MaxScrapeHashes+1)...))
	f.Add(true, false, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1, 'e', 'r', 'r'})
	f.Add(false, false, []byte{})

	f.Fuzz(func(t *testing.T, validID, v6 bool, data []byte) {
		client := clients[0]
		if v6 {
			client = clients[1]
		}
		pkt := bytes.Clone(data)
		authenticated := false
		if validID && len(pkt) >= 8 {
			binary.BigEndian.PutUint64(pkt, s.key.connID(epoch, client))
			authenticated = true
		}
		reply := h.handle(pkt, client)
		if len(reply) == 0 {
			return
		}
		be := binary.BigEndian
		if len(pkt) < headerLen {
			t.Fatalf("a %d-byte packet got a reply", len(pkt))
		}
		if len(reply) > MaxReplySize {
			t.Fatalf("reply of %d bytes, over MaxReplySize", len(reply))
		}
		if len(reply) < errorHeaderLen || !bytes.Equal(reply[4:8], pkt[12:16]) {
			t.Fatalf("reply %x does not carry the transaction id %x", reply, pkt[12:16])
		}
		action := be.Uint32(reply)
		if action != be.Uint32(pkt[8:12]) && action != actionError {
			t.Fatalf("action %d answered with action %d", be.Uint32(pkt[8:12]), action)
		}
		if action != actionAnnounce && len(reply) > len(pkt) {
			t.Fatalf("a %d-byte request got a %d-byte reply (action %d)", len(pkt), len(reply), action)
		}
		switch action {
		case actionConnect:
			if len(reply) != connectReplyLen || be.Uint64(pkt) != protocolID {
				t.Fatalf("connect reply %x to %x", reply, pkt)
			}
		case actionAnnounce:
			stride := peer4Len
			if v6 {
				stride = peer6Len
			}
			if !authenticated && !s.key.validID(be.Uint64(pkt), epoch, client) {
				t.Fatalf("announce answered without a valid connection id")
			}
			if len(pkt) < announceLen || (len(reply)-announceReplyHeaderLen)%stride != 0 {
				t.Fatalf("announce reply of %d bytes to a %d-byte request", len(reply), len(pkt))
			}
		case actionScrape:
			if (len(reply)-scrapeReplyHeaderLen)%scrapeEntryLen != 0 || (len(reply)-scrapeReplyHeaderLen)/scrapeEntryLen > MaxScrapeHashes {
				t.Fatalf("scrape reply of %d bytes", len(reply))
			}
		case actionError:
		default:
			t.Fatalf("reply with action %d", action)
		}
	})
}
