package announce

import (
	"context"
	"fmt"
	"net"
	"syscall"
)

// deferAcceptSeconds is the TCP_DEFER_ACCEPT delay ListenHTTP asks for: the
// kernel hands a connection over once its first data has arrived, or after
// about this long (a SYN-ACK retransmission) without any, when ReadTimeout
// starts as for any connection. Clients send their request right after the
// handshake, so nearly every connection is accepted readable and answered
// without waiting (see acceptRaw); one that sends nothing holds only the
// kernel's small request socket meanwhile, not an accepted socket, a
// goroutine and buffers.
const deferAcceptSeconds = 1

// ListenHTTP opens n TCP listeners on one address (network "tcp", "tcp4"
// or "tcp6") for an HTTPServer, each to be given its own Serve call. Where
// the system has them it sets TCP_DEFER_ACCEPT (deferAcceptSeconds) and,
// with n > 1, SO_REUSEPORT, so that the kernel spreads new connections over
// the listeners and each accepting goroutine answers its share on its own
// CPU; where it lacks SO_REUSEPORT, n > 1 is an error. With port 0 the
// first listener picks the port and the others join it.
//
// A client that connects and sends nothing is not accepted before it
// sends or deferAcceptSeconds pass, so a shutdown meanwhile does not close
// its connection: its first write is reset instead.
func ListenHTTP(ctx context.Context, network, addr string, n int) ([]net.Listener, error) {
	n = max(n, 1)
	if n > 1 && !canReusePort {
		return nil, fmt.Errorf("listen %s %s: %d listeners need SO_REUSEPORT, which this system lacks", network, addr, n)
	}
	lc := net.ListenConfig{
		// Accepted connections are answered and closed within seconds;
		// TCP keep-alive probes would only cost four setsockopt calls
		// per connection on the connections acceptConns serves.
		KeepAlive: -1,
		Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) { serr = listenerOptions(fd, n > 1) })
			if err != nil {
				return err
			}
			return serr
		},
	}
	lns := make([]net.Listener, 0, n)
	for range n {
		ln, err := lc.Listen(ctx, network, addr)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, err // a *net.OpError, which names the address
		}
		if len(lns) == 0 {
			addr = ln.Addr().String()
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// CanReusePort reports whether ListenHTTP can open more than one listener
// on this system.
func CanReusePort() bool { return canReusePort }
