package announce

import (
	"bytes"
	"net/netip"

	"johnlocke/store"
)

// clientAddr returns the address a request speaks for: the socket's, or
// for a trusted proxy the one its header reports. f is the failure to
// answer with when there is none to use.
func (c *conn) clientAddr(h *httpHead) (addr netip.Addr, f store.Failure) {
	addr = c.peer.addr
	if c.peer.trusted {
		if !h.hasFwd {
			// A proxy that sends no header is misconfigured (or the header
			// named is not the one it sets): every client it carries then
			// shares its address, which the operator must hear about.
			if !c.srv.warnedNoFwd.Swap(true) {
				c.srv.log.Warn().Str("header", c.srv.cfg.TrustedProxyHeader).Stringer("proxy", c.peer.addr).
					Msg("a trusted proxy sent a request without the client address header; using the proxy's own address (logged once)")
			}
		} else if addr, f = c.srv.forwardedAddr(h.fwd); f != "" {
			return netip.Addr{}, f
		}
	}
	if !addr.IsValid() {
		return netip.Addr{}, ErrNoClientAddr
	}
	return addr, ""
}

// forwardedAddr returns the client address in the value of a trusted
// proxy's header: its rightmost entry that is not itself a trusted proxy,
// since each proxy appends the address it was reached from and everything
// left of the last one we trust was written by the client or by proxies
// we do not know. When every entry is a trusted proxy, the leftmost is
// the client. An entry that does not parse, on the way to that one, is a
// failure; so is an address no client can have (unspecified, multicast,
// broadcast), which a peer list must never hand out.
func (s *HTTPServer) forwardedAddr(v []byte) (netip.Addr, store.Failure) {
	for {
		entry := v
		i := bytes.LastIndexByte(v, ',')
		if i >= 0 {
			entry, v = v[i+1:], v[:i]
		}
		a, ok := parseHostAddr(trimSpace(entry))
		if !ok {
			return netip.Addr{}, ErrBadForwardedAddr
		}
		if i < 0 || !s.trustedProxy(a) {
			if !unicast(a) {
				return netip.Addr{}, ErrUnusableForwardedAddr
			}
			return a, ""
		}
	}
}

var broadcast4 = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// unicast reports whether a can be a client's address.
func unicast(a netip.Addr) bool {
	return !a.IsUnspecified() && !a.IsMulticast() && a != broadcast4
}
