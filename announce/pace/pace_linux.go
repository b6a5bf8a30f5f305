//go:build linux

package pace

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

// A Waiter owns a non-blocking socket that is out of Go's poller and
// waits for it on behalf of one goroutine: for the socket itself while it
// is quiet, for a window's timer while it is busy.
//
// Why the socket must be out of the poller: registered (edge-triggered, as
// Go registers every descriptor), each datagram or connection that arrives
// wakes the thread waiting in epoll_pwait, even while no goroutine waits
// for the socket, and a paced reader would pay a wake-up per arrival after
// all. So the Waiter keeps the socket as a descriptor of its own and
// registers a duplicate of it with the poller only while it is not
// pacing. Registration follows the open descriptor, not the socket:
// closing the duplicate takes it out.
//
// The timer is a periodic timerfd in Go's poller, so the goroutine parks
// like any other and its P is free for every other goroutine meanwhile.
// Two things were measured and left out: sleeping in nanosleep while
// keeping the P (about the same CPU, because the kernel's timer slack
// stretches each sleep, and every other goroutine of a one-CPU tracker,
// the network poller included, waits behind the sleeper), and a nested
// epoll instance holding the timer and the socket (an item that stays
// ready never wakes the outer poller again).
//
// A Waiter is used by one goroutine, except Stop.
type Waiter struct {
	window time.Duration
	try    func(sock uintptr) bool

	// sock is the socket; timerFD the window's timerfd, timer the same in
	// Go's poller; idle a duplicate of sock in the poller, open while the
	// Waiter does not pace.
	sock    int
	timerFD int
	timer   *os.File
	timerRC syscall.RawConn
	idle    *os.File
	idleRC  syscall.RawConn
	// mu guards idle, idleRC and closed against Stop.
	mu     sync.Mutex
	closed bool

	paced bool
	// more is set by Count when the last round left work waiting (a full
	// batch): the next Wait does not wait for the window.
	more bool
	// empty counts paced rounds in a row that found nothing.
	empty int
	// count is what Count was given since the rate was last judged, at
	// since (time since start).
	count int
	since time.Duration
	start time.Time
	ticks uint64 // the timerfd's expiry count, read and ignored

	timerFn, idleFn func(fd uintptr) bool
}

const (
	// judgeEvery is how often a Waiter judges its rate.
	judgeEvery = time.Millisecond
	// EnterPerWindow and leavePerWindow are the rates, in arrivals per
	// window, at which a Waiter starts and stops pacing: apart, so that a
	// rate near one does not flip it every millisecond. At two per window
	// a paced round serves two arrivals for about the system calls one
	// costs unpaced.
	EnterPerWindow = 2
	leavePerWindow = 1
	// emptyLeave is how many empty paced rounds in a row end pacing before
	// the next judgement: the load has stopped.
	emptyLeave = 3
)

// New makes a Waiter for a duplicate of the non-blocking socket fd. try is
// what Wait calls with the socket: it reports whether it did what it
// waited for (read datagrams, accepted a connection, or failed); false
// means the socket had nothing, and Wait waits for it. The caller must then
// close its own descriptor of the socket (the net.Conn or net.Listener it
// came from), which takes that one out of Go's poller; the socket lives on
// in the Waiter until Release.
func New(fd uintptr, window time.Duration, try func(sock uintptr) bool) (*Waiter, error) {
	w := &Waiter{window: window, try: try, sock: -1, timerFD: -1, start: time.Now()}
	var err error
	if w.sock, err = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0); err != nil {
		return nil, fmt.Errorf("duplicating the socket: %w", os.NewSyscallError("fcntl", err))
	}
	if w.timerFD, err = unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC); err != nil {
		w.Release()
		return nil, os.NewSyscallError("timerfd_create", err)
	}
	// A non-blocking descriptor given to os.NewFile goes into Go's poller.
	w.timer = os.NewFile(uintptr(w.timerFD), "pace timer")
	if w.timerRC, err = w.timer.SyscallConn(); err != nil {
		w.Release()
		return nil, err
	}
	if err := w.openIdle(); err != nil {
		w.Release()
		return nil, err
	}
	w.timerFn, w.idleFn = w.afterWindow, w.whenReady
	return w, nil
}

// Socket is the socket the Waiter owns, for reading and writing between
// two waits. It is closed by Release.
func (w *Waiter) Socket() uintptr { return uintptr(w.sock) }

// Paced reports whether the Waiter is pacing.
func (w *Waiter) Paced() bool { return w.paced }

// openIdle puts a duplicate of the socket in Go's poller.
func (w *Waiter) openIdle() error {
	fd, err := unix.FcntlInt(uintptr(w.sock), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("duplicating the socket: %w", os.NewSyscallError("fcntl", err))
	}
	f := os.NewFile(uintptr(fd), "paced socket")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		f.Close()
		return net.ErrClosed
	}
	w.idle, w.idleRC = f, rc
	return nil
}

// closeIdle takes the socket out of Go's poller.
func (w *Waiter) closeIdle() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.idle != nil {
		w.idle.Close()
		w.idle, w.idleRC = nil, nil
	}
}

// Stop makes the current Wait, and every later one, return an error. Any
// goroutine may call it, more than once.
func (w *Waiter) Stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	if w.idle != nil {
		w.idle.Close()
	}
	if w.timer != nil {
		w.timer.Close()
	}
}

// Release stops the Waiter and closes the socket; the waiting goroutine
// calls it when it is done.
func (w *Waiter) Release() {
	w.Stop()
	if w.timer == nil && w.timerFD >= 0 {
		unix.Close(w.timerFD)
	}
	if w.sock >= 0 {
		unix.Close(w.sock)
		w.sock = -1
	}
}

// Wait returns once try has reported true: while pacing, after the
// window has passed (try is called once then, whatever it finds); while
// not, as soon as the socket has something. It returns an error after
// Stop (the poller's error for a closed file, or net.ErrClosed).
func (w *Waiter) Wait() error {
	if w.paced {
		return w.timerRC.Read(w.timerFn)
	}
	w.mu.Lock()
	rc := w.idleRC
	w.mu.Unlock()
	if rc == nil {
		return net.ErrClosed
	}
	return rc.Read(w.idleFn)
}

func (w *Waiter) whenReady(uintptr) bool { return w.try(uintptr(w.sock)) }

// afterWindow calls try once the window has passed: the timerfd has
// expired when reading it succeeds. Reading it is also what re-arms a
// periodic timerfd, so it must be read before every wait.
func (w *Waiter) afterWindow(uintptr) bool {
	if !w.more {
		_, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(w.timerFD), uintptr(unsafe.Pointer(&w.ticks)), 8)
		if e == unix.EAGAIN {
			return false
		}
	}
	w.try(uintptr(w.sock))
	return true
}

// Count tells the Waiter what the round after the last Wait served: n
// arrivals, and whether more is waiting already (so the next Wait does
// not wait for the window). Each judgeEvery it decides whether to pace.
func (w *Waiter) Count(n int, more bool) error {
	w.more = more
	if w.paced {
		if n > 0 {
			w.empty = 0
		} else if w.empty++; w.empty >= emptyLeave {
			return w.setPaced(false)
		}
	}
	w.count += n
	now := time.Since(w.start)
	elapsed := now - w.since
	if elapsed < judgeEvery {
		return nil
	}
	perWindow := float64(w.count) * float64(w.window) / float64(elapsed)
	w.count, w.since = 0, now
	switch {
	case !w.paced && perWindow >= EnterPerWindow:
		return w.setPaced(true)
	case w.paced && perWindow < leavePerWindow:
		return w.setPaced(false)
	}
	return nil
}

// SetPaced starts or stops pacing at once.
func (w *Waiter) SetPaced(on bool) error {
	if on == w.paced {
		return nil
	}
	return w.setPaced(on)
}

func (w *Waiter) setPaced(on bool) error {
	w.paced, w.empty = on, 0
	w.count, w.since = 0, time.Since(w.start)
	if on {
		w.closeIdle()
		t := unix.NsecToTimespec(int64(w.window))
		if err := unix.TimerfdSettime(w.timerFD, 0, &unix.ItimerSpec{Interval: t, Value: t}, nil); err != nil {
			return os.NewSyscallError("timerfd_settime", err)
		}
		return nil
	}
	if err := unix.TimerfdSettime(w.timerFD, 0, &unix.ItimerSpec{}, nil); err != nil {
		return os.NewSyscallError("timerfd_settime", err)
	}
	return w.openIdle()
}
