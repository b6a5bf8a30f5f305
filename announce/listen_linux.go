//go:build linux

package announce

import (
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

const canReusePort = true

// listenerOptions sets TCP_DEFER_ACCEPT, and SO_REUSEPORT when reuse is
// set, on a socket before it is bound.
func listenerOptions(fd uintptr, reuse bool) error {
	if reuse {
		if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return err
		}
	}
	return unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, deferAcceptSeconds)
}

// openGroup sets SO_REUSEPORT on a listener already bound, so that this
// server's other listeners may join its port while a process that binds
// first without the option is refused.
func openGroup(ln net.Listener) error {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return fmt.Errorf("%T has no file descriptor", ln)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); err != nil {
		return err
	}
	return serr
}
