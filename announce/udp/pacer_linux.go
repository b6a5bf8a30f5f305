//go:build linux

package udp

import (
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A pacer lets a busy reader's datagrams gather for a window before it
// reads them, so that one recvmmsg and one sendmmsg serve many announces
// instead of one or two.
//
// Why: at an everyday rate (40,000 announces/s from independent clients)
// datagrams arrive about 25 µs apart, a reader that reads whenever one is
// waiting finds one or two, and each announce pays a wake-up, a recvmmsg, a
// sendmmsg, the recvmmsg that finds nothing and two epoll_pwait calls of
// Go's poller. At a full batch (the peak) the same announce costs a third
// of that. Waiting 200 µs between reads gathers about 8 datagrams at
// 40,000/s and cut the tracker's CPU per announce by a fifth or more on the
// machine measured (README, "Speed and memory"; the figures are beside
// DefaultWindow), at the price of up to one window of latency, which is
// why a reader only paces while datagrams come faster than two per window.
//
// How: the reader waits for a periodic timerfd in Go's poller instead of
// for the socket, so the goroutine parks like any other and the P is free
// for the HTTP server, the flusher and the collector. The socket itself
// must then be out of Go's poller: registered (edge-triggered), every
// datagram would wake the thread waiting in epoll_pwait for nothing. So the
// pacer keeps the socket as a descriptor of its own, and registers a
// duplicate of it with the poller only while it is not pacing (waiting for
// the socket is what a quiet reader must do). Registration follows the
// open descriptor, not the socket: closing the duplicate removes it.
//
// Two things were measured and left out: sleeping in nanosleep while
// holding the P (no poller round trip; about the same CPU, because the
// kernel's timer slack stretches each sleep, and every other goroutine of a
// one-CPU tracker waits behind the sleeping reader, the network poller
// included), and a nested epoll instance (the timer and the socket in one
// descriptor: an item that stays ready never wakes the outer poller again).
type pacer struct {
	b      *batchConn
	window time.Duration

	// sock is the socket, never in Go's poller; every read and write goes
	// through it. timerFD is the window's timerfd; timer is it in Go's
	// poller. idle is a duplicate of sock in the poller, open while the
	// reader is not pacing.
	sock    int
	timerFD int
	timer   *os.File
	timerRC syscall.RawConn
	idle    *os.File
	idleRC  syscall.RawConn
	// mu guards idle and closed against stop, which another goroutine calls.
	mu     sync.Mutex
	closed bool

	paced bool
	// full is set when the last read filled a batch: more is waiting, so
	// the next read does not wait for the window.
	full bool
	// empty counts paced reads in a row that found nothing.
	empty int
	// count datagrams read since the rate was last judged, at since.
	count int
	since time.Duration
	start time.Time
	ticks uint64 // the timerfd's expiry count, read and ignored

	timerFn, idleFn func(fd uintptr) bool
}

const (
	// pacerJudgeEvery is how often a reader judges its rate.
	pacerJudgeEvery = time.Millisecond
	// pacerEnterPerWindow and pacerLeavePerWindow are the rates, in
	// datagrams per window, at which a reader starts and stops pacing:
	// two apart, so that a rate near one does not flip it every
	// millisecond. At two per window a paced read serves two announces
	// for about the system calls one costs unpaced.
	pacerEnterPerWindow = 2
	pacerLeavePerWindow = 1
	// pacerEmptyLeave is how many empty windows in a row end pacing at
	// once, before the next judgement: the load has stopped.
	pacerEmptyLeave = 3
)

// newPacer takes over conn's socket: on success conn is closed (its
// descriptor leaves Go's poller) and the pacer owns a duplicate. On error
// conn is untouched.
func newPacer(conn *net.UDPConn, b *batchConn, window time.Duration) (*pacer, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	p := &pacer{b: b, window: window, sock: -1, timerFD: -1, start: time.Now()}
	var dupErr error
	if err := rc.Control(func(fd uintptr) { p.sock, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, fmt.Errorf("duplicating the socket: %w", os.NewSyscallError("fcntl", dupErr))
	}
	if p.timerFD, err = unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC); err != nil {
		p.release()
		return nil, os.NewSyscallError("timerfd_create", err)
	}
	// A non-blocking descriptor given to os.NewFile goes into Go's poller.
	p.timer = os.NewFile(uintptr(p.timerFD), "udp window timer")
	if p.timerRC, err = p.timer.SyscallConn(); err != nil {
		p.release()
		return nil, err
	}
	if err := p.openIdle(); err != nil {
		p.release()
		return nil, err
	}
	conn.Close()
	p.timerFn, p.idleFn = p.doTimer, p.doIdle
	return p, nil
}

// openIdle puts a duplicate of the socket in Go's poller.
func (p *pacer) openIdle() error {
	fd, err := unix.FcntlInt(uintptr(p.sock), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("duplicating the socket: %w", os.NewSyscallError("fcntl", err))
	}
	f := os.NewFile(uintptr(fd), "udp socket")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		f.Close()
		return net.ErrClosed
	}
	p.idle, p.idleRC = f, rc
	return nil
}

// closeIdle takes the socket out of Go's poller.
func (p *pacer) closeIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idle != nil {
		p.idle.Close()
		p.idle, p.idleRC = nil, nil
	}
}

// stop makes the reader's wait, and every later one, fail with an error
// wrapping os.ErrClosed. It may be called from any goroutine, more than
// once.
func (p *pacer) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.idle != nil {
		p.idle.Close()
	}
	if p.timer != nil {
		p.timer.Close()
	}
}

// release stops the pacer and closes the socket; the reader calls it when
// it is done.
func (p *pacer) release() {
	p.stop()
	if p.timer == nil && p.timerFD >= 0 {
		unix.Close(p.timerFD)
	}
	if p.sock >= 0 {
		unix.Close(p.sock)
	}
}

// read waits (for the window while pacing, for the socket otherwise) and
// reads up to batchSize datagrams, returning how many.
func (p *pacer) read() (int, error) {
	b := p.b
	p.full = b.got == batchSize
	b.got, b.err = 0, nil
	var err error
	if p.paced {
		err = p.timerRC.Read(p.timerFn)
	} else {
		p.mu.Lock()
		rc := p.idleRC
		p.mu.Unlock()
		if rc == nil {
			return 0, net.ErrClosed
		}
		err = rc.Read(p.idleFn)
	}
	if err != nil {
		return 0, err
	}
	if err := p.judge(b.got); err != nil {
		return 0, err
	}
	return b.got, b.err
}

func (p *pacer) doIdle(uintptr) bool { return p.b.doRead(uintptr(p.sock)) }

// doTimer reads the socket once the window has passed: the timerfd has
// expired when reading it succeeds. Reading it is also what re-arms a
// periodic timerfd, so it must be read before every wait.
func (p *pacer) doTimer(uintptr) bool {
	if !p.full {
		_, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(p.timerFD), uintptr(unsafe.Pointer(&p.ticks)), 8)
		if e == unix.EAGAIN {
			return false
		}
	}
	p.b.doRead(uintptr(p.sock))
	return true
}

// judge counts the n datagrams just read and decides, each
// pacerJudgeEvery, whether the reader paces.
func (p *pacer) judge(n int) error {
	if p.paced {
		if n > 0 {
			p.empty = 0
		} else if p.empty++; p.empty >= pacerEmptyLeave {
			return p.setPaced(false)
		}
	}
	p.count += n
	now := time.Since(p.start)
	elapsed := now - p.since
	if elapsed < pacerJudgeEvery {
		return nil
	}
	perWindow := float64(p.count) * float64(p.window) / float64(elapsed)
	p.count, p.since = 0, now
	switch {
	case !p.paced && perWindow >= pacerEnterPerWindow:
		return p.setPaced(true)
	case p.paced && perWindow < pacerLeavePerWindow:
		return p.setPaced(false)
	}
	return nil
}

func (p *pacer) setPaced(on bool) error {
	p.paced, p.empty = on, 0
	p.count, p.since = 0, time.Since(p.start)
	if on {
		p.closeIdle()
		w := unix.NsecToTimespec(int64(p.window))
		if err := unix.TimerfdSettime(p.timerFD, 0, &unix.ItimerSpec{Interval: w, Value: w}, nil); err != nil {
			return os.NewSyscallError("timerfd_settime", err)
		}
		return nil
	}
	if err := unix.TimerfdSettime(p.timerFD, 0, &unix.ItimerSpec{}, nil); err != nil {
		return os.NewSyscallError("timerfd_settime", err)
	}
	return p.openIdle()
}

// write sends every queued answer on the socket. An answer the kernel
// refuses, or has no room for (the socket is out of Go's poller, so there
// is nothing to wait on), is skipped and counted in sendErrs: the client
// retransmits, as BEP 15 asks.
func (p *pacer) write() {
	b := p.b
	if !b.doWrite(uintptr(p.sock)) {
		b.sendErrs += b.queued - b.done
		b.lastErr = unix.EAGAIN
	}
	b.queued, b.done = 0, 0
}
