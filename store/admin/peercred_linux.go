package admin

import (
	"fmt"
	"net"
	"syscall"
)

// peerOf reads who is at the other end of a connected Unix socket:
// SO_PEERCRED gives the credentials of the process that called listen,
// which a planted socket file cannot fake.
func peerOf(c net.Conn, _ string) (peer, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return peer{}, fmt.Errorf("not a Unix socket connection (%T)", c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return peer{}, err
	}
	var (
		cred *syscall.Ucred
		gerr error
	)
	if err := raw.Control(func(fd uintptr) {
		cred, gerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return peer{}, err
	}
	if gerr != nil {
		return peer{}, fmt.Errorf("SO_PEERCRED: %w", gerr)
	}
	return peer{UID: int(cred.Uid), PID: int(cred.Pid)}, nil
}
