package udp

import (
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"johnlocke/announce/limit"
	"johnlocke/store"
)

// TestRateLimit: past its burst a source's announces and scrapes get an
// error packet saying when to retry, no larger than the request, while
// connects and other sources are still answered; announces with a bad
// connection id (which anyone can spoof) do not use up a source's rate.
func TestRateLimit(t *testing.T) {
	for _, batched := range []bool{true, false} {
		name := "packet at a time"
		if batched {
			name = "batches"
		}
		t.Run(name, func(t *testing.T) { testRateLimit(t, batched) })
	}
}

func testRateLimit(t *testing.T, batched bool) {
	st := openStore(t, store.Config{})
	h := hashOf("rate limited torrent")
	register(t, st, h)
	var now atomic.Int64 // read by the server's reader
	now.Store(int64(time.Hour))
	rate := limit.NewRate(1, 2, func() time.Duration { return time.Duration(now.Load()) })
	s := NewServer(st, Config{Key: testKey, RateLimit: rate}, zerolog.Nop())
	s.noBatch = !batched
	srv := startServer(t, s, listen(t, "udp4", "127.0.0.1:0"))

	announce := func(c *client, id uint64, tx uint32) []byte {
		return c.roundTrip(srv, announcePacket(ann{connID: id, tx: tx, hash: h, left: 1, port: 6881, numWant: -1}))
	}
	limited := func(reply []byte, tx uint32, reqLen int) {
		t.Helper()
		gotTx, msg, ok := parseError(reply)
		if !ok || gotTx != tx || msg != "rate limited; retry in 1 s" {
			t.Errorf("past the burst: %x, want an error packet saying when to retry", reply)
		}
		if len(reply) > reqLen {
			t.Errorf("error packet of %d bytes answers a %d-byte request", len(reply), reqLen)
		}
	}

	// Announces with a bad connection id are not counted.
	c3 := newClient(t, "udp4", "127.0.0.3:0")
	for tx := range uint32(5) {
		if _, msg, _ := parseError(announce(c3, 12345, tx)); msg != string(ErrBadConnectionID) {
			t.Fatalf("forged id: %q", msg)
		}
	}
	id3 := c3.connect(srv)
	parseAnnounce(t, announce(c3, id3, 9), 9, peer4Len)

	c := newClient(t, "udp4", "127.0.0.1:0")
	id := c.connect(srv)
	for tx := range uint32(2) {
		parseAnnounce(t, announce(c, id, tx), tx, peer4Len)
	}
	limited(announce(c, id, 2), 2, announceLen)
	scrape := scrapePacket(id, 3, h)
	limited(c.roundTrip(srv, scrape), 3, len(scrape))
	if c.connect(srv) == 0 {
		t.Error("connect refused while limited")
	}

	other := newClient(t, "udp4", "127.0.0.2:0")
	otherID := other.connect(srv)
	parseAnnounce(t, announce(other, otherID, 4), 4, peer4Len)

	now.Add(int64(time.Second))
	parseAnnounce(t, announce(c, id, 5), 5, peer4Len)
}

// TestRateLimitErrorNeverAmplifies: a limited request too short for the
// error text is answered with silence.
func TestRateLimitErrorNeverAmplifies(t *testing.T) {
	s := NewServer(openStore(t, store.Config{}), Config{Key: testKey, RateLimit: limit.NewRate(1, 1, func() time.Duration { return 0 })}, zerolog.Nop())
	hd := s.newHandler()
	client := netip.MustParseAddrPort("192.0.2.1:6881")
	id := s.key.connID(epochOf(time.Now()), client)
	full := scrapePacket(id, 1, hashOf("a"))
	hd.handlePacket(full, client) // uses the burst
	if reply := hd.handlePacket(full, client); !strings.HasPrefix(string(reply[errorHeaderLen:]), "rate limited") {
		t.Fatalf("limited scrape: %x", reply)
	}
	// 33 bytes: one short of the 34-byte error packet.
	short := append(full[:headerLen:headerLen], make([]byte, 17)...)
	if reply := hd.handlePacket(short, client); reply != nil {
		t.Errorf("%d-byte reply to a %d-byte request, want silence", len(reply), len(short))
	}
}

// TestHandleAllocsRateLimited: the limiter adds no allocation, whether it
// lets a packet through or refuses it.
func TestHandleAllocsRateLimited(t *testing.T) {
	for _, tc := range []struct {
		name string
		rate *limit.Rate
	}{
		{"let through", limit.NewRate(limit.MaxPerSecond, limit.MaxBurst, nil)},
		{"refused", limit.NewRate(1, 1, func() time.Duration { return 0 })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newHandlerBench(t, 200)
			b.h.srv.cfg.RateLimit = tc.rate
			b.h.handlePacket(b.announce4, b.client4)
			if n := testing.AllocsPerRun(1000, func() { b.h.handlePacket(b.announce4, b.client4) }); n != 0 {
				t.Errorf("%v allocations per packet, want 0", n)
			}
		})
	}
}

// BenchmarkHandleAnnounce4RateLimited is BenchmarkHandleAnnounce4 with a
// limiter that lets every packet through: the limiter's cost per packet,
// its clock read included (handlePacket reads it per packet; a batch
// reader reads it once per batch).
func BenchmarkHandleAnnounce4RateLimited(b *testing.B) {
	hb := newHandlerBench(b, 1000)
	hb.h.srv.cfg.RateLimit = limit.NewRate(limit.MaxPerSecond, limit.MaxBurst, nil)
	b.ReportAllocs()
	for b.Loop() {
		if len(hb.h.handlePacket(hb.announce4, hb.client4)) == 0 {
			b.Fatal("no reply")
		}
	}
}
