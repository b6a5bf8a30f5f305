// Package simulate is a swarm simulator: simulated BitTorrent peers
// (pieces, connections, rarest-first, tit-for-tat with an optimistic
// unchoke, seeders unchoking round-robin, re-announces) that get their peer
// lists from the real store and mode code, in process, through the same
// store.(*Store).Announce call the HTTP and UDP layers make, or from a
// random tracker kept here as the baseline. It is a client of the store,
// like the load generator beside it; it must not reach into the store's
// internals, so what it measures is what johnlocke does.
package simulate
