//go:build linux

package loadgen

import (
	"net/netip"
	"os"
	"runtime"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// canOneShot reports whether runOneShot can drive this system's sockets.
const canOneShot = true

// An HTTP announce on a connection of its own, through Go's net package,
// cost the load generator about eighteen system calls (socket, bind,
// connect, epoll_ctl, getsockopt, getsockname, getpeername, five
// setsockopt, write, reads, close) and two parks and wake-ups of its
// worker goroutine, and a deadline timer set and reset. At 10,000 such
// announces a second that kept the load generator's CPU 78% busy, so the
// p50 and p99 it reported were mostly its own workers waiting for that CPU,
// not the tracker. runOneShot drives every worker's connections from one
// goroutine with one epoll instance of its own: socket, bind, connect,
// write, epoll_ctl, read and close per announce, and one epoll_pwait2 for
// whatever is ready.

// oneShotSlot is one worker's state in runOneShot: its share of the
// workload and the connection of its announce in flight.
type oneShotSlot struct {
	w int // the worker, and the slot's index in the run
	p *peers
	s *stats
	// fd is the connection of the announce in flight, -1 between two.
	fd int
	// due is when the next announce may start, deadline when the one in
	// flight fails as a timeout; both since the run's start.
	due, deadline time.Duration
	t0            time.Time
	budget        int64 // announces left; -1: no limit
	dials         int
	req           []byte
	sent          int // bytes of req written
	buf           []byte
	got           int // bytes of the answer read into buf
	id            [20]byte
	res           scanResult
}

// sockAddr is a socket address as connect(2) and bind(2) take it.
type sockAddr struct {
	raw unix.RawSockaddrInet6 // big enough for either family
	len uint32
}

func newSockAddr(ap netip.AddrPort) sockAddr {
	var sa sockAddr
	port := (*[2]byte)(unsafe.Pointer(&sa.raw.Port))
	port[0], port[1] = byte(ap.Port()>>8), byte(ap.Port())
	if a := ap.Addr().Unmap(); a.Is4() {
		in4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(&sa.raw))
		in4.Family = unix.AF_INET
		in4.Addr = a.As4()
		sa.len = unix.SizeofSockaddrInet4
		return sa
	}
	sa.raw.Family = unix.AF_INET6
	sa.raw.Addr = ap.Addr().As16()
	sa.len = unix.SizeofSockaddrInet6
	return sa
}

// oneShotRun is runOneShot's state.
type oneShotRun struct {
	g      *run
	slots  []*oneShotSlot
	start  time.Time
	ep     int
	target sockAddr
	// sources[w] is worker w's source address, when it binds to one
	// (len 0 when it does not).
	sources  []sockAddr
	interval time.Duration // between a paced worker's announces; 0 unpaced
	events   [64]unix.EpollEvent
	epev     unix.EpollEvent
	wait     unix.Timespec
}

// runOneShot sends every worker's announces, each on a connection of its
// own, from this goroutine, until the run's time is up (the announces in
// flight are finished), its context is done (they are cut short) or every
// worker's share of Config.Requests is sent. Workers keep what work gives
// them: their own peers, stats, source address and schedule.
func (g *run) runOneShot(stats []*stats, sources []netip.Addr) error {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return os.NewSyscallError("epoll_create1", err)
	}
	defer unix.Close(ep)
	o := &oneShotRun{g: g, ep: ep, target: newSockAddr(g.target), start: time.Now()}
	n := g.cfg.Concurrency
	if g.cfg.Rate > 0 {
		o.interval = g.workerInterval()
	}
	o.sources = make([]sockAddr, n)
	for w := range n {
		if sources[w].IsValid() {
			o.sources[w] = newSockAddr(netip.AddrPortFrom(sources[w], 0))
		}
		sl := &oneShotSlot{
			w: w, p: newPeers(g.wl, w), s: stats[w], fd: -1, budget: -1,
			req: make([]byte, 0, 512), buf: make([]byte, httpBufferSize),
			// Staggered across one interval, as paced workers are.
			due: o.interval * time.Duration(w) / time.Duration(n),
		}
		if r := g.cfg.Requests; r > 0 {
			sl.budget = (r - int64(w) + int64(n) - 1) / int64(n)
		}
		o.slots = append(o.slots, sl)
	}
	defer o.closeAll()
	return o.loop()
}

func (o *oneShotRun) loop() error {
	g := o.g
	yielded := o.start
	for {
		select {
		case <-g.ctx.Done():
			g.cancelled.Store(true)
			g.stopping.Store(true)
			return nil
		default:
		}
		now := time.Since(o.start)
		if now >= g.cfg.Duration {
			g.stopping.Store(true)
		}
		stopping := g.stopping.Load()
		// Start what is due, fail what is overdue, and find the next
		// moment something is due: the wait is at most a millisecond, so
		// that the end of the run and cancellation are seen soon.
		next, busy := now+time.Millisecond, false
		for _, sl := range o.slots {
			if sl.fd < 0 {
				if stopping || sl.budget == 0 {
					continue
				}
				if sl.due <= now {
					o.begin(sl, now)
				}
				if sl.fd < 0 {
					busy = true
					next = min(next, sl.due)
					continue
				}
			}
			if sl.deadline <= now {
				o.finish(sl, 0, nil, errTimeout, now)
				busy = busy || (!stopping && sl.budget != 0)
				next = min(next, sl.due)
				continue
			}
			busy = true
			next = min(next, sl.deadline)
		}
		if !busy {
			return nil
		}
		o.wait = unix.NsecToTimespec(int64(max(next-now, 0)))
		r, _, e := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT2, uintptr(o.ep), uintptr(unsafe.Pointer(&o.events[0])),
			uintptr(len(o.events)), uintptr(unsafe.Pointer(&o.wait)), 0, 0)
		switch e {
		case 0:
		case syscall.EINTR:
			r = 0
		default:
			return os.NewSyscallError("epoll_pwait2", e)
		}
		now = time.Since(o.start)
		for _, ev := range o.events[:r] {
			o.progress(o.slots[ev.Fd], ev.Events, now)
		}
		// The wait holds this goroutine's P (it is a raw system call, so
		// that a wait costs no hand-over of the P), so let anything else
		// the process runs have it now and then.
		if time.Since(yielded) >= time.Millisecond {
			runtime.Gosched()
			yielded = time.Now()
		}
	}
}

// begin opens w's next announce's connection and sends the request when
// the connection is already up (over loopback it usually is once connect
// returns); otherwise the request waits for the socket to be writable.
func (o *oneShotRun) begin(sl *oneShotSlot, now time.Duration) {
	g := o.g
	if sl.budget > 0 {
		sl.budget--
	}
	a := sl.p.next()
	sl.req = appendRequest(sl.req[:0], g, &sl.id, a)
	sl.s.requests++
	sl.s.events[a.ev]++
	sl.t0, sl.deadline, sl.sent, sl.got = time.Now(), now+g.cfg.Timeout, 0, 0
	family := uintptr(unix.AF_INET6)
	if o.target.len == unix.SizeofSockaddrInet4 {
		family = unix.AF_INET
	}
	fd, _, e := syscall.RawSyscall(unix.SYS_SOCKET, family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if e != 0 {
		o.finish(sl, 0, nil, errDial, now)
		return
	}
	sl.fd = int(fd)
	if src := &o.sources[sl.w]; src.len != 0 {
		if _, _, e := syscall.RawSyscall(unix.SYS_BIND, fd, uintptr(unsafe.Pointer(&src.raw)), uintptr(src.len)); e != 0 {
			o.finish(sl, 0, nil, errDial, now)
			return
		}
	}
	_, _, e = syscall.RawSyscall(unix.SYS_CONNECT, fd, uintptr(unsafe.Pointer(&o.target.raw)), uintptr(o.target.len))
	if e != 0 && e != syscall.EINPROGRESS {
		o.finish(sl, 0, nil, errDial, now)
		return
	}
	if sl.dials > 0 {
		sl.s.reconnects++
	}
	sl.dials++
	events := uint32(unix.EPOLLIN | unix.EPOLLRDHUP)
	if done, kind := o.send(sl); kind != errNone {
		o.finish(sl, 0, nil, kind, now)
		return
	} else if !done {
		events = unix.EPOLLOUT
	}
	if !o.ctl(unix.EPOLL_CTL_ADD, sl, events) {
		o.finish(sl, 0, nil, errDial, now)
	}
}

// ctl adds or changes sl's socket in the epoll instance, for events.
func (o *oneShotRun) ctl(op int, sl *oneShotSlot, events uint32) bool {
	o.epev = unix.EpollEvent{Events: events, Fd: int32(sl.w)}
	_, _, e := syscall.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(o.ep), uintptr(op), uintptr(sl.fd),
		uintptr(unsafe.Pointer(&o.epev)), 0, 0)
	return e == 0
}

// send writes what is left of sl's request; done is false when the
// socket took it only in part or is still connecting.
func (o *oneShotRun) send(sl *oneShotSlot) (done bool, kind errKind) {
	for sl.sent < len(sl.req) {
		r, _, e := syscall.RawSyscall6(unix.SYS_SENDTO, uintptr(sl.fd), uintptr(unsafe.Pointer(&sl.req[sl.sent])),
			uintptr(len(sl.req)-sl.sent), unix.MSG_NOSIGNAL, 0, 0)
		switch e {
		case 0:
			sl.sent += int(r)
		case syscall.EINTR:
		case syscall.EAGAIN, syscall.ENOTCONN:
			return false, errNone
		case syscall.ECONNREFUSED, syscall.ENETUNREACH, syscall.EHOSTUNREACH, syscall.ETIMEDOUT:
			return false, errDial
		default:
			return false, errWrite
		}
	}
	return true, errNone
}

// progress moves sl's announce on after epoll reported events on its
// socket: the request is written once it can be, then the answer is read
// up to its end.
func (o *oneShotRun) progress(sl *oneShotSlot, events uint32, now time.Duration) {
	if sl.fd < 0 {
		return
	}
	if sl.sent < len(sl.req) {
		if events&unix.EPOLLERR != 0 {
			o.finish(sl, 0, nil, o.connectError(sl), now)
			return
		}
		done, kind := o.send(sl)
		switch {
		case kind != errNone:
			o.finish(sl, 0, nil, kind, now)
		case done && !o.ctl(unix.EPOLL_CTL_MOD, sl, unix.EPOLLIN|unix.EPOLLRDHUP):
			o.finish(sl, 0, nil, errRead, now)
		}
		return
	}
	for {
		if sl.got == len(sl.buf) {
			o.finish(sl, 0, nil, errTooLarge, now)
			return
		}
		r, _, e := syscall.RawSyscall(unix.SYS_READ, uintptr(sl.fd), uintptr(unsafe.Pointer(&sl.buf[sl.got])), uintptr(len(sl.buf)-sl.got))
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
			return
		case e != 0:
			o.finish(sl, 0, nil, errRead, now)
			return
		}
		sl.got += int(r)
		status, body, _, kind, complete := parseAnswer(sl.buf[:sl.got], r == 0)
		if complete {
			o.finish(sl, status, body, kind, now)
			return
		}
		if r == 0 {
			o.finish(sl, 0, nil, errRead, now)
			return
		}
	}
}

// connectError classifies a connection that failed before the request
// could be written.
func (o *oneShotRun) connectError(sl *oneShotSlot) errKind {
	if v, err := unix.GetsockoptInt(sl.fd, unix.SOL_SOCKET, unix.SO_ERROR); err == nil && v != 0 {
		return errDial
	}
	return errWrite
}

// finish closes sl's connection, records its announce's outcome and
// schedules its next one.
func (o *oneShotRun) finish(sl *oneShotSlot, status int, body []byte, kind errKind, now time.Duration) {
	if sl.fd >= 0 {
		// Closing the socket takes it out of the epoll instance too: no
		// other descriptor refers to it.
		syscall.RawSyscall(unix.SYS_CLOSE, uintptr(sl.fd), 0, 0)
		sl.fd = -1
	}
	unreachable := o.g.recordHTTP(sl.s, &sl.res, sl.t0, status, body, kind)
	if o.interval > 0 {
		sl.due += o.interval
	} else {
		sl.due = now
	}
	if unreachable {
		sl.due = max(sl.due, now+backoff)
	}
}

// closeAll closes the connections still open when the run ends; their
// announces were cut short by a cancellation and are not counted.
func (o *oneShotRun) closeAll() {
	for _, sl := range o.slots {
		if sl.fd >= 0 {
			syscall.RawSyscall(unix.SYS_CLOSE, uintptr(sl.fd), 0, 0)
			sl.fd = -1
		}
	}
}
