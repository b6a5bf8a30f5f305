//go:build !linux

package udp

import (
	"context"
	"net"
)

// serveBatches reports served false: batched reads (recvmmsg) are Linux's,
// and elsewhere Serve reads a packet at a time.
func (s *Server) serveBatches(context.Context, *net.UDPConn) (served bool, _ error) {
	return false, nil
}
