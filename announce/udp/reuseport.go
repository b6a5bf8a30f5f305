package udp

import (
	"context"
	"fmt"
	"net"
)

// socketBuffer is the receive buffer ListenReusePort asks for: some
// thousands of queued requests.
const socketBuffer = 4 << 20

// ListenReusePort opens n UDP sockets bound to one address (network is
// "udp", "udp4" or "udp6"), so that n readers can share one port: give each
// socket its own Serve call. With n > 1 the sockets set SO_REUSEPORT and
// the kernel spreads clients over them by a hash of their address; where
// the system has no SO_REUSEPORT, n > 1 is an error. With port 0 the first
// socket picks the port and the others join it. Any process of the same
// user can join a SO_REUSEPORT port too, which is the usual trade.
//
// Each socket asks for a receive buffer of socketBuffer bytes, so that a
// burst of requests queues instead of being dropped while the reader is
// busy (a dropped request costs its client a 15-second retransmission
// timeout). The system caps it (net.core.rmem_max on Linux) without error.
func ListenReusePort(ctx context.Context, network, addr string, n int) ([]*net.UDPConn, error) {
	n = max(n, 1)
	var lc net.ListenConfig
	if n > 1 {
		if reusePortControl == nil {
			return nil, fmt.Errorf("listen %s %s: %d sockets need SO_REUSEPORT, which this system lacks", network, addr, n)
		}
		lc.Control = reusePortControl
	}
	conns := make([]*net.UDPConn, 0, n)
	for range n {
		pc, err := lc.ListenPacket(ctx, network, addr)
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return nil, err // a *net.OpError, which names the address
		}
		c := pc.(*net.UDPConn)
		c.SetReadBuffer(socketBuffer) // best effort: a smaller buffer still works
		if len(conns) == 0 {
			addr = c.LocalAddr().String()
		}
		conns = append(conns, c)
	}
	return conns, nil
}

// CanReusePort reports whether ListenReusePort can open more than one
// socket on this system.
func CanReusePort() bool { return reusePortControl != nil }
