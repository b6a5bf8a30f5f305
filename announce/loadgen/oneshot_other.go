//go:build !linux

package loadgen

import (
	"errors"
	"net/netip"
)

// canOneShot reports whether runOneShot can drive this system's sockets:
// elsewhere than Linux, connection-per-announce HTTP workers use Go's net
// package.
const canOneShot = false

func (g *run) runOneShot([]*stats, []netip.Addr) error {
	return errors.New("loadgen: connection-per-announce loop needs Linux")
}
