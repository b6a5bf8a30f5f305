//go:build linux

package udp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestMmsghdrLayout checks mmsghdr against struct mmsghdr: a msghdr, then
// an unsigned int, padded to the msghdr's alignment.
func TestMmsghdrLayout(t *testing.T) {
	want := uintptr(64)
	if unsafe.Sizeof(uintptr(0)) == 4 {
		want = 32
	}
	if got := unsafe.Sizeof(mmsghdr{}); got != want {
		t.Errorf("sizeof(mmsghdr) = %d, want %d", got, want)
	}
}

// batchPeer is a client socket of a batchConn test.
type batchPeer struct {
	c  *client
	to netip.AddrPort // where it sends
}

// batchPeers opens n4 IPv4 and n6 IPv6 client sockets sending to port on
// loopback.
func batchPeers(t *testing.T, port uint16, n4, n6 int) []batchPeer {
	var ps []batchPeer
	for range n4 {
		ps = append(ps, batchPeer{newClient(t, "udp4", "127.0.0.1:0"), netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)})
	}
	for range n6 {
		ps = append(ps, batchPeer{newClient(t, "udp6", "[::1]:0"), netip.AddrPortFrom(netip.IPv6Loopback(), port)})
	}
	return ps
}

// exchange has every peer send one datagram naming it to conn before
// anything is read, reads them all through b, checks each source address,
// answers each with a reply naming its peer and of a length of its own, and
// checks that every peer gets its own answer and nothing else. It returns
// the largest batch read.
func exchange(t *testing.T, conn *net.UDPConn, b *batchConn, peers []batchPeer, wantMapped bool) int {
	t.Helper()
	for i, p := range peers {
		p.c.send(p.to, fmt.Appendf(nil, "request %d", i))
	}
	byName := make(map[string]int, len(peers))
	for i := range peers {
		byName[fmt.Sprintf("request %d", i)] = i
	}
	largest := 0
	conn.SetReadDeadline(time.Now().Add(replyTimeout))
	defer conn.SetReadDeadline(time.Time{})
	for len(byName) > 0 {
		n, err := b.read()
		if err != nil {
			t.Fatalf("read with %d datagrams missing: %v", len(byName), err)
		}
		largest = max(largest, n)
		for i := range n {
			pkt := string(b.packet(i))
			k, ok := byName[pkt]
			if !ok {
				t.Fatalf("unexpected or repeated datagram %q", pkt)
			}
			delete(byName, pkt)
			got, want := b.client(i), peers[k].c.addr()
			if got.Addr().Unmap() != want.Addr() || got.Port() != want.Port() {
				t.Errorf("datagram %q from %v, want %v", pkt, got, want)
			}
			if want.Addr().Is4() && got.Addr().Is4In6() != wantMapped {
				t.Errorf("IPv4 client seen as %v: mapped = %v, want %v", got, got.Addr().Is4In6(), wantMapped)
			}
			reply := fmt.Appendf(b.replyBuf(i), "answer %d %*s", k, k, "")
			b.queue(i, reply)
		}
		if err := b.write(); err != nil {
			t.Fatalf("write: %v", err)
		}
		if b.sendErrs != 0 {
			t.Fatalf("%d answers refused: %v", b.sendErrs, b.lastErr)
		}
	}
	for k, p := range peers {
		got, ok := p.c.recv(replyTimeout)
		if want := fmt.Sprintf("answer %d %*s", k, k, ""); !ok || string(got) != want {
			t.Errorf("peer %d got %q (%v), want %q", k, got, ok, want)
		}
		if extra, ok := p.c.recv(time.Millisecond); ok {
			t.Errorf("peer %d got a second answer %q", k, extra)
		}
	}
	return largest
}

func newTestBatchConn(t *testing.T, conn *net.UDPConn) *batchConn {
	t.Helper()
	conn.SetReadBuffer(1 << 20)
	b, err := newBatchConn(conn)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBatchConnIPv4 reads and answers many clients at once on an IPv4
// socket, more than one batch's worth.
func TestBatchConnIPv4(t *testing.T) {
	conn := listen(t, "udp4", "127.0.0.1:0")
	defer conn.Close()
	b := newTestBatchConn(t, conn)
	port := conn.LocalAddr().(*net.UDPAddr).AddrPort().Port()
	largest := exchange(t, conn, b, batchPeers(t, port, batchSize+batchSize/2, 0), false)
	if largest != batchSize {
		t.Errorf("largest batch read %d datagrams, want %d", largest, batchSize)
	}
	// Again, fewer than a batch: the read returns what is there.
	if largest := exchange(t, conn, b, batchPeers(t, port, 3, 0), false); largest != 3 {
		t.Errorf("largest batch read %d datagrams, want 3", largest)
	}
}

// TestBatchConnDualStack mixes IPv4 and IPv6 clients on one dual-stack
// socket: IPv4 sources come as IPv4-mapped addresses, and each answer goes
// back to the address, of either family, its request came from.
func TestBatchConnDualStack(t *testing.T) {
	if !hasIPv6Loopback() {
		t.Skip("no IPv6 loopback")
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv6unspecified})
	if err != nil {
		t.Skipf("no dual-stack socket: %v", err)
	}
	defer conn.Close()
	b := newTestBatchConn(t, conn)
	port := conn.LocalAddr().(*net.UDPAddr).AddrPort().Port()
	peers := batchPeers(t, port, 50, 50)
	// Interleave the families so that batches mix them.
	for i := 1; i < len(peers)/2; i += 2 {
		peers[i], peers[len(peers)-i] = peers[len(peers)-i], peers[i]
	}
	if largest := exchange(t, conn, b, peers, true); largest < 2 {
		t.Errorf("largest batch read %d datagrams, want several", largest)
	}
}

// TestBatchConnIPv6 answers IPv6 clients on an IPv6-only socket.
func TestBatchConnIPv6(t *testing.T) {
	if !hasIPv6Loopback() {
		t.Skip("no IPv6 loopback")
	}
	conn := listen(t, "udp6", "[::1]:0")
	defer conn.Close()
	b := newTestBatchConn(t, conn)
	exchange(t, conn, b, batchPeers(t, conn.LocalAddr().(*net.UDPAddr).AddrPort().Port(), 0, 20), false)
}

// TestBatchAllocs pins the batched path's allocation budget: reading a
// batch, answering its announces and writing the answers allocate
// nothing.
func TestBatchAllocs(t *testing.T) {
	hb := newHandlerBench(t, 200)
	conn := listen(t, "udp4", "127.0.0.1:0")
	defer conn.Close()
	b := newTestBatchConn(t, conn)
	to := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	const clients = 16
	var (
		cs   [clients]*client
		pkts [clients][]byte
		buf  = make([]byte, 2048)
	)
	for i := range cs {
		cs[i] = newClient(t, "udp4", "127.0.0.1:0")
		// Announces from the client's own address, with its id.
		id := hb.h.srv.key.connID(epochOf(time.Now()), cs[i].addr())
		pkts[i] = announcePacket(ann{connID: id, tx: uint32(i), hash: hashOf("allocation budget..."), left: 1, port: uint16(7000 + i), numWant: -1})
	}
	round := func() {
		for i, c := range cs {
			if _, err := c.conn.WriteToUDPAddrPort(pkts[i], to); err != nil {
				t.Fatal(err)
			}
		}
		for got := 0; got < clients; {
			n, err := b.read()
			if err != nil {
				t.Fatal(err)
			}
			b.answerAll(hb.h, n, epochOf(time.Now()))
			if err := b.write(); err != nil {
				t.Fatal(err)
			}
			got += n
		}
		for _, c := range cs {
			n, _, err := c.conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatal(err)
			}
			if n < announceReplyHeaderLen || buf[3] != byte(actionAnnounce) {
				t.Fatalf("answer %x is not an announce answer", buf[:n])
			}
		}
	}
	round()
	if n := testing.AllocsPerRun(200, round); n != 0 {
		t.Errorf("%v allocations per round of %d announces, want 0", n, clients)
	}
}

// TestListenBuffer checks that ListenReusePort's sockets get a larger
// receive buffer than a plain socket's, when the system allows one.
func TestListenBuffer(t *testing.T) {
	rcvbuf := func(c *net.UDPConn) int {
		t.Helper()
		rc, err := c.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var n int
		var serr error
		if err := rc.Control(func(fd uintptr) { n, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF) }); err != nil || serr != nil {
			t.Fatal(err, serr)
		}
		return n
	}
	plain := listen(t, "udp4", "127.0.0.1:0")
	defer plain.Close()
	conns, err := ListenReusePort(context.Background(), "udp4", "127.0.0.1:0", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer conns[0].Close()
	before, after := rcvbuf(plain), rcvbuf(conns[0])
	rmemMax, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		t.Skip("no net.core.rmem_max to compare with")
	}
	if limit, _ := strconv.Atoi(strings.TrimSpace(string(rmemMax))); limit > before && after <= before {
		t.Errorf("receive buffer %d bytes, a plain socket's %d, rmem_max %d: want more", after, before, limit)
	}
}
