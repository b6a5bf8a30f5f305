package store

// Event is the announce event a client reports (BEP 3, BEP 15 numbering).
type Event uint8

// The events a client may report; EventNone is a periodic re-announce.
const (
	EventNone      Event = 0
	EventCompleted Event = 1
	EventStarted   Event = 2
	EventStopped   Event = 3
)

// Request is one parsed announce, made of fixed-size fields so that parsing
// and handling it allocate nothing. The wire layer (announce/) fills it.
type Request struct {
	InfoHash [20]byte
	PeerID   [20]byte
	// Addr holds the peer's address: an IPv4 address in its first four bytes
	// when Is6 is false, all sixteen bytes for IPv6.
	Addr       [16]byte
	Is6        bool
	Port       uint16
	Event      Event
	Left       uint64
	Uploaded   uint64
	Downloaded uint64
	// NumWant is what the client asked for; negative means "no preference".
	NumWant int32
	// BothFamilies asks for peers of the other address family as well
	// (HTTP fills peers and peers6; UDP answers with its own family only).
	BothFamilies bool
	// Proto is the protocol the announce came by, for the metrics.
	Proto Proto
}

// Proto is the protocol an announce came by.
type Proto uint8

// The protocols; NumProtos sizes the counters.
const (
	ProtoHTTP Proto = iota
	ProtoUDP
	NumProtos
)

// String returns the protocol's label value.
func (p Proto) String() string {
	if p == ProtoUDP {
		return "udp"
	}
	return "http"
}

// Response is what the tracker answers to one announce. Peers4 and Peers6
// are caller-owned buffers: the store appends compact peers (6 and 18 bytes)
// to them, so a caller that reuses a Response allocates nothing.
type Response struct {
	Peers4      []byte
	Peers6      []byte
	Interval    int32 // seconds
	MinInterval int32 // seconds
	Complete    uint32
	Incomplete  uint32
	Downloaded  uint32
}

// Reset empties r for reuse, keeping its buffers.
func (r *Response) Reset() {
	*r = Response{Peers4: r.Peers4[:0], Peers6: r.Peers6[:0]}
}

// ScrapeCounts are one torrent's scrape figures (BEP 48).
type ScrapeCounts struct {
	Complete   uint32 // seeders
	Incomplete uint32 // leechers
	Downloaded uint32 // completed downloads, ever
}
