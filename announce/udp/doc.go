// Package udp speaks the UDP tracker protocol (BEP 15) with its extension
// options (BEP 41): connect, announce, scrape and error packets, parsed from
// and written into buffers each socket reader reuses, so that a packet
// costs no allocation and no goroutine.
//
// It owns the wire format, the stateless connection ids (a keyed MAC over
// the client's address and a coarse time, see connid.go) and the rules for
// what a malformed or unauthenticated packet is answered with: never more
// bytes than it carried, so the tracker cannot be used to amplify a flood.
//
// It must not decide peer lists, keep swarm state or touch the disk: all of
// that is behind the Tracker interface, which *store.Store satisfies. It
// does not listen either: the caller opens the sockets (ListenReusePort
// helps) and hands them to Serve.
package udp
