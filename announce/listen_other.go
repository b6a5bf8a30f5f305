//go:build !linux

package announce

const canReusePort = false

// listenerOptions sets nothing: TCP_DEFER_ACCEPT is Linux's, and ListenHTTP
// asks for SO_REUSEPORT only on Linux, where its load spreading is known.
func listenerOptions(uintptr, bool) error { return nil }
