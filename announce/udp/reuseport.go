package udp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
)

// socketBuffer is the receive buffer ListenReusePort asks for: some
// thousands of queued requests.
const socketBuffer = 4 << 20

// ListenReusePort opens n UDP sockets bound to one address (network is
// "udp", "udp4" or "udp6"), so that n readers can share one port: give each
// socket its own Serve call. With n > 1 the sockets share the port through
// SO_REUSEPORT and the kernel spreads clients over them by a hash of their
// address; where the system has no usable SO_REUSEPORT (anywhere but
// Linux), n > 1 is an error. With port 0 the first socket picks the port
// and the others join it.
//
// The port is this process's alone when it starts: the first socket binds
// without SO_REUSEPORT, so the kernel refuses it (EADDRINUSE, an error
// naming the address) when any socket already holds the port — another
// johnlocke's group included, whatever its user — and only then opens the
// port to the group the other n-1 sockets join. Two trackers never share a
// port and split its clients between them. The limit: once the group is
// open, a process of the same user that sets SO_REUSEPORT itself (an older
// johnlocke, or another program) can still join it and take a share of the
// clients; the kernel offers no way to close a group to newcomers that
// does not also depend on the order it keeps sockets in.
//
// Each socket asks for a receive buffer of socketBuffer bytes, so that a
// burst of requests queues instead of being dropped while the reader is
// busy (a dropped request costs its client a 15-second retransmission
// timeout). The system caps it (net.core.rmem_max on Linux) without error.
func ListenReusePort(ctx context.Context, network, addr string, n int) ([]*net.UDPConn, error) {
	n = max(n, 1)
	if n > 1 && reusePortControl == nil {
		return nil, fmt.Errorf("listen %s %s: %d sockets need SO_REUSEPORT, which this system lacks", network, addr, n)
	}
	conns := make([]*net.UDPConn, 0, n)
	fail := func(err error) ([]*net.UDPConn, error) {
		for _, c := range conns {
			c.Close()
		}
		return nil, err
	}
	var first, group net.ListenConfig
	group.Control = reusePortControl
	for i := range n {
		lc := group
		if i == 0 {
			lc = first
		}
		pc, err := lc.ListenPacket(ctx, network, addr)
		if err != nil {
			if i == 0 && errors.Is(err, syscall.EADDRINUSE) {
				return fail(fmt.Errorf("%w: another process (another tracker?) holds the UDP port", err))
			}
			return fail(err) // a *net.OpError, which names the address
		}
		c := pc.(*net.UDPConn)
		conns = append(conns, c)
		c.SetReadBuffer(socketBuffer) // best effort: a smaller buffer still works
		if i == 0 && n > 1 {
			addr = c.LocalAddr().String()
			rc, err := c.SyscallConn()
			if err == nil {
				err = openGroup(rc)
			}
			if err != nil {
				return fail(fmt.Errorf("listen %s %s: SO_REUSEPORT: %w", network, addr, err))
			}
		}
	}
	return conns, nil
}

// CanReusePort reports whether ListenReusePort can open more than one
// socket on this system.
func CanReusePort() bool { return reusePortControl != nil }
