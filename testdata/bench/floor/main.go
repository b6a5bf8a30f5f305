// Command floor answers every HTTP and UDP announce with the same fixed
// answer and does nothing else: no parsing, no swarm, no limits. compare.sh
// runs it beside the trackers, under the same load, so that a tracker's CPU
// time per announce can be read against the least a server can spend.
//
// With -mode kernel it does what a C server would: one thread per protocol
// blocks in accept4 or recvmmsg, then reads, answers and closes with one
// system call each. Its cost is the kernel's work and nothing else. With
// -mode go it waits as a Go server does, in the runtime's network poller,
// as johnlocke's accept loop and UDP reader do: the difference between the
// two modes is what Go's poller adds, and what a tracker spends beyond
// -mode go is its own work.
//
// It is a measuring tool for loopback, not a server: it answers whatever
// arrives, trusts every client and never stops by itself (compare.sh bounds
// it with timeout(1)).
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"runtime/debug"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"johnlocke/announce"
)

// numPeers is how many peers every answer carries: what clients ask for by
// default, and what a tracker answers at most.
const numPeers = 50

// batch is how many datagrams one recvmmsg takes at most.
const batch = 32

func main() {
	mode := flag.String("mode", "kernel", "kernel: block in system calls on threads of their own; go: wait in Go's network poller")
	httpAddr := flag.String("http", "", "IPv4 address:port to answer HTTP announces on")
	udpAddr := flag.String("udp", "", "IPv4 address:port to answer UDP announces on")
	flag.Parse()
	if err := run(*mode, *httpAddr, *udpAddr); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run(mode, httpAddr, udpAddr string) error {
	if mode != "kernel" && mode != "go" {
		return fmt.Errorf("-mode: want kernel or go, got %q", mode)
	}
	if httpAddr == "" && udpAddr == "" {
		return errors.New("nothing to serve: give -http, -udp or both")
	}
	httpAnswer, udpAnswer := answers()
	var loops []func() error
	if httpAddr != "" {
		fd, err := openSocket(httpAddr, unix.SOCK_STREAM, mode == "go")
		if err != nil {
			return fmt.Errorf("http %s: %w", httpAddr, err)
		}
		if mode == "kernel" {
			loops = append(loops, func() error { return serveHTTPBlocking(fd, httpAnswer) })
		} else {
			loops = append(loops, func() error { return serveHTTPPoller(fd, httpAnswer) })
		}
	}
	if udpAddr != "" {
		fd, err := openSocket(udpAddr, unix.SOCK_DGRAM, mode == "go")
		if err != nil {
			return fmt.Errorf("udp %s: %w", udpAddr, err)
		}
		if mode == "kernel" {
			loops = append(loops, func() error { return serveUDPBlocking(fd, udpAnswer) })
		} else {
			loops = append(loops, func() error { return serveUDPPoller(fd, udpAnswer) })
		}
	}
	if mode == "kernel" {
		// Each blocking loop holds a P for good (RawSyscall never gives it
		// up), so there must be one more for everything else. The loops
		// allocate nothing: no collection ever needs them to stop.
		runtime.GOMAXPROCS(len(loops) + 1)
	}
	debug.SetGCPercent(-1)
	errc := make(chan error, len(loops))
	for _, loop := range loops {
		go func() {
			errc <- loop()
		}()
	}
	return <-errc
}

// answers builds the HTTP answer (head and compact body) and the UDP
// announce answer after its action and transaction id, each with numPeers
// peers.
func answers() (httpAnswer, udpAnswer []byte) {
	peers := make([]byte, 6*numPeers)
	for i := range numPeers {
		copy(peers[6*i:], []byte{10, 0, byte(i >> 8), byte(i), 0x1a, 0xe1})
	}
	body := fmt.Sprintf("d8:completei%de10:incompletei%de8:intervali1800e12:min intervali900e5:peers%d:%se",
		numPeers/2, numPeers/2, len(peers), peers)
	httpAnswer = fmt.Appendf(nil, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	udpAnswer = binary.BigEndian.AppendUint32(nil, 1800)     // interval
	udpAnswer = binary.BigEndian.AppendUint32(udpAnswer, 25) // leechers
	udpAnswer = binary.BigEndian.AppendUint32(udpAnswer, 25) // seeders
	return httpAnswer, append(udpAnswer, peers...)
}

// openSocket opens, binds and (for TCP) listens on an IPv4 address, with
// TCP_DEFER_ACCEPT as johnlocke's listeners have.
func openSocket(addr string, typ int, nonblocking bool) (int, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Unmap().Is4() {
		return -1, fmt.Errorf("want an IPv4 address:port, got %q", addr)
	}
	flags := unix.SOCK_CLOEXEC
	if nonblocking {
		flags |= unix.SOCK_NONBLOCK
	}
	fd, err := unix.Socket(unix.AF_INET, typ|flags, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	fail := func(call string, err error) (int, error) {
		unix.Close(fd)
		return -1, os.NewSyscallError(call, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("setsockopt", err)
	}
	if typ == unix.SOCK_STREAM {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, 1); err != nil {
			return fail("setsockopt", err)
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().Unmap().As4()}); err != nil {
		return fail("bind", err)
	}
	if typ == unix.SOCK_STREAM {
		if err := unix.Listen(fd, 4096); err != nil {
			return fail("listen", err)
		}
	}
	return fd, nil
}

// conn serves one accepted connection: it reads what has arrived without
// waiting (with TCP_DEFER_ACCEPT the request has), sends the answer to be
// held for the FIN, and closes, as johnlocke answers a connection that
// asked to be closed.
func serveConn(fd int, buf, answer []byte) {
	syscall.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), unix.MSG_DONTWAIT, 0, 0)
	syscall.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&answer[0])), uintptr(len(answer)), unix.MSG_MORE|unix.MSG_NOSIGNAL, 0, 0)
	syscall.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
}

func serveHTTPBlocking(lfd int, answer []byte) error {
	buf := make([]byte, 4096)
	for {
		r, _, e := syscall.RawSyscall6(unix.SYS_ACCEPT4, uintptr(lfd), 0, 0, unix.SOCK_CLOEXEC, 0, 0)
		switch e {
		case 0:
			serveConn(int(r), buf, answer)
		case syscall.EINTR, syscall.ECONNABORTED:
		default:
			return os.NewSyscallError("accept4", e)
		}
	}
}

// serveHTTPPoller accepts through Go's poller with johnlocke's own
// acceptor (announce.Acceptor), which looks with ppoll between connections
// that come one at a time.
func serveHTTPPoller(lfd int, answer []byte) error {
	f := os.NewFile(uintptr(lfd), "listener")
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	acc := announce.NewAcceptor(rc)
	buf := make([]byte, 4096)
	for {
		fd, _, err := acc.Accept()
		if err != nil {
			return err
		}
		serveConn(fd, buf, answer)
	}
}

// datagrams holds one batch's messages and buffers, made once.
type datagrams struct {
	in, out    [batch]mmsghdr
	inIov      [batch]unix.Iovec
	outIov     [batch]unix.Iovec
	from       [batch]unix.RawSockaddrInet4
	inBuf      [batch][2048]byte
	outBuf     [batch][1024]byte
	answerBody []byte
}

// mmsghdr is struct mmsghdr of recvmmsg(2) and sendmmsg(2).
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

func newDatagrams(answer []byte) *datagrams {
	d := &datagrams{answerBody: answer}
	for i := range batch {
		d.inIov[i].Base = &d.inBuf[i][0]
		d.inIov[i].SetLen(len(d.inBuf[i]))
		d.in[i].hdr.Iov = &d.inIov[i]
		d.in[i].hdr.SetIovlen(1)
		d.in[i].hdr.Name = (*byte)(unsafe.Pointer(&d.from[i]))
		d.outIov[i].Base = &d.outBuf[i][0]
		d.out[i].hdr.Iov = &d.outIov[i]
		d.out[i].hdr.SetIovlen(1)
		// Name is set per answer: the k-th answer goes to the sender of
		// whichever datagram it answers.
		d.out[i].hdr.Namelen = unix.SizeofSockaddrInet4
	}
	return d
}

// recv takes up to a batch of datagrams from fd; flags are recvmmsg's.
func (d *datagrams) recv(fd int, flags int) (int, syscall.Errno) {
	for i := range batch {
		d.in[i].hdr.Namelen = unix.SizeofSockaddrInet4
	}
	r, _, e := syscall.RawSyscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&d.in[0])), batch, uintptr(flags), 0, 0)
	return int(r), e
}

// answer answers the n datagrams received: a connect with a connection
// id, an announce with the fixed answer; anything else is dropped.
func (d *datagrams) answer(fd, n int) {
	k := 0
	for i := range n {
		req, out := d.inBuf[i][:d.in[i].n], d.outBuf[k][:]
		var size int
		switch {
		case len(req) >= 16 && binary.BigEndian.Uint32(req[8:]) == 0:
			binary.BigEndian.PutUint32(out, 0)
			copy(out[4:8], req[12:16])
			copy(out[8:16], "floor-id")
			size = 16
		case len(req) >= 98 && binary.BigEndian.Uint32(req[8:]) == 1:
			binary.BigEndian.PutUint32(out, 1)
			copy(out[4:8], req[12:16])
			size = 8 + copy(out[8:], d.answerBody)
		default:
			continue
		}
		d.outIov[k].SetLen(size)
		d.out[k].hdr.Name = (*byte)(unsafe.Pointer(&d.from[i]))
		k++
	}
	if k > 0 {
		syscall.RawSyscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&d.out[0])), uintptr(k), unix.MSG_DONTWAIT, 0, 0)
	}
}

func serveUDPBlocking(fd int, answer []byte) error {
	d := newDatagrams(answer)
	for {
		n, e := d.recv(fd, unix.MSG_WAITFORONE)
		switch e {
		case 0:
			d.answer(fd, n)
		case syscall.EINTR:
		default:
			return os.NewSyscallError("recvmmsg", e)
		}
	}
}

// serveUDPPoller reads every datagram waiting, and waits in Go's poller
// when there is none, as johnlocke's UDP reader does when it does not
// pace.
func serveUDPPoller(fd int, answer []byte) error {
	f := os.NewFile(uintptr(fd), "udp")
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	d := newDatagrams(answer)
	var n int
	var errno syscall.Errno
	read := func(fd uintptr) bool {
		n, errno = d.recv(int(fd), unix.MSG_DONTWAIT)
		return errno != syscall.EAGAIN
	}
	for {
		if err := rc.Read(read); err != nil {
			return err
		}
		switch errno {
		case 0:
			d.answer(fd, n)
		case syscall.EINTR:
		default:
			return os.NewSyscallError("recvmmsg", errno)
		}
	}
}
