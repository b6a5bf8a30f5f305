//go:build !linux

package announce

import (
	"context"
	"net"
)

// rawTCPListener is only made on Linux.
type rawTCPListener struct{ net.Listener }

// rawListener returns nil: acceptRaw is Linux's.
func (s *HTTPServer) rawListener(net.Listener) *rawTCPListener { return nil }

func (s *HTTPServer) acceptRaw(ctx context.Context, ln *rawTCPListener) error {
	return s.acceptConns(ctx, ln)
}

// writeRaw is never called: every connection has its net.Conn.
func (c *conn) writeRaw([]byte, bool) bool { return false }

// shutdownRaw is never called here: connections are not served raw.
func shutdownRaw(int) {}
