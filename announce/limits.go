package announce

import (
	"net/netip"

	"johnlocke/announce/limit"
	"johnlocke/announce/tally"
)

// peer is who is at the other end of a connection's socket, worked out
// once at accept.
type peer struct {
	addr    netip.Addr   // the socket peer, IPv4-mapped addresses unmapped
	src     limit.Source // addr's source, for the per-source limits
	trusted bool         // addr is a trusted proxy
	counted bool         // the connection is counted in its source's share
}

// peerOf returns who the socket peer at addr is.
func (s *HTTPServer) peerOf(addr netip.Addr) peer {
	return peer{addr: addr, src: limit.SourceOf(addr), trusted: s.trustedProxy(addr)}
}

// trustedProxy reports whether addr is one of the trusted proxies.
func (s *HTTPServer) trustedProxy(addr netip.Addr) bool {
	if !addr.IsValid() {
		return false
	}
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// admitSource counts a new connection in its source's share and reports
// whether the share had room. A trusted proxy is not counted: it carries
// every client's connections, and the global cap still bounds it.
func (s *HTTPServer) admitSource(p *peer) bool {
	if p.trusted || !p.addr.IsValid() {
		return true
	}
	if !s.perSource.Acquire(p.src) {
		s.refusedSource.Add(1)
		if !s.warnedSourceCap.Swap(true) {
			s.log.Warn().Int("max_conns_per_ip", s.perSource.PerSource()).
				Msg("http connection refused: its source address holds its share of connections (logged once; later ones at debug level)")
		} else {
			s.log.Debug().Msg("http connection refused: at its source's connection cap")
		}
		return false
	}
	p.counted = true
	return true
}

// releaseSource gives back what admitSource counted for p.
func (s *HTTPServer) releaseSource(p *peer) {
	if p.counted {
		p.counted = false
		s.perSource.Release(p.src)
	}
}

// overRate takes one request from addr's source's rate bucket. When the
// source is over its rate it appends the failure saying when to retry to
// buf and reports true.
func (c *conn) overRate(buf []byte, addr netip.Addr) ([]byte, bool) {
	r := c.srv.cfg.RateLimit
	if r == nil {
		return buf, false
	}
	ok, wait := r.Allow(limit.SourceOf(addr), r.Now())
	if ok {
		return buf, false
	}
	c.counts.Fail(tally.ReasonRateLimited)
	return AppendRateLimited(buf, wait), true
}
