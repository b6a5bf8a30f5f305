//go:build !unix || solaris || illumos

package udp

import "syscall"

// reusePortControl is nil where SO_REUSEPORT is not available.
var reusePortControl func(network, address string, rc syscall.RawConn) error
