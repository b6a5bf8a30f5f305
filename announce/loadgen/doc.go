// Package loadgen drives announce load at any BitTorrent tracker, over HTTP
// (BEP 3/23: keep-alive connections, compact answers) or UDP (BEP 15 with
// connection-id renewal), and measures what comes back: announces answered
// per second, latency percentiles, peers returned and every kind of error.
//
// It owns the simulated workload and the client side of both wire
// protocols. The workload is deterministic for a seed: torrents with skewed
// (Zipf) popularity, peers with fixed address and port identities, each one
// starting with a "started" announce, then announcing periodically, some
// completing (and seeding from then on) and some stopping and starting
// again, with a fraction of seeders from the start.
//
// Every response is validated: an HTTP answer must be a 200 carrying one
// well-formed bencoded dictionary with an interval and compact peers whose
// length is a multiple of 6 and no failure reason; a UDP answer must be an
// announce reply (action 1) to the transaction that asked, 20+6n bytes long.
// Anything else is counted as an error of a named kind, never a crash.
//
// It must not talk to anything but the configured address, and a run is
// bounded: it stops by itself after Config.Duration (or when its context is
// cancelled), and no request waits longer than Config.Timeout. On the hot
// path a worker allocates nothing: requests are written into buffers the
// worker reuses and latencies go into a fixed log-scale histogram.
//
// Loopback identities: a tracker keys peers by address and port, and on
// loopback every client would otherwise be 127.0.0.1. When the target is an
// IPv4 loopback address, each worker binds its sockets to its own source
// address in 127.1.0.0/16 (Linux routes all of 127.0.0.0/8 to lo), so the
// simulated peers are spread over many addresses as well as many ports and
// a million of them fit, and a tracker that closes every HTTP connection
// does not exhaust one address's ephemeral ports.
package loadgen
