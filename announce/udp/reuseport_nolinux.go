//go:build !linux

package udp

import "syscall"

// Only Linux's SO_REUSEPORT is used: it spreads clients over the group's
// sockets by address and lets a socket that bound alone open its port to
// the group afterwards. Elsewhere (the BSDs and macOS share a reused port
// differently) ListenReusePort opens one socket, bound without it, which
// no other process can share.
var (
	reusePortControl func(network, address string, rc syscall.RawConn) error
	openGroup        func(rc syscall.RawConn) error
)
