package loadgen

import (
	"net"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsghdr is struct mmsghdr of sendmmsg(2) and recvmmsg(2): a msghdr and
// the byte count of that message (padded as C pads it).
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// udpIO moves a worker's window of datagrams with one sendmmsg, and reads
// every answer already waiting with one recvmmsg. A worker that wrote and
// read each datagram on its own spent most of its CPU entering and leaving
// the kernel, and one CPU of load generator could then not keep a fast
// tracker busy. The socket is connected, so no message carries an address.
type udpIO struct {
	rc   syscall.RawConn
	send [udpWindow]mmsghdr
	siov [udpWindow]unix.Iovec
	recv [udpWindow]mmsghdr
	riov [udpWindow]unix.Iovec
	in   [udpWindow][udpBufferSize]byte

	writeFn, readFn func(fd uintptr) bool

	// What the last callback did: messages sent, messages read, and the
	// error that ended it.
	queued, sent, got int
	err               error
}

func newUDPIO(conn *net.UDPConn) (*udpIO, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	u := &udpIO{rc: rc}
	// Method values made once: made at each call, they would be allocated
	// per window.
	u.writeFn, u.readFn = u.doWrite, u.doRead
	for i := range u.recv {
		u.riov[i].Base = &u.in[i][0]
		u.riov[i].SetLen(udpBufferSize)
		u.recv[i].hdr.Iov = &u.riov[i]
		u.recv[i].hdr.SetIovlen(1)
	}
	for i := range u.send {
		u.send[i].hdr.Iov = &u.siov[i]
		u.send[i].hdr.SetIovlen(1)
	}
	return u, nil
}

// writeAll sends every datagram of pkts (at most udpWindow), in order.
func (u *udpIO) writeAll(pkts [][]byte) error {
	for i, p := range pkts {
		u.siov[i].Base = &p[0]
		u.siov[i].SetLen(len(p))
	}
	u.queued, u.sent, u.err = len(pkts), 0, nil
	if err := u.rc.Write(u.writeFn); err != nil {
		return err
	}
	return u.err
}

// doWrite and doRead use RawSyscall: the socket never blocks (EAGAIN makes
// the RawConn wait in the poller instead), and the scheduler, which sees a
// Syscall, would take the worker's P away from any call that outlasts its
// monitor's 20 µs tick (see announce/udp's batchConn).
func (u *udpIO) doWrite(fd uintptr) bool {
	for u.sent < u.queued {
		n, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&u.send[u.sent])), uintptr(u.queued-u.sent), 0, 0, 0)
		switch e {
		case 0:
			u.sent += int(n)
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			u.err = os.NewSyscallError("sendmmsg", e)
			return true
		}
	}
	return true
}

// readSome waits (until the read deadline) for at least one datagram and
// reads up to max of those waiting; datagram i is u.datagram(i).
func (u *udpIO) readSome(max int) (int, error) {
	u.queued, u.got, u.err = min(max, udpWindow), 0, nil
	if err := u.rc.Read(u.readFn); err != nil {
		return 0, err
	}
	return u.got, u.err
}

func (u *udpIO) doRead(fd uintptr) bool {
	for {
		n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&u.recv[0])), uintptr(u.queued), 0, 0, 0)
		switch e {
		case 0:
			u.got = int(n)
			return true
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			u.err = os.NewSyscallError("recvmmsg", e)
			return true
		}
	}
}

// datagram returns datagram i of the last readSome. One that filled the
// buffer was cut short: classify calls it too large.
func (u *udpIO) datagram(i int) []byte { return u.in[i][:u.recv[i].n] }
