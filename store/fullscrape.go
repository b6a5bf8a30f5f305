package store

import (
	"bytes"
	"slices"

	"johnlocke/modes"
)

// ScrapeEntry is one torrent's counts in a full scrape.
type ScrapeEntry struct {
	InfoHash [20]byte
	Counts   ScrapeCounts
}

// ScrapeAll calls fn with the counts of every torrent in ascending
// infohash order, a shard at a time, so a bencoded full scrape can be
// written as it goes. Small-mode torrents are left out: their rule is
// that nothing about a swarm is given to anyone but its peers. Each shard
// is locked only while its entries are copied out (fn runs unlocked);
// buf is scratch space, returned for the next call to reuse.
func (s *Store) ScrapeAll(buf []ScrapeEntry, fn func(ScrapeEntry)) []ScrapeEntry {
	for i := range s.shards {
		sh := &s.shards[i]
		buf = buf[:0]
		sh.mu.Lock()
		for pos := 0; pos < sh.n; pos++ {
			t := sh.at(pos)
			if t.mode().Or(s.cfg.Mode) == modes.Small {
				continue
			}
			seeders, leechers := sh.counts(t)
			buf = append(buf, ScrapeEntry{InfoHash: t.hash, Counts: ScrapeCounts{
				Complete: uint32(seeders), Incomplete: uint32(leechers), Downloaded: t.completed,
			}})
		}
		sh.mu.Unlock()
		// A shard holds the infohashes of one first byte: sorting each
		// shard sorts the whole.
		slices.SortFunc(buf, func(a, b ScrapeEntry) int { return bytes.Compare(a.InfoHash[:], b.InfoHash[:]) })
		for _, e := range buf {
			fn(e)
		}
	}
	return buf
}
