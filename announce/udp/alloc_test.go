package udp

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"johnlocke/store"
)

// handlerBench is a handler on a real store with a swarm of peers, and
// prebuilt packets from one IPv4 and one IPv6 client.
type handlerBench struct {
	h                *handler
	client4, client6 netip.AddrPort
	connect          []byte
	announce4        []byte
	announce6        []byte
	scrape           []byte
	forged           []byte
}

func newHandlerBench(tb testing.TB, swarm int) *handlerBench {
	tb.Helper()
	st := openStore(tb, store.Config{})
	hash := hashOf("allocation budget...")
	register(tb, st, hash)
	for i := range swarm {
		for _, is6 := range []bool{false, true} {
			req := store.Request{InfoHash: hash, Port: uint16(1 + i), Left: uint64(i % 2), Is6: is6}
			req.Addr[0], req.Addr[1], req.Addr[2] = 10, byte(i>>8), byte(i)
			var resp store.Response
			if err := st.Announce(&req, &resp); err != nil {
				tb.Fatal(err)
			}
		}
	}
	s := NewServer(st, Config{Key: testKey}, zerolog.Nop())
	b := &handlerBench{
		h:       s.newHandler(),
		client4: netip.MustParseAddrPort("192.0.2.1:6881"),
		client6: netip.MustParseAddrPort("[2001:db8::1]:6881"),
		connect: connectPacket(1),
	}
	now := epochOf(time.Now())
	id4, id6 := s.key.connID(now, b.client4), s.key.connID(now, b.client6)
	opts := []byte{optNOP, optURLData, 9, '/', 'a', 'n', 'n', 'o', 'u', 'n', 'c', 'e', optEndOfOptions}
	b.announce4 = announcePacket(ann{connID: id4, tx: 2, hash: hash, left: 1, port: 6881, numWant: -1, options: opts})
	b.announce6 = announcePacket(ann{connID: id6, tx: 3, hash: hash, left: 1, port: 6881, numWant: -1})
	b.scrape = scrapePacket(id4, 4, hash, hashOf("unknown"), hash)
	b.forged = announcePacket(ann{connID: id4 ^ 1, tx: 5, hash: hash, port: 1})
	return b
}

// TestHandleAllocs pins the allocation budget of the per-packet path: once
// the swarm and the reader's buffers exist, no packet allocates.
func TestHandleAllocs(t *testing.T) {
	b := newHandlerBench(t, 200)
	for _, tc := range []struct {
		name   string
		pkt    []byte
		client netip.AddrPort
	}{
		{"connect", b.connect, b.client4},
		{"announce IPv4 with options", b.announce4, b.client4},
		{"announce IPv6", b.announce6, b.client6},
		{"scrape", b.scrape, b.client4},
		{"forged id", b.forged, b.client4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(b.h.handlePacket(tc.pkt, tc.client)) == 0 {
				t.Fatalf("no reply")
			}
			if n := testing.AllocsPerRun(1000, func() { b.h.handlePacket(tc.pkt, tc.client) }); n != 0 {
				t.Errorf("%v allocations per packet, want 0", n)
			}
		})
	}
}

func benchHandle(b *testing.B, pick func(*handlerBench) ([]byte, netip.AddrPort)) {
	hb := newHandlerBench(b, 1000)
	pkt, client := pick(hb)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if len(hb.h.handlePacket(pkt, client)) == 0 {
			b.Fatal("no reply")
		}
	}
}

func BenchmarkHandleConnect(b *testing.B) {
	benchHandle(b, func(hb *handlerBench) ([]byte, netip.AddrPort) { return hb.connect, hb.client4 })
}

func BenchmarkHandleAnnounce4(b *testing.B) {
	benchHandle(b, func(hb *handlerBench) ([]byte, netip.AddrPort) { return hb.announce4, hb.client4 })
}

func BenchmarkHandleAnnounce6(b *testing.B) {
	benchHandle(b, func(hb *handlerBench) ([]byte, netip.AddrPort) { return hb.announce6, hb.client6 })
}

func BenchmarkHandleScrape(b *testing.B) {
	benchHandle(b, func(hb *handlerBench) ([]byte, netip.AddrPort) { return hb.scrape, hb.client4 })
}

func BenchmarkHandleForgedID(b *testing.B) {
	benchHandle(b, func(hb *handlerBench) ([]byte, netip.AddrPort) { return hb.forged, hb.client4 })
}

// BenchmarkServeAnnounce measures a whole round trip over loopback: client
// write, server read, handling, server write, client read. One client
// waiting for each answer is the case pacing can only delay, so the
// server does not pace here (BenchmarkServeAnnouncePaced does).
func BenchmarkServeAnnounce(b *testing.B) {
	st := openStore(b, store.Config{})
	hash := hashOf("round trip bench....")
	_, srv := newTestServer(b, st, Config{Key: testKey, Window: -1}, "udp4", "127.0.0.1:0")
	c := newClient(b, "udp4", "127.0.0.1:0")
	pkt := announcePacket(ann{connID: c.connect(srv), tx: 1, hash: hash, left: 1, port: 6881, numWant: -1})
	buf := make([]byte, 2048)
	c.conn.SetReadDeadline(time.Now().Add(time.Minute))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.conn.WriteToUDPAddrPort(pkt, srv); err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.conn.ReadFromUDPAddrPort(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServeAnnouncePaced has 16 clients announce at once, each
// waiting for its answer, against a server with the default window: the
// reader paces, and each read serves several. The figure per op is the
// wall time per announce over all clients, allocations included.
func BenchmarkServeAnnouncePaced(b *testing.B) {
	st := openStore(b, store.Config{})
	hash := hashOf("round trip bench....")
	s, srv := newTestServer(b, st, Config{Key: testKey}, "udp4", "127.0.0.1:0")
	const clients = 16
	pkts := make(chan []byte, clients)
	conns := make(chan *client, clients)
	for i := range clients {
		c := newClient(b, "udp4", "127.0.0.1:0")
		pkts <- announcePacket(ann{connID: c.connect(srv), tx: 1, hash: hash, left: 1, port: uint16(6881 + i), numWant: -1})
		conns <- c
	}
	b.SetParallelism((clients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, pkt := <-conns, <-pkts
		buf := make([]byte, 2048)
		c.conn.SetReadDeadline(time.Now().Add(time.Minute))
		for pb.Next() {
			if _, err := c.conn.WriteToUDPAddrPort(pkt, srv); err != nil {
				b.Error(err)
				return
			}
			if _, _, err := c.conn.ReadFromUDPAddrPort(buf); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(s.pacedReads.Load())/float64(b.N), "paced-reads/op")
}
