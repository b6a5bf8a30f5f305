package udp

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// setReusePort sets or clears SO_REUSEPORT on a socket: set before bind,
// it lets the socket join a port whose sockets all have it; set after
// bind, it lets later sockets join this one. The standard syscall package
// lacks the constant on Linux, hence x/sys.
func setReusePort(rc syscall.RawConn, on bool) error {
	v := 0
	if on {
		v = 1
	}
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, v)
	})
	if err != nil {
		return err
	}
	return serr
}

// reusePortControl sets SO_REUSEPORT on a socket before it is bound.
var reusePortControl = func(_, _ string, rc syscall.RawConn) error { return setReusePort(rc, true) }

// openGroup makes a bound socket joinable by the group's other sockets.
var openGroup = func(rc syscall.RawConn) error { return setReusePort(rc, true) }
