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
	// The first listener binds without SO_REUSEPORT, so a port another
	// process holds (another johnlocke included) is refused rather than
	// shared: the kernel would spread clients over both trackers. Only once
	// it is bound does it open the port to the rest of this server's group.
	listenConfig := func(reuse bool) net.ListenConfig {
		return net.ListenConfig{
			// Accepted connections are answered and closed within seconds;
			// TCP keep-alive probes would only cost four setsockopt calls
			// per connection on the connections acceptConns serves.
			KeepAlive: -1,
			Control: func(_, _ string, rc syscall.RawConn) error {
				var serr error
				err := rc.Control(func(fd uintptr) { serr = listenerOptions(fd, reuse) })
				if err != nil {
					return err
				}
				return serr
			},
		}
	}
	first := listenConfig(false)
	ln, err := first.Listen(ctx, network, addr)
	if err != nil {
		return nil, err // a *net.OpError, which names the address
	}
	lns := []net.Listener{ln}
	closeAll := func() {
		for _, l := range lns {
			l.Close()
		}
	}
	if n == 1 {
		return lns, nil
	}
	if err := openGroup(ln); err != nil {
		closeAll()
		return nil, fmt.Errorf("listen %s %s: %w", network, addr, err)
	}
	addr = ln.Addr().String()
	rest := listenConfig(true)
	for range n - 1 {
		ln, err := rest.Listen(ctx, network, addr)
		if err != nil {
			closeAll()
			return nil, err
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// CanReusePort reports whether ListenHTTP can open more than one listener
// on this system.
func CanReusePort() bool { return canReusePort }
