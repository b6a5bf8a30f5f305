package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeHTTP is a hand-written HTTP tracker for tests: it checks every
// request the generator sends and answers what its behaviour says.
type fakeHTTP struct {
	addr string
	b    httpBehaviour

	conns    atomic.Int64
	requests atomic.Int64
	bad      atomic.Int64 // requests that are not well-formed announces

	// closeAsked counts requests that asked for "Connection: close".
	closeAsked atomic.Int64
	mu         sync.Mutex
	identities map[netip.AddrPort]bool // source address and announced port
	hashes     map[string]int
	badReasons []string
}

type httpBehaviour struct {
	// body returns the answer to the n-th request (from 1); nil answers a
	// valid compact response with 3 peers.
	body func(n int64) string
	// status, when not 0, is the status code sent.
	status int
	// closeEach closes the connection after every answer without saying
	// so, as opentracker does.
	closeEach bool
	// connClose sends "Connection: close" and closes.
	connClose bool
	// silent reads requests and never answers.
	silent bool
	// fast skips checking requests (for measuring the generator).
	fast bool
}

func compactBody(peers int) string {
	return "d8:completei1e10:incompletei2e8:intervali1800e5:peers" +
		strconv.Itoa(6*peers) + ":" + strings.Repeat("\x7f\x00\x00\x01\x1a\xe1", peers) + "e"
}

func startFakeHTTP(t testing.TB, b httpBehaviour) *fakeHTTP {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeHTTP{addr: ln.Addr().String(), b: b, identities: map[netip.AddrPort]bool{}, hashes: map[string]int{}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.conns.Add(1)
			mu.Lock()
			open[c] = true
			mu.Unlock()
			wg.Go(func() {
				defer func() {
					mu.Lock()
					delete(open, c)
					mu.Unlock()
					c.Close()
				}()
				f.serve(c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return f
}

func (f *fakeHTTP) serve(c net.Conn) {
	if f.b.fast {
		f.serveFast(c)
		return
	}
	r := bufio.NewReader(c)
	src := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		for {
			h, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if h == "\r\n" {
				break
			}
			if strings.EqualFold(h, "Connection: close\r\n") {
				f.closeAsked.Add(1)
			}
		}
		n := f.requests.Add(1)
		if !f.b.fast {
			f.check(src, line)
		}
		if f.b.silent {
			continue
		}
		body := compactBody(3)
		if f.b.body != nil {
			body = f.b.body(n)
		}
		status := 200
		if f.b.status != 0 {
			status = f.b.status
		}
		extra := ""
		if f.b.connClose {
			extra = "Connection: close\r\n"
		}
		resp := fmt.Sprintf("HTTP/1.1 %d X\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n%s", status, len(body), extra, body)
		if _, err := c.Write([]byte(resp)); err != nil {
			return
		}
		if f.b.closeEach || f.b.connClose {
			return
		}
	}
}

// serveFast answers every request with the same valid answer, doing as
// little as it can, so that measuring against it measures the generator.
func (f *fakeHTTP) serveFast(c net.Conn) {
	body := compactBody(3)
	resp := []byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
	buf := make([]byte, 4096)
	n := 0
	for {
		m, err := c.Read(buf[n:])
		if err != nil {
			return
		}
		n += m
		for {
			i := bytes.Index(buf[:n], crlfcrlf)
			if i < 0 {
				break
			}
			if _, err := c.Write(resp); err != nil {
				return
			}
			n = copy(buf, buf[i+4:n])
		}
		if n == len(buf) {
			return
		}
	}
}

// check records a request's identity and notes what is wrong with it.
func (f *fakeHTTP) check(src netip.Addr, line string) {
	fail := func(format string, args ...any) {
		f.bad.Add(1)
		f.mu.Lock()
		f.badReasons = append(f.badReasons, fmt.Sprintf(format, args...))
		f.mu.Unlock()
	}
	parts := strings.Split(strings.TrimRight(line, "\r\n"), " ")
	if len(parts) != 3 || parts[0] != "GET" || parts[2] != "HTTP/1.1" {
		fail("request line %q", line)
		return
	}
	u, err := url.ParseRequestURI(parts[1])
	if err != nil || u.Path != "/announce" {
		fail("target %q: %v", parts[1], err)
		return
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		fail("query %q: %v", u.RawQuery, err)
		return
	}
	if len(q.Get("info_hash")) != 20 || len(q.Get("peer_id")) != 20 {
		fail("info_hash %q peer_id %q", q.Get("info_hash"), q.Get("peer_id"))
		return
	}
	port, err := strconv.ParseUint(q.Get("port"), 10, 16)
	if err != nil || port == 0 {
		fail("port %q", q.Get("port"))
		return
	}
	if q.Get("compact") != "1" || q.Get("numwant") != "50" {
		fail("compact %q numwant %q", q.Get("compact"), q.Get("numwant"))
	}
	if _, err := strconv.ParseUint(q.Get("left"), 10, 64); err != nil {
		fail("left %q", q.Get("left"))
	}
	switch q.Get("event") {
	case "", "started", "completed", "stopped":
	default:
		fail("event %q", q.Get("event"))
	}
	f.mu.Lock()
	f.identities[netip.AddrPortFrom(src, uint16(port))] = true
	f.hashes[q.Get("info_hash")]++
	f.mu.Unlock()
}

// fakeUDP is a hand-written BEP 15 tracker for tests.
type fakeUDP struct {
	addr string
	b    udpBehaviour

	connects  atomic.Int64
	announces atomic.Int64
	bad       atomic.Int64

	mu         sync.Mutex
	identities map[netip.AddrPort]bool
}

type udpBehaviour struct {
	// idUses, when positive, is how many announces a connection id is good
	// for; after that the tracker answers an error about it.
	idUses int64
	// reply, when set, writes the answer to the n-th announce (from 1)
	// into b after its 8-byte header and returns the answer's length;
	// otherwise the answer is a valid one with 3 peers.
	reply func(n int64, b []byte) int
	// drop, when set, says whether to leave the n-th announce unanswered.
	drop func(n int64) bool
	// twice answers every announce twice.
	twice bool
	// fast skips checking requests.
	fast bool
}

const fakeConnID = 0x1122334455667788

func startFakeUDP(t testing.TB, b udpBehaviour) *fakeUDP {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeUDP{addr: conn.LocalAddr().String(), b: b, identities: map[netip.AddrPort]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { f.serve(ctx, conn) })
	if b.fast {
		for range 3 {
			wg.Go(func() { f.serveFast(conn) })
		}
	}
	t.Cleanup(func() {
		cancel()
		conn.Close()
		wg.Wait()
	})
	return f
}

func (f *fakeUDP) serve(ctx context.Context, conn *net.UDPConn) {
	if f.b.fast {
		f.serveFast(conn)
		return
	}
	var buf, out [2048]byte
	uses := map[netip.AddrPort]int64{}
	var gen uint64
	for ctx.Err() == nil {
		n, from, err := conn.ReadFromUDPAddrPort(buf[:])
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		pkt := buf[:n]
		if n < 16 {
			f.bad.Add(1)
			continue
		}
		tx := binary.BigEndian.Uint32(pkt[12:])
		binary.BigEndian.PutUint32(out[4:], tx)
		switch action := binary.BigEndian.Uint32(pkt[8:]); {
		case action == 0 && binary.BigEndian.Uint64(pkt) == protocolID:
			f.connects.Add(1)
			gen++
			uses[from] = 0
			binary.BigEndian.PutUint32(out[0:], 0)
			binary.BigEndian.PutUint64(out[8:], fakeConnID+gen)
			conn.WriteToUDPAddrPort(out[:16], from)
		case action == 1 && n >= announceLen:
			k := f.announces.Add(1)
			if !f.b.fast {
				f.check(from, pkt)
			}
			if f.b.drop != nil && f.b.drop(k) {
				continue
			}
			uses[from]++
			if binary.BigEndian.Uint64(pkt) <= fakeConnID || f.b.idUses > 0 && uses[from] > f.b.idUses {
				binary.BigEndian.PutUint32(out[0:], 3)
				m := copy(out[8:], "Connection ID missmatch.")
				conn.WriteToUDPAddrPort(out[:8+m], from)
				continue
			}
			binary.BigEndian.PutUint32(out[0:], 1)
			var m int
			if f.b.reply != nil {
				m = f.b.reply(k, out[:])
			} else {
				binary.BigEndian.PutUint32(out[8:], 1800)
				binary.BigEndian.PutUint32(out[12:], 2)
				binary.BigEndian.PutUint32(out[16:], 1)
				for i := range 3 {
					copy(out[20+6*i:], "\x7f\x00\x00\x01\x1a\xe1")
				}
				m = 20 + 18
			}
			conn.WriteToUDPAddrPort(out[:m], from)
			if f.b.twice {
				conn.WriteToUDPAddrPort(out[:m], from)
			}
		default:
			f.bad.Add(1)
		}
	}
}

// serveFast answers connects and announces with the least work: any
// connection id is accepted and every answer has 3 peers.
func (f *fakeUDP) serveFast(conn *net.UDPConn) {
	var buf, out [2048]byte
	for i := range 3 {
		copy(out[20+6*i:], "\x7f\x00\x00\x01\x1a\xe1")
	}
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf[:])
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if n < 16 {
			continue
		}
		copy(out[0:8], buf[8:16]) // action and transaction id
		m := 20 + 18
		if binary.BigEndian.Uint32(buf[8:]) == 0 {
			m = 16
		}
		conn.WriteToUDPAddrPort(out[:m], from)
	}
}

func (f *fakeUDP) check(from netip.AddrPort, pkt []byte) {
	ev := binary.BigEndian.Uint32(pkt[80:])
	nw := int32(binary.BigEndian.Uint32(pkt[92:]))
	port := binary.BigEndian.Uint16(pkt[96:])
	if len(pkt) != announceLen || ev > 3 || nw != 50 || port == 0 || string(pkt[36:44]) != peerIDPrefix {
		f.bad.Add(1)
		return
	}
	f.mu.Lock()
	f.identities[netip.AddrPortFrom(from.Addr().Unmap(), port)] = true
	f.mu.Unlock()
}
