// Package announce speaks the tracker's wire protocols: it reads announce
// and scrape requests from clients, parses them into fixed-size
// store.Request values, hands them to a Tracker, and writes the answers.
//
// It owns the HTTP listener (BEP 3, BEP 23, BEP 7, BEP 48), the hand-rolled
// query parser and bencode writer, and the rules for a client's address
// (the socket's address, or a proxy header from a trusted proxy only). The
// UDP protocol (BEP 15) will live beside it in announce/udp.
//
// It must not decide peer lists, keep swarm state or touch the disk: all of
// that is behind the Tracker interface. On the hot path it allocates nothing:
// requests are parsed into fixed arrays and responses are appended into
// buffers each connection reuses.
package announce

import "johnlocke/store"

// Tracker is what the wire layer needs from the swarm store. Both methods
// are called concurrently from many connections and must not keep the
// pointers they are given once they return.
type Tracker interface {
	// Announce applies req to its swarm and fills resp, appending compact
	// peers to resp.Peers4 and resp.Peers6. A store.Failure error is sent
	// to the client as its failure reason; any other error is logged and the
	// client gets ErrInternal.
	Announce(req *store.Request, resp *store.Response) error
	// Scrape returns one torrent's counts; ok is false for an unknown
	// infohash, which is then left out of the scrape answer.
	Scrape(infoHash [20]byte) (counts store.ScrapeCounts, ok bool)
}
