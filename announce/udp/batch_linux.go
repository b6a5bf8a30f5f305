//go:build linux

package udp

import (
	"context"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchSize is the most datagrams one recvmmsg reads, and so the most
// answers one sendmmsg sends. A read takes what is waiting and never waits
// for a batch to fill, so a quiet server answers each packet at once; a
// busy one spends one pair of system calls on many packets. 64 keeps a
// reader's buffers near 230 KiB.
const batchSize = 64

// mmsghdr is struct mmsghdr of recvmmsg(2) and sendmmsg(2): a msghdr and
// the byte count of that message. Go pads it like C does (to 64 bytes on
// 64-bit systems, 32 on 32-bit ones).
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// sockaddr holds a datagram's source address as the kernel wrote it: a
// sockaddr_in6 on an IPv6 (or dual-stack) socket, a sockaddr_in, which
// is shorter, on an IPv4 one.
type sockaddr = unix.RawSockaddrInet6

// batchConn reads and writes batches of datagrams on one socket with
// buffers and system-call structures made once, so that a batch allocates
// nothing. It is used by one goroutine.
type batchConn struct {
	rc syscall.RawConn

	// Reading: datagram i lands in in[i*readBufferSize:], its source
	// address in names[i].
	recv  []mmsghdr
	iovIn []unix.Iovec
	names []sockaddr
	in    []byte
	// Writing: answer j is sent from the iovOut[j] it was given, to the
	// names entry of the datagram it answers.
	send   []mmsghdr
	iovOut []unix.Iovec
	out    []byte // answer slots of MaxReplySize bytes, one per datagram

	// What the last call of doRead or doWrite did; they are callbacks of
	// rc.Read and rc.Write, made into method values once.
	got            int   // datagrams read
	err            error // why reading failed
	queued, done   int   // answers queued, and sent or given up on
	readFn, sendFn func(fd uintptr) bool
	// sendErrs counts answers the kernel refused (logged by the reader).
	sendErrs int
	lastErr  error
}

func newBatchConn(conn *net.UDPConn) (*batchConn, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	b := &batchConn{
		rc:     rc,
		recv:   make([]mmsghdr, batchSize),
		iovIn:  make([]unix.Iovec, batchSize),
		names:  make([]sockaddr, batchSize),
		in:     make([]byte, batchSize*readBufferSize),
		send:   make([]mmsghdr, batchSize),
		iovOut: make([]unix.Iovec, batchSize),
		out:    make([]byte, batchSize*MaxReplySize),
	}
	for i := range batchSize {
		b.iovIn[i].Base = &b.in[i*readBufferSize]
		b.iovIn[i].SetLen(readBufferSize)
		h := &b.recv[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		h.Iov = &b.iovIn[i]
		h.SetIovlen(1)
		b.send[i].hdr.Iov = &b.iovOut[i]
		b.send[i].hdr.SetIovlen(1)
	}
	b.readFn = b.doRead
	b.sendFn = b.doWrite
	return b, nil
}

// read waits for datagrams and reads up to batchSize of them, returning
// how many.
func (b *batchConn) read() (int, error) {
	b.got, b.err = 0, nil
	if err := b.rc.Read(b.readFn); err != nil {
		return 0, err
	}
	return b.got, b.err
}

// doRead and doWrite call recvmmsg and sendmmsg on the non-blocking
// socket: EAGAIN (nothing to read, no room to write) makes rc wait in the
// poller. They use RawSyscall, which the scheduler does not see: the
// socket never blocks, so there is nothing to hand the P over for. Through
// Syscall, the runtime's monitor thread found the reader "in a system call"
// whenever a sendmmsg of a batch (which also delivers it over loopback)
// outlasted its 20 µs tick, took the P away, woke another thread and made
// the reader wait to get it back: on a tracker pinned to one CPU that
// churn, and the monitor polling every 20 µs, cost about a fifth of the
// CPU (figures in the commit that made the change).
//
// A reader that finds nothing waits in Go's poller: for the socket when
// datagrams are few, for its window's timer when they come faster than two
// per window (see servePaced). Waiting differently was measured and left out
// at everyday load (40,000 announces/s from
// 16 independent senders, and a packet at a time at 2,000/s; the tracker
// pinned to one CPU, so GOMAXPROCS 1; figures in the perf-udp notes):
//   - Blocking in recvmmsg (MSG_WAITFORONE) on a blocking duplicate of the
//     socket saves the EAGAIN read and the epoll_pwait of each wait, but a
//     goroutine blocked in a system call holds its P: the runtime's monitor
//     takes the P away after 20 µs and wakes another thread for it, and
//     getting it back costs more than the poller did: 3-4 times the
//     context switches per announce, futex and nanosleep calls up tenfold
//     and more, 17-36% more tracker CPU per announce when every packet
//     waits (72-79 against 58-62 µs at 2,000/s), no gain at 40,000/s
//     (its lower p99 there was within the noise). Through
//     RawSyscall the reader would keep the P while idle and starve every
//     other goroutine (the HTTP server, the flusher).
//   - Spinning (retrying recvmmsg for 5-20 µs before waiting) changed
//     nothing measurable at 40,000/s, and by its nature spends the spin as
//     CPU whenever the next packet is further away than that, which at
//     everyday rates is most of the time.
//   - io_uring (a multishot recvmsg into provided buffers, the answers as
//     sendmsg entries submitted with the next wait) saved a tenth of the
//     system calls and lost it again to thread wake-ups: waiting in Go's
//     poller, the kernel completes a receive on the thread that submitted
//     it, often an idle one it must wake (up to 0.7 context switches per
//     announce against 0.03-0.08); waiting in io_uring_enter on a locked
//     thread has the blocked-P cost above. Same or 15-25% more CPU per
//     announce at 40,000/s (branch uring, December 2026).
//
// The runtime's waiting (scheduling, epoll_pwait) was 3% of the tracker's
// CPU at 40,000/s; sendmmsg was 45% (mostly the loopback delivery and
// wake-up of the client), the store 21%, recvmmsg 20%.
func (b *batchConn) doRead(fd uintptr) bool {
	for i := range b.recv {
		// The kernel overwrites the name length of each message it
		// fills.
		b.recv[i].hdr.Namelen = uint32(unsafe.Sizeof(sockaddr{}))
	}
	for {
		n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.recv[0])), uintptr(len(b.recv)), 0, 0, 0)
		switch e {
		case 0:
			b.got = int(n)
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false // rc.Read waits until the socket is readable
		default:
			b.err = os.NewSyscallError("recvmmsg", e)
			return true
		}
	}
}

// packet returns datagram i of the last read.
func (b *batchConn) packet(i int) []byte {
	off := i * readBufferSize
	return b.in[off : off+int(b.recv[i].n) : off+readBufferSize]
}

// client returns the source address of datagram i of the last read (an
// IPv4-mapped IPv6 address for an IPv4 client of a dual-stack socket, as
// ReadFromUDPAddrPort gives), or the zero AddrPort when the kernel gave
// none we know.
func (b *batchConn) client(i int) netip.AddrPort {
	sa := &b.names[i]
	n := b.recv[i].hdr.Namelen
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	port := uint16(p[0])<<8 | uint16(p[1])
	switch {
	case sa.Family == unix.AF_INET6 && n >= unix.SizeofSockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), port)
	case sa.Family == unix.AF_INET && n >= unix.SizeofSockaddrInet4:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port)
	}
	return netip.AddrPort{}
}

// replyBuf returns the empty answer slot of datagram i: MaxReplySize bytes
// of capacity, which an answer never outgrows.
func (b *batchConn) replyBuf(i int) []byte {
	off := i * MaxReplySize
	return b.out[off:off:(off + MaxReplySize)]
}

// queue adds reply, the answer to datagram i of the last read, to the next
// write. It goes to the address datagram i came from, as the kernel gave
// it (with an IPv6 address's flow label and scope). reply must stay
// untouched until write returns.
func (b *batchConn) queue(i int, reply []byte) {
	j := b.queued
	b.iovOut[j].Base = &reply[0]
	b.iovOut[j].SetLen(len(reply))
	h := &b.send[j].hdr
	h.Name = b.recv[i].hdr.Name
	h.Namelen = b.recv[i].hdr.Namelen
	b.queued++
}

// write sends every queued answer and empties the queue. An answer the
// kernel refuses is skipped (counted in sendErrs, with lastErr): the client
// retransmits, as BEP 15 asks. It returns an error only when the socket
// cannot be written at all (it is closed).
func (b *batchConn) write() error {
	err := b.rc.Write(b.sendFn)
	b.queued, b.done = 0, 0
	return err
}

func (b *batchConn) doWrite(fd uintptr) bool {
	for b.done < b.queued {
		n, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.send[b.done])), uintptr(b.queued-b.done), 0, 0, 0)
		switch e {
		case 0:
			b.done += int(n)
		case unix.EINTR:
		case unix.EAGAIN:
			return false // rc.Write waits until the socket is writable
		default:
			// sendmmsg reports an error only for the first message it
			// tried: that one cannot be sent; go on with the next.
			b.sendErrs++
			b.lastErr = e
			b.done++
		}
	}
	return true
}

// answerAll works out the answers to the n datagrams of the last read and
// queues them for the next write, reading the clock's epoch once for all.
func (b *batchConn) answerAll(h *handler, n int, epoch uint64) {
	h.readRateClock()
	for i := range n {
		h.out = b.replyBuf(i)
		if reply := h.answer(b.packet(i), b.client(i), epoch); len(reply) > 0 {
			b.queue(i, reply)
		}
	}
}

// serveBatches is Serve's loop on Linux: a batch of datagrams per read,
// their answers in one write. A socket that offers no raw access is read a
// packet at a time instead.
func (s *Server) serveBatches(ctx context.Context, conn *net.UDPConn) error {
	b, err := newBatchConn(conn)
	if err != nil {
		return s.servePackets(ctx, conn)
	}
	h := s.newHandler()
	if s.window > 0 {
		w, err := b.waiter(s.window)
		if err == nil {
			conn.Close()
			return s.servePaced(ctx, conn, b, h, w)
		}
		s.log.Warn().Err(err).Stringer("addr", conn.LocalAddr()).Msg("udp: cannot pace this socket; reading whenever a datagram waits")
	}
	var delay time.Duration
	for {
		n, err := b.read()
		if err != nil {
			if again, err := s.readFailed(ctx, conn, err, &delay); !again {
				return err
			}
			continue
		}
		delay = 0
		b.answerAll(h, n, epochOf(s.now()))
		if b.queued == 0 {
			continue
		}
		if err := b.write(); err != nil && s.writeFailed(ctx, err) {
			return nil
		}
		if b.sendErrs > 0 {
			s.log.Debug().Err(os.NewSyscallError("sendmmsg", b.lastErr)).Int("answers", b.sendErrs).Msg("udp write failed")
			b.sendErrs, b.lastErr = 0, nil
		}
	}
}
