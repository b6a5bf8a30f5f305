// Package limit bounds what one source address may take from the wire
// listeners: how many HTTP connections it holds at once (Conns) and how
// fast it may announce and scrape over HTTP and UDP together (Rate).
//
// A source is an IPv4 address or an IPv6 /64 (Source): one home or one
// server is routinely handed a whole /64, so limiting single IPv6
// addresses would bound nothing.
//
// It owns no sockets and knows nothing of either protocol: the listeners
// ask it and answer the client themselves. Rate sits on every announce's
// path, so it allocates nothing and takes no lock.
package limit
