//go:build !linux

package udp

import (
	"context"
	"net"
)

// serveBatches reads a packet at a time: batched reads (recvmmsg) are
// Linux's.
func (s *Server) serveBatches(ctx context.Context, conn *net.UDPConn) error {
	return s.servePackets(ctx, conn)
}
