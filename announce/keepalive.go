package announce

import "fmt"

// KeepAlive says which connections the HTTP server keeps open after an
// answer, when the request allows it.
//
// Clients on the internet announce minutes apart, so a connection kept
// alive for one of them waits out IdleTimeout and is seldom asked again.
// Those that ask to be closed (libtorrent's) cost the tracker least; those
// that send keep-alive (aria2's) cost it a goroutine and a wait each, about
// twice as much per announce (README, "Against opentracker"). A reverse
// proxy with upstream keep-alive, on the other hand, sends everyone's
// requests over a few connections, and closing those would cost a new
// connection per announce. So serve's default is KeepAliveProxies, as
// chihaya's is to keep no connection alive; the zero value stays
// KeepAliveOn for code that builds a server itself.
type KeepAlive uint8

const (
	// KeepAliveOn keeps every connection whose request allows it.
	KeepAliveOn KeepAlive = iota
	// KeepAliveOff closes every connection after its answer, as
	// opentracker does.
	KeepAliveOff
	// KeepAliveProxies keeps only trusted proxies' connections.
	KeepAliveProxies
)

var keepAliveNames = [...]string{KeepAliveOn: "on", KeepAliveOff: "off", KeepAliveProxies: "proxies"}

func (k KeepAlive) String() string {
	if int(k) < len(keepAliveNames) {
		return keepAliveNames[k]
	}
	return fmt.Sprintf("KeepAlive(%d)", uint8(k))
}

// ParseKeepAlive reads "on", "off" or "proxies".
func ParseKeepAlive(s string) (KeepAlive, error) {
	for k, name := range keepAliveNames {
		if s == name {
			return KeepAlive(k), nil
		}
	}
	return 0, fmt.Errorf("want on, off or proxies, got %q", s)
}

// keeps reports whether p's connection may stay open after an answer.
func (k KeepAlive) keeps(p *peer) bool {
	switch k {
	case KeepAliveOff:
		return false
	case KeepAliveProxies:
		return p.trusted
	}
	return true
}
