//go:build !linux

package admin

import (
	"fmt"
	"net"
	"os"
	"syscall"
)

// peerOf has no SO_PEERCRED outside Linux; it falls back to the owner of
// the socket file, which the process that bound it owns. That is weaker (a
// socket file can be swapped between the check and the connect) but still
// refuses a socket planted by another user.
func peerOf(_ net.Conn, path string) (peer, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return peer{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return peer{}, fmt.Errorf("no owner for %s", path)
	}
	return peer{UID: int(st.Uid), PID: -1}, nil
}
