//go:build linux

package announce

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawTCPListener is a TCP listener with a duplicate of its socket that
// acceptRaw accepts from. The duplicate is an *os.File because the
// net package does not let a listener's RawConn wait for readiness; an
// os.File's does, through the same poller. Closing it closes both.
type rawTCPListener struct {
	*net.TCPListener
	f  *os.File
	rc syscall.RawConn
}

func (l *rawTCPListener) Close() error {
	l.f.Close()
	return l.TCPListener.Close()
}

// rawListener returns ln ready for acceptRaw, or nil when ln is not a TCP
// listener or cannot be (then Serve uses acceptConns).
func (s *HTTPServer) rawListener(ln net.Listener) *rawTCPListener {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return nil
	}
	// The duplicate shares the socket's O_NONBLOCK, so os.NewFile (inside
	// File) puts it in the poller. f.Fd must never be called: it would
	// make the socket blocking.
	f, err := tl.File()
	if err != nil {
		s.log.Debug().Err(err).Msg("http: no raw accept; serving through net.Listener")
		return nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		s.log.Debug().Err(err).Msg("http: no raw accept; serving through net.Listener")
		return nil
	}
	return &rawTCPListener{TCPListener: tl, f: f, rc: rc}
}

// acceptRaw is Serve's loop for a TCP listener on Linux. Serving the
// connection per announce that real clients open (they announce minutes
// apart, past any idle timeout) through net.Listener costs, besides the
// kernel's own TCP work, twelve system calls: accept4, getsockname,
// setsockopt five times (TCP_NODELAY and four keep-alive options), two
// epoll_ctl, read, write and close, a goroutine, and a park and a wakeup
// when the request has not arrived when read first. Here a connection
// costs four (accept4, read, sendto, close) and no goroutine when its
// request head has arrived whole, which TCP_DEFER_ACCEPT makes the usual
// case: it is read, answered and closed on this goroutine, which never
// waits for a client (the socket is non-blocking). A connection that is
// not done after one read (a partial head, nothing yet, keep-alive, an
// answer the socket did not take whole) is handed to a goroutine of its
// own (handOff) and served as acceptConns serves every connection,
// under the same timeouts. The kernel's own work is then most of the
// cost, and writeRaw trims it: the answer and the FIN leave in one
// segment.
//
// Pacing this loop as the UDP reader paces (package pace: while
// connections come faster than two per window, wait for the window and then
// take every connection waiting) was built and measured and left out: at
// 10,000 connections/s it cut context switches from 0.7-0.85 to 0.1-0.2 per
// announce but not the tracker's CPU per announce (34.5-36.2 µs with a 500
// µs window against 33.2-35.7 without, same minutes, beside opentracker's
// 48-62), and p99 rose from 2.3-2.6 ms to 3.0-3.6: the cost of a connection
// is the kernel's TCP work, not the wake-up.
//
// io_uring (an accept, the request's recv and the answer's send linked to
// the close, a round submitted by the io_uring_enter that waits) was built
// and measured against this loop and not kept: it saved system calls (3.4
// per announce against 5.0) but the ring must live on a locked OS thread
// that blocks in io_uring_enter, and the runtime takes that thread's P
// away and hands it back around each wait: 1.6-1.9 context switches per
// announce against 0.3, and 51-67 µs of tracker CPU per announce against
// 34-42 (December 2026, branch uring, tracker pinned to one CPU).
func (s *HTTPServer) acceptRaw(ctx context.Context, ln *rawTCPListener) error {
	a := newAcceptor(ln.rc)
	var delay time.Duration
	for {
		fd, addr, err := a.accept()
		if err != nil {
			if again, err := s.acceptFailed(ctx, ln, err, &delay); !again {
				return err
			}
			continue
		}
		delay = 0
		s.serveAccepted(fd, addr)
	}
}

// acceptor takes connections from a listening socket with accept4, from
// structures made once, so that accepting allocates nothing.
type acceptor struct {
	rc    syscall.RawConn
	fn    func(fd uintptr) bool // accept4, as a method value made once
	sa    unix.RawSockaddrAny
	salen uint32
	fd    int
	errno syscall.Errno

	// look is set while connections come one at a time: the next call
	// first looks whether one waits (see accept4); woken, when the last
	// call found nothing, so that the next follows a wait. pfd and zero
	// are ppoll's arguments, made once.
	look, woken bool
	pfd         unix.PollFd
	zero        unix.Timespec
}

func newAcceptor(rc syscall.RawConn) *acceptor {
	a := &acceptor{rc: rc}
	a.fn = a.accept4
	return a
}

// Acceptor is the HTTP server's way of taking connections (see accept4),
// exported for the floor server (testdata/bench/floor): its Go mode must
// wait and accept exactly as johnlocke does, not as a copy that could
// drift from it.
type Acceptor struct{ a *acceptor }

// NewAcceptor takes connections from the listening socket behind rc,
// which must be non-blocking and in Go's poller (an *os.File's RawConn).
func NewAcceptor(rc syscall.RawConn) Acceptor { return Acceptor{newAcceptor(rc)} }

// Accept waits for a connection and returns its non-blocking socket and
// the client's address.
func (x Acceptor) Accept() (int, netip.Addr, error) { return x.a.accept() }

// accept waits for a connection and returns its non-blocking socket and
// the client's address.
func (a *acceptor) accept() (int, netip.Addr, error) {
	a.fd, a.errno = -1, 0
	if err := a.rc.Read(a.fn); err != nil {
		return -1, netip.Addr{}, err
	}
	if a.errno != 0 {
		return -1, netip.Addr{}, os.NewSyscallError("accept4", a.errno)
	}
	return a.fd, a.addr(), nil
}

// accept4 is called by rc.Read with the listener's fd; returning false
// (nothing to accept) makes rc.Read wait in the poller. The listener is
// non-blocking, so RawSyscall: there is nothing to hand the P over for (see
// the UDP reader's doRead for what Syscall cost there).
//
// Between connections that come one at a time, the accept4 that finds
// nothing and sends this goroutine to wait costs more than the accept4
// that succeeds: the kernel makes the new socket, its file and its
// descriptor before it looks at the queue, and throws them away when the
// queue is empty: 2.9-3.1 µs on the project's VM against 1.2-1.4 µs for a
// ppoll that only looks (BenchmarkAcceptEmptyQueue). So after a connection
// that came alone (the poller woke us for it), the next call looks first,
// and waits at once when nothing is there; when connections queue up (the
// look found one, or the last accept4 came straight after another),
// accept4 goes first, and finds nothing only once per burst. At 10,000
// connections a second this took accept4 from 1.78 calls per connection to
// 1.13, for 0.74 ppoll.
func (a *acceptor) accept4(lfd uintptr) bool {
	if a.look {
		a.look = false
		a.pfd = unix.PollFd{Fd: int32(lfd), Events: unix.POLLIN}
		r, _, e := syscall.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&a.pfd)), 1,
			uintptr(unsafe.Pointer(&a.zero)), 0, 0, 0)
		if e == 0 && r == 0 {
			a.woken = true
			return false
		}
	}
	for {
		a.salen = uint32(unsafe.Sizeof(a.sa))
		r, _, e := syscall.RawSyscall6(unix.SYS_ACCEPT4, lfd, uintptr(unsafe.Pointer(&a.sa)),
			uintptr(unsafe.Pointer(&a.salen)), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		switch e {
		case 0:
			a.fd = int(r)
			a.look, a.woken = a.woken, false
			return true
		case syscall.EAGAIN:
			a.woken = true
			return false
		case syscall.EINTR, syscall.ECONNABORTED:
			// Interrupted, or a client gone before we took it: as Go's
			// own Accept, try again at once.
			continue
		}
		a.errno = e
		return true
	}
}

// addr returns the accepted client's address, an IPv4-mapped one as IPv4.
func (a *acceptor) addr() netip.Addr {
	switch a.sa.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&a.sa))
		return netip.AddrFrom4(sa.Addr)
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&a.sa))
		return netip.AddrFrom16(sa.Addr).Unmap()
	}
	return netip.Addr{}
}

// What serveInline leaves to do with a connection.
type inlineResult int

const (
	inlineClose   inlineResult = iota // answered or failed: close it
	inlineBroken                      // panicked: close it, do not reuse the conn
	inlineFresh                       // no whole head yet: serve it from its first request
	inlineCarryOn                     // answered and kept alive (or answer pending)
)

// serveAccepted serves a connection acceptRaw took: its first request
// inline when it has arrived whole, the rest on a goroutine of its own.
func (s *HTTPServer) serveAccepted(fd int, addr netip.Addr) {
	c := s.track(addr, nil, fd)
	if c == nil {
		closeRaw(fd)
		return
	}
	// untrack before the close: once closed, the fd's number may be
	// reused at once, and Shutdown must never shut down a socket by a
	// number that is no longer c's.
	switch c.serveInline() {
	case inlineClose:
		s.untrack(c)
		closeRaw(fd)
		c.fd = -1
		s.pool.Put(c)
	case inlineBroken:
		s.untrack(c)
		closeRaw(fd)
	case inlineFresh:
		s.handOff(c, true)
	case inlineCarryOn:
		s.handOff(c, false)
	}
}

// serveInline reads what has arrived on c's raw socket and, when that is
// a whole request head, answers it.
func (c *conn) serveInline() (res inlineResult) {
	defer func() {
		if p := recover(); p != nil {
			c.srv.log.Error().Str("panic", fmt.Sprint(p)).Bytes("stack", debug.Stack()).Msg("http connection panicked; closed it")
			res = inlineBroken
		}
	}()
	n, e := readRaw(c.fd, c.rbuf[:])
	switch {
	case e == syscall.EAGAIN:
		return inlineFresh
	case e != 0 || n == 0:
		return inlineClose // reset, or closed before sending anything
	}
	c.w = n
	end := headEnd(c.rbuf[:c.w], &c.scanned)
	if end == 0 {
		if c.w == len(c.rbuf) {
			c.tooLarge()
			return inlineClose
		}
		return inlineFresh
	}
	// A read that stopped short of the buffer's end took all that had
	// arrived; when it was this one request, an answer that closes the
	// connection can go with the FIN.
	c.drained = end == c.w && c.w < len(c.rbuf)
	keep := c.handle(c.rbuf[:end])
	c.drained = false
	c.r = end
	c.scanned = 0
	if c.r == c.w {
		c.r, c.w = 0, 0
	}
	if len(c.pending) > 0 {
		c.pendingKeep = keep
		return inlineCarryOn
	}
	if !keep {
		return inlineClose
	}
	return inlineCarryOn
}

// handOff gives c's raw socket to a goroutine of its own, which serves it
// through Go's poller, as an *os.File. Clients that keep their connection
// alive (aria2 does, and libcurl's users) come through here once per
// announce, though they announce minutes apart and never reuse it.
// net.FileConn cost twelve system calls more per such announce: a dup and
// the duplicate's close, three to learn the socket's type and addresses,
// and five setsockopt for TCP_NODELAY and keep-alive probes that an idle
// wait of IdleTimeout has no use for. An *os.File costs an fcntl and the
// poller's epoll_ctl, and reads, writes and deadlines work the same on it.
//
// Parking such connections on an epoll instance of the accept loop's own,
// beside the listener, with no goroutine (an epoll_ctl to park, the loop's
// epoll_wait to find the next request or the end) was built and measured
// and not kept: with loadtest --client-closes at 10,000/s it cost 57-65 µs
// per announce against 59-74 here, same minutes. The wake-ups, two per
// connection, stay either way, and they are the cost (branch park).
func (s *HTTPServer) handOff(c *conn, fresh bool) {
	f := os.NewFile(uintptr(c.fd), "http")
	// Shutdown reads c.nc and c.fd under s.mu, and closes through c.nc
	// from now on: the socket is f's.
	s.mu.Lock()
	c.fd, c.nc = -1, socketFile{f}
	s.mu.Unlock()
	go s.serveConn(c, fresh)
}

// socketFile is a connected socket as an *os.File, for serveConn. Nothing
// asks a handed-off connection for its addresses: its peer is known.
type socketFile struct{ *os.File }

func (socketFile) LocalAddr() net.Addr  { return nil }
func (socketFile) RemoteAddr() net.Addr { return nil }

// writeRaw writes b to c's non-blocking raw socket. What the socket does
// not take (it does take a few KiB at once on a new connection, so in
// practice never) is left in c.pending for the goroutine handOff starts.
//
// With closing, b is the last answer of a connection that serveAccepted
// closes next. MSG_MORE then keeps the answer in the socket until the
// close, which sends it and the FIN in one segment: the client
// acknowledges both at once, two segments fewer per connection for the
// kernel at each end to send and take (10 to 8 over loopback, counted
// with nstat), and the kernel's TCP work is most of what an announce on a
// new connection costs.
//
// Only an answer to a drained socket may wait so (see conn.drained): a
// close that finds unread bytes resets the connection and throws away
// what was not sent. A socket that held more than the request gets its
// answer written at once, and the client reads it before the reset
// (TestClosingAnswerBeforeUnreadBytes). Only bytes that arrive between the
// read and the close, from a client that asked for the close, cost it the
// answer.
func (c *conn) writeRaw(b []byte, closing bool) bool {
	flags := unix.MSG_NOSIGNAL
	if closing {
		flags |= unix.MSG_MORE
	}
	for len(b) > 0 {
		r, _, e := syscall.RawSyscall6(unix.SYS_SENDTO, uintptr(c.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(flags), 0, 0)
		switch e {
		case 0:
			b = b[r:]
		case syscall.EINTR:
		case syscall.EAGAIN:
			c.pending = b
			return true
		default:
			c.srv.log.Debug().Err(e).Msg("http write failed")
			return false
		}
	}
	return true
}

// readRaw reads from a non-blocking socket into b.
func readRaw(fd int, b []byte) (int, syscall.Errno) {
	for {
		r, _, e := syscall.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(r), 0
	}
}

// closeRaw closes a socket. A close sends the FIN (and, over loopback,
// delivers it) within the call, which can outlast the scheduler's 20 µs
// tick; RawSyscall keeps the P meanwhile, as for reads and writes.
func closeRaw(fd int) {
	syscall.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
}

// shutdownRaw ends both directions of a raw socket another goroutine is
// answering on, without closing it (its owner closes it): Shutdown's way
// to cut off a connection stuck in an answer past its deadline.
func shutdownRaw(fd int) {
	syscall.RawSyscall(unix.SYS_SHUTDOWN, uintptr(fd), unix.SHUT_RDWR, 0)
}
