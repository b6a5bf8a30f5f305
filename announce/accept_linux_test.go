//go:build linux

package announce

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// startListenHTTP serves tr on ListenHTTP's n listeners (TCP_DEFER_ACCEPT,
// SO_REUSEPORT), as serve does, and stops it when the test ends.
func startListenHTTP(t testing.TB, tr Tracker, cfg HTTPConfig, n int) (*HTTPServer, string) {
	t.Helper()
	lns, err := ListenHTTP(context.Background(), "tcp", "127.0.0.1:0", n)
	if err != nil {
		t.Fatal(err)
	}
	if len(lns) != n {
		t.Fatalf("ListenHTTP opened %d listeners, want %d", len(lns), n)
	}
	s := NewHTTPServer(tr, cfg, zerolog.Nop())
	errc := make(chan error, n)
	for _, ln := range lns {
		go func() { errc <- s.Serve(context.Background(), ln) }()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		for range n {
			if err := <-errc; err != nil {
				t.Errorf("Serve: %v", err)
			}
		}
	})
	return s, lns[0].Addr().String()
}

// TestHTTPConnectionPerAnnounce speaks to the listeners serve opens in
// every way a connection can go: answered inline on the accepting
// goroutine, or handed to a goroutine of its own part-way.
func TestHTTPConnectionPerAnnounce(t *testing.T) {
	closeReq := strings.Replace(get(announceTarget("")), "\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1)
	for _, listeners := range []int{1, 2} {
		tr := newFakeTracker()
		s, addr := startListenHTTP(t, tr, testConfig(), listeners)

		// One connection per announce, answered and closed.
		for i := range 20 {
			c := dial(t, addr)
			c.send(closeReq)
			if r := c.read(); r.status != 200 || !r.close || !strings.Contains(string(r.body), "interval") {
				t.Fatalf("%d listeners, announce %d: %d close=%v %q", listeners, i, r.status, r.close, r.body)
			}
			c.expectClosed()
		}
		// Keep-alive: the first answer inline, the rest from the
		// connection's own goroutine, pipelined ones included.
		c := dial(t, addr)
		c.send(get(announceTarget("")))
		if r := c.read(); r.status != 200 || r.close {
			t.Fatalf("first keep-alive request: %d close=%v", r.status, r.close)
		}
		c.send(get(announceTarget("")) + get("/scrape?info_hash="+escapeAll(ih[:])))
		for _, want := range []string{"interval", "files"} {
			if r := c.read(); r.status != 200 || !strings.Contains(string(r.body), want) {
				t.Fatalf("pipelined request: %d %q, want %q", r.status, r.body, want)
			}
		}
		// A head in two parts: the connection is handed over with what
		// has arrived.
		c = dial(t, addr)
		req := closeReq
		c.send(req[:20])
		c.send(req[20:])
		if r := c.read(); r.status != 200 {
			t.Fatalf("head in two parts: %d", r.status)
		}
		// A bad head is refused inline as on any connection.
		c = dial(t, addr)
		c.send("GET /announce HTTP/9.9\r\n\r\n")
		if r := c.read(); r.status != 400 {
			t.Errorf("bad request line: %d", r.status)
		}
		c.expectClosed()
		// Connections answered inline are released: the cap still admits
		// new ones, and none is left.
		s.mu.Lock()
		left := len(s.conns)
		s.mu.Unlock()
		if left > 2 { // the keep-alive and two-part connections may still be open
			t.Errorf("%d connections still tracked", left)
		}
		var calls int
		tr.set(func(f *fakeTracker) { calls = f.calls })
		if calls != 23 {
			t.Errorf("%d announces reached the tracker, want 23", calls)
		}
	}
}

// TestHTTPMaxConns: at the cap, while every connection held is busy with
// a request, a new connection is refused, and the busy one is answered.
func TestHTTPMaxConns(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConns = 1
	s, addr := startListenHTTP(t, newFakeTracker(), cfg, 1)
	req := get(announceTarget(""))
	first := dial(t, addr)
	first.send(req[:20]) // a head begun: busy, not idle
	waitConns(t, s, 1, busy)
	second := dialFrom(t, "127.0.0.2", addr) // 127.0.0.1 holds its share, the one slot
	second.send(req)
	second.expectClosed()
	first.send(req[20:])
	if r := first.read(); r.status != 200 {
		t.Errorf("first connection: %d", r.status)
	}
	if f := s.Figures(); f.RefusedGlobal != 1 || f.Reclaimed != 0 {
		t.Errorf("refused %d and reclaimed %d connections, want 1 and 0", f.RefusedGlobal, f.Reclaimed)
	}
}

// TestHTTPConnectionPerAnnounceCap checks that a connection answered
// inline counts against MaxConns while it is served and is released after.
func TestHTTPConnectionPerAnnounceCap(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConns = 1
	s, addr := startListenHTTP(t, newFakeTracker(), cfg, 1)
	first := dial(t, addr)
	first.send(get(announceTarget(""))[:20]) // a head begun holds the one slot
	waitConns(t, s, 1, busy)
	second := dial(t, addr)
	second.send(get(announceTarget("")))
	second.expectClosed()
	first.nc.Close()
	// Once the first is gone, a new connection is served again. Its
	// slot is freed by the server's goroutine after first's close, so
	// try until it is.
	for i := 0; ; i++ {
		c := dial(t, addr)
		c.send(get(announceTarget("")))
		b := make([]byte, 12)
		c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _ := c.br.Read(b)
		if n > 0 && strings.HasPrefix(string(b[:n]), "HTTP/1.1 200") {
			break
		}
		if i == 1000 {
			t.Fatal("the slot of a closed connection was never freed")
		}
	}
}

// rawDial connects to addr with a blocking socket made through system
// calls alone, so that a test can count the server's allocations.
func rawDial(t testing.TB, sa *unix.SockaddrInet4) int {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Connect(fd, sa); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	return fd
}

func sockaddr(t testing.TB, addr string) *unix.SockaddrInet4 {
	ap := netip.MustParseAddrPort(addr)
	return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
}

// oneShot sends req on a new connection and reads the answer to its end.
func oneShot(t testing.TB, sa *unix.SockaddrInet4, req, buf []byte) int {
	fd := rawDial(t, sa)
	defer unix.Close(fd)
	return exchange(t, fd, req, buf)
}

// exchange sends req on fd and reads the answer into buf up to the
// server's FIN.
func exchange(t testing.TB, fd int, req, buf []byte) int {
	if _, err := unix.Write(fd, req); err != nil {
		t.Fatal(err)
	}
	got := 0
	for {
		n, err := unix.Read(fd, buf[got:])
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return got
		}
		got += n
	}
}

// closingAnnounces serves fifty peers to every announce on ListenHTTP's
// listener, and returns its address and an announce that asks for the
// connection to be closed after its answer.
func closingAnnounces(t testing.TB, cfg HTTPConfig) (*unix.SockaddrInet4, []byte) {
	tr := newFakeTracker()
	tr.peers4 = fiftyPeers().Peers4
	_, addr := startListenHTTP(t, tr, cfg, 1)
	req := strings.Replace(get(announceTarget("")), "\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1)
	return sockaddr(t, addr), []byte(req)
}

// TestHTTPConnectionPerAnnounceAllocs checks that answering an announce
// on a connection of its own allocates nothing in the server: no
// net.Conn, no goroutine.
func TestHTTPConnectionPerAnnounceAllocs(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts over TCP, with the pool intact")
	}
	sa, req := closingAnnounces(t, testConfig())
	buf := make([]byte, 8192)
	oneShot(t, sa, req, buf) // warm up: the pooled conn is built
	if got := testing.AllocsPerRun(300, func() {
		if n := oneShot(t, sa, req, buf); n < 20 || string(buf[:12]) != "HTTP/1.1 200" {
			t.Fatalf("answer %q", buf[:n])
		}
	}); got != 0 {
		t.Errorf("an announce on a new connection allocates %v times, want 0", got)
	}
}

// BenchmarkHTTPAnnounceNewConnection is an announce on a connection of
// its own, as clients on the internet send them: connect, request,
// answer, close (the client's side counted too).
func BenchmarkHTTPAnnounceNewConnection(b *testing.B) {
	sa, req := closingAnnounces(b, HTTPConfig{})
	buf := make([]byte, 8192)
	b.ReportAllocs()
	for b.Loop() {
		oneShot(b, sa, req, buf)
	}
}

// TestClosingAnswerTakesTheFIN checks that an answer that ends its
// connection leaves in one segment with the FIN. The client then takes
// three segments in all: the SYN-ACK, the server kernel's ACK of the
// request (a new connection acknowledges its first data at once), and the
// answer with the FIN. Answer and FIN apart make four.
func TestClosingAnswerTakesTheFIN(t *testing.T) {
	sa, req := closingAnnounces(t, testConfig())
	buf := make([]byte, 8192)
	for i := range 20 {
		fd := rawDial(t, sa)
		got := exchange(t, fd, req, buf)
		info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(buf[:got]), "HTTP/1.1 200") {
			t.Fatalf("connection %d: answer %q", i, buf[:got])
		}
		if info.Segs_in > 3 {
			t.Errorf("connection %d: the client took %d segments (%d with data), want 3: SYN-ACK, ACK, then the answer with the FIN", i, info.Segs_in, info.Data_segs_in)
		}
	}
}

// TestClosingAnswerBeforeUnreadBytes checks that a request whose
// connection closes while more bytes wait unread still gets its answer:
// the close resets such a connection, and an answer left for the close to
// send would be thrown away with it.
func TestClosingAnswerBeforeUnreadBytes(t *testing.T) {
	tr := newFakeTracker()
	_, addr := startListenHTTP(t, tr, testConfig(), 1)
	sa := sockaddr(t, addr)
	req := strings.Replace(get(announceTarget("")), "\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1)
	// More than the read buffer takes, so that bytes are left unread.
	req += strings.Repeat("x", 2*ReadBufferSize)
	fd := rawDial(t, sa)
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte(req)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8192)
	n, err := unix.Read(fd, buf)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	if !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 200") {
		t.Fatalf("answer %q", buf[:n])
	}
}

// rawListenerFD opens a listener as serve does, ready for acceptRaw, and
// returns it with its descriptor, for driving an acceptor by hand.
func rawListenerFD(t testing.TB) (*rawTCPListener, uintptr) {
	t.Helper()
	lns, err := ListenHTTP(context.Background(), "tcp", "127.0.0.1:0", 1)
	if err != nil {
		t.Fatal(err)
	}
	s := NewHTTPServer(newFakeTracker(), HTTPConfig{}, zerolog.Nop())
	ln := s.rawListener(lns[0])
	if ln == nil {
		lns[0].Close()
		t.Fatal("no raw listener")
	}
	t.Cleanup(func() { ln.Close() })
	var lfd uintptr
	if err := ln.rc.Control(func(fd uintptr) { lfd = fd }); err != nil {
		t.Fatal(err)
	}
	return ln, lfd
}

// TestAcceptorLooksBetweenLoneConnections drives the accept loop's step
// (what the poller calls) by hand: after a connection that came alone it
// looks with ppoll before accepting, and waits when nothing is there;
// when connections have queued up it accepts them one after another
// without looking, and finds the queue empty once at the end.
func TestAcceptorLooksBetweenLoneConnections(t *testing.T) {
	ln, lfd := rawListenerFD(t)
	sa := sockaddr(t, ln.Addr().String())
	a := &acceptor{rc: ln.rc}
	// arrive opens a connection and sends a request, which puts it in the
	// accept queue (the listener defers accepting until data comes);
	// queued waits until the queue holds n, which over loopback is at
	// once unless the kernel defers the packets' processing under load.
	var clients []int
	defer func() {
		for _, fd := range clients {
			unix.Close(fd)
		}
	}()
	arrive := func() {
		fd := rawDial(t, sa)
		clients = append(clients, fd)
		if _, err := unix.Write(fd, []byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	queued := func(n uint32) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; {
			info, err := unix.GetsockoptTCPInfo(int(lfd), unix.IPPROTO_TCP, unix.TCP_INFO)
			if err != nil {
				t.Fatal(err)
			}
			// For a listening socket, the accept queue's length.
			if info.Unacked >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("accept queue holds %d after 5 s, want %d", info.Unacked, n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	step := func(want bool, what string) {
		t.Helper()
		if got := a.accept4(lfd); got != want {
			t.Fatalf("%s: accept4 step returned %v, want %v", what, got, want)
		}
		if want {
			if a.errno != 0 {
				t.Fatalf("%s: %v", what, a.errno)
			}
			unix.Close(a.fd)
		}
	}

	step(false, "empty queue")
	if a.look || !a.woken {
		t.Fatalf("after an empty queue: look %v woken %v, want false true", a.look, a.woken)
	}
	arrive()
	queued(1)
	step(true, "a lone connection after a wait")
	if !a.look {
		t.Fatal("after a lone connection the next step does not look first")
	}
	step(false, "looking at an empty queue")
	if a.look || !a.woken {
		t.Fatalf("after looking at an empty queue: look %v woken %v, want false true", a.look, a.woken)
	}

	// Three arrive while the loop waits: the first is taken as a lone one,
	// the look then finds the others, which are taken without looking.
	for range 3 {
		arrive()
	}
	queued(3)
	step(true, "the first of three")
	if !a.look {
		t.Fatal("the first connection after a wait does not make the next step look")
	}
	step(true, "the second of three, after looking")
	if a.look {
		t.Fatal("a connection that was queued makes the next step look")
	}
	step(true, "the third of three")
	step(false, "the end of the burst")
	if a.look || !a.woken {
		t.Fatalf("after the burst: look %v woken %v, want false true", a.look, a.woken)
	}
}

// BenchmarkAcceptEmptyQueue is what the accept loop pays to learn that no
// connection waits: an accept4 that fails with EAGAIN, against a ppoll
// that only looks (see acceptor.accept4).
func BenchmarkAcceptEmptyQueue(b *testing.B) {
	ln, lfd := rawListenerFD(b)
	b.Run("accept4", func(b *testing.B) {
		a := &acceptor{rc: ln.rc}
		b.ReportAllocs()
		for b.Loop() {
			if a.accept4(lfd) {
				b.Fatal("accepted from an empty queue")
			}
		}
	})
	b.Run("ppoll", func(b *testing.B) {
		a := &acceptor{rc: ln.rc}
		b.ReportAllocs()
		for b.Loop() {
			a.look = true
			if a.accept4(lfd) {
				b.Fatal("accepted from an empty queue")
			}
		}
	})
}
