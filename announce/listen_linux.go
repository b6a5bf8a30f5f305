//go:build linux

package announce

import "golang.org/x/sys/unix"

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
