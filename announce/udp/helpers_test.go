package udp

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"johnlocke/store"
)

// testKey is the connection-id secret most tests share.
var testKey = []byte("0123456789abcdef0123456789abcdef")

// replyTimeout bounds the wait for an answer that must come.
const replyTimeout = 5 * time.Second

// testClock is an injectable clock, safe to move while a server reads it.
type testClock struct{ ns atomic.Int64 }

func newClock(t time.Time) *testClock {
	c := &testClock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// clockStart is a fixed time in the middle of a connection-id epoch.
var clockStart = time.Date(2025, 3, 1, 12, 0, 30, 0, time.UTC)

// openStore opens a real store on a fresh file, closed when the test ends.
func openStore(t testing.TB, cfg store.Config) *store.Store {
	t.Helper()
	cfg.Log = zerolog.Nop()
	path := filepath.Join(t.TempDir(), "tracker.db")
	st, err := store.Open(path, cfg)
	if err != nil {
		t.Fatalf("store.Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return st
}

// register makes hashes known to st.
func register(t testing.TB, st *store.Store, hashes ...[20]byte) {
	t.Helper()
	ts := make([]store.Torrent, len(hashes))
	for i, h := range hashes {
		ts[i] = store.Torrent{InfoHash: h}
	}
	if _, err := st.Register(ts); err != nil {
		t.Fatalf("register: %v", err)
	}
}

func hashOf(s string) (h [20]byte) {
	copy(h[:], s)
	return h
}

// listen opens a UDP socket on network/addr, skipping the test when the
// host has no such family (IPv6 loopback is missing in some containers).
func listen(t testing.TB, network, addr string) *net.UDPConn {
	t.Helper()
	ua, err := net.ResolveUDPAddr(network, addr)
	if err != nil {
		t.Skipf("no %s here: %v", network, err)
	}
	c, err := net.ListenUDP(network, ua)
	if err != nil {
		if network == "udp6" || addr[0] == '[' {
			t.Skipf("no IPv6 loopback here: %v", err)
		}
		t.Fatalf("listen %s %s: %v", network, addr, err)
	}
	return c
}

// startServer serves s on conn until the test ends, and checks that Serve
// then returns nil. It returns the address clients send to.
func startServer(t testing.TB, s *Server, conn *net.UDPConn) netip.AddrPort {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, conn) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve returned %v, want nil", err)
		}
	})
	return conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// newTestServer builds a server on a real store and serves it on a socket
// of network/addr.
func newTestServer(t testing.TB, tr Tracker, cfg Config, network, addr string) (*Server, netip.AddrPort) {
	t.Helper()
	s := NewServer(tr, cfg, zerolog.Nop())
	return s, startServer(t, s, listen(t, network, addr))
}

// client speaks raw BEP 15 from one socket, to any server.
type client struct {
	t    testing.TB
	conn *net.UDPConn
}

func newClient(t testing.TB, network, addr string) *client {
	t.Helper()
	c := &client{t: t, conn: listen(t, network, addr)}
	t.Cleanup(func() { c.conn.Close() })
	return c
}

func (c *client) addr() netip.AddrPort {
	return c.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

func (c *client) send(to netip.AddrPort, pkt []byte) {
	c.t.Helper()
	if _, err := c.conn.WriteToUDPAddrPort(pkt, to); err != nil {
		c.t.Fatalf("send to %v: %v", to, err)
	}
}

// recv returns the next datagram, or ok false when none came within d.
func (c *client) recv(d time.Duration) (pkt []byte, ok bool) {
	c.t.Helper()
	buf := make([]byte, 4096)
	c.conn.SetReadDeadline(time.Now().Add(d))
	n, _, err := c.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, false
		}
		c.t.Fatalf("recv: %v", err)
	}
	return buf[:n], true
}

func (c *client) roundTrip(to netip.AddrPort, pkt []byte) []byte {
	c.t.Helper()
	c.send(to, pkt)
	reply, ok := c.recv(replyTimeout)
	if !ok {
		c.t.Fatalf("no reply from %v to a %d-byte packet", to, len(pkt))
	}
	return reply
}

// connect gets a connection id from the server at to.
func (c *client) connect(to netip.AddrPort) uint64 {
	c.t.Helper()
	const tx = 0x1234abcd
	reply := c.roundTrip(to, connectPacket(tx))
	if len(reply) != connectReplyLen {
		c.t.Fatalf("connect reply is %d bytes (%x), want %d", len(reply), reply, connectReplyLen)
	}
	be := binary.BigEndian
	if a, gotTx := be.Uint32(reply), be.Uint32(reply[4:]); a != actionConnect || gotTx != tx {
		c.t.Fatalf("connect reply action %d tx %#x, want %d %#x", a, gotTx, actionConnect, tx)
	}
	return be.Uint64(reply[8:])
}

// ann describes one announce request.
type ann struct {
	connID                     uint64
	tx                         uint32
	hash                       [20]byte
	peerID                     [20]byte
	downloaded, left, uploaded uint64
	event                      uint32
	ip, key                    uint32
	numWant                    int32
	port                       uint16
	options                    []byte // BEP 41 option area, appended as is
}

func connectPacket(tx uint32) []byte {
	be := binary.BigEndian
	b := be.AppendUint64(nil, protocolID)
	b = be.AppendUint32(b, actionConnect)
	return be.AppendUint32(b, tx)
}

func announcePacket(a ann) []byte {
	be := binary.BigEndian
	b := be.AppendUint64(nil, a.connID)
	b = be.AppendUint32(b, actionAnnounce)
	b = be.AppendUint32(b, a.tx)
	b = append(b, a.hash[:]...)
	b = append(b, a.peerID[:]...)
	b = be.AppendUint64(b, a.downloaded)
	b = be.AppendUint64(b, a.left)
	b = be.AppendUint64(b, a.uploaded)
	b = be.AppendUint32(b, a.event)
	b = be.AppendUint32(b, a.ip)
	b = be.AppendUint32(b, a.key)
	b = be.AppendUint32(b, uint32(a.numWant))
	b = be.AppendUint16(b, a.port)
	if len(b) != announceLen {
		panic("announce packet layout is off")
	}
	return append(b, a.options...)
}

func scrapePacket(connID uint64, tx uint32, hashes ...[20]byte) []byte {
	be := binary.BigEndian
	b := be.AppendUint64(nil, connID)
	b = be.AppendUint32(b, actionScrape)
	b = be.AppendUint32(b, tx)
	for _, h := range hashes {
		b = append(b, h[:]...)
	}
	return b
}

// announceReply is a decoded announce answer.
type announceReply struct {
	interval, leechers, seeders uint32
	peers                       []netip.AddrPort
}

// parseAnnounce decodes an announce answer with peers of stride bytes,
// failing the test on an error packet or a malformed answer.
func parseAnnounce(t testing.TB, b []byte, tx uint32, stride int) announceReply {
	t.Helper()
	be := binary.BigEndian
	if len(b) >= errorHeaderLen && be.Uint32(b) == actionError {
		t.Fatalf("announce answered with error %q", b[errorHeaderLen:])
	}
	if len(b) < announceReplyHeaderLen || (len(b)-announceReplyHeaderLen)%stride != 0 {
		t.Fatalf("announce reply of %d bytes does not hold %d-byte peers", len(b), stride)
	}
	if a, gotTx := be.Uint32(b), be.Uint32(b[4:]); a != actionAnnounce || gotTx != tx {
		t.Fatalf("announce reply action %d tx %#x, want %d %#x", a, gotTx, actionAnnounce, tx)
	}
	r := announceReply{interval: be.Uint32(b[8:]), leechers: be.Uint32(b[12:]), seeders: be.Uint32(b[16:])}
	for p := b[announceReplyHeaderLen:]; len(p) > 0; p = p[stride:] {
		addr, _ := netip.AddrFromSlice(p[:stride-2])
		r.peers = append(r.peers, netip.AddrPortFrom(addr, be.Uint16(p[stride-2:])))
	}
	return r
}

// parseScrape decodes a scrape answer.
func parseScrape(t testing.TB, b []byte, tx uint32) []store.ScrapeCounts {
	t.Helper()
	be := binary.BigEndian
	if len(b) >= errorHeaderLen && be.Uint32(b) == actionError {
		t.Fatalf("scrape answered with error %q", b[errorHeaderLen:])
	}
	if len(b) < scrapeReplyHeaderLen || (len(b)-scrapeReplyHeaderLen)%scrapeEntryLen != 0 {
		t.Fatalf("scrape reply of %d bytes is malformed", len(b))
	}
	if a, gotTx := be.Uint32(b), be.Uint32(b[4:]); a != actionScrape || gotTx != tx {
		t.Fatalf("scrape reply action %d tx %#x, want %d %#x", a, gotTx, actionScrape, tx)
	}
	var counts []store.ScrapeCounts
	for p := b[scrapeReplyHeaderLen:]; len(p) > 0; p = p[scrapeEntryLen:] {
		counts = append(counts, store.ScrapeCounts{
			Complete:   be.Uint32(p),
			Downloaded: be.Uint32(p[4:]),
			Incomplete: be.Uint32(p[8:]),
		})
	}
	return counts
}

// parseError decodes an error packet; ok is false for anything else.
func parseError(b []byte) (tx uint32, msg string, ok bool) {
	be := binary.BigEndian
	if len(b) < errorHeaderLen || be.Uint32(b) != actionError {
		return 0, "", false
	}
	return be.Uint32(b[4:]), string(b[errorHeaderLen:]), true
}

// hasIPv6Loopback reports whether [::1] can be bound.
func hasIPv6Loopback() bool {
	c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// handle answers one packet at the current epoch, without recovering a
// panic (so that a fuzz target sees it).
func (h *handler) handle(pkt []byte, client netip.AddrPort) []byte {
	return h.handleAt(pkt, client, epochOf(h.srv.now()))
}
