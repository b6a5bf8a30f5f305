//go:build !linux

package announce

import "net"

const canReusePort = false

// listenerOptions sets nothing: TCP_DEFER_ACCEPT is Linux's, and ListenHTTP
// asks for SO_REUSEPORT only on Linux, where its load spreading is known.
func listenerOptions(uintptr, bool) error { return nil }

// openGroup is never called here: ListenHTTP refuses n > 1 without
// SO_REUSEPORT.
func openGroup(net.Listener) error { return nil }
