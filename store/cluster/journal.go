package cluster

import (
	"sync"
	"time"
)

// journalSize bounds a node's registry journal. An entry is an infohash
// and a time, 32 bytes with padding, so 100,000 entries hold 3.2 MB: far
// more removals and mode changes than operators make while one node is
// down, yet small next to the swarms. A bulk import larger than that
// wraps it; a node rejoining across the wrap is told that its registry
// part is partial (the imported torrents still reach it by their added
// time, only removals and mode changes may be missing).
const journalSize = 100_000

// journalEntry says that the registry entry of hash changed at at (unix
// nanoseconds on this node's clock).
type journalEntry struct {
	at   int64
	hash [20]byte
}

// registryJournal remembers which torrents' registry entries this node
// changed or applied, and when, so that it can tell a rejoining node what
// changed since its last write. It records hashes only: the answer reads
// each one's state as it is now, so that of several changes to one torrent
// (removed, then registered again) the last one wins, and a mode change
// travels with the record.
type registryJournal struct {
	mu sync.Mutex
	// from is the earliest time from which every change is kept, once
	// started: the node's start, then one past the newest entry the ring
	// dropped. Until start nothing is covered.
	started bool
	from    int64
	entries []journalEntry // a ring of at most journalSize
	next    int            // where the next entry goes once the ring is full
	last    int64          // the newest entry's time
}

// start says that from now on every registry change reaches add.
func (j *registryJournal) start(now time.Time) {
	j.mu.Lock()
	j.from = now.UnixNano()
	j.started = true
	j.mu.Unlock()
}

// add records hashes as changed now. Times never go back, even if the
// wall clock does, so the ring stays in order.
func (j *registryJournal) add(now time.Time, hashes ...[20]byte) {
	j.mu.Lock()
	defer j.mu.Unlock()
	at := max(now.UnixNano(), j.last)
	j.last = at
	for _, h := range hashes {
		e := journalEntry{at: at, hash: h}
		if len(j.entries) < journalSize {
			j.entries = append(j.entries, e)
			continue
		}
		dropped := j.entries[j.next]
		j.from = max(j.from, dropped.at+1)
		j.entries[j.next] = e
		j.next = (j.next + 1) % journalSize
	}
}

// since returns the distinct hashes changed at or after since, and
// whether the journal holds every change from since on (the node was up
// then and has dropped nothing newer).
func (j *registryJournal) since(since time.Time) (hashes [][20]byte, covered bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	at := since.UnixNano()
	if !j.started || since.IsZero() || at < j.from {
		return nil, false
	}
	seen := map[[20]byte]bool{}
	n := len(j.entries)
	for i := range n {
		e := &j.entries[(j.next+i)%n]
		if e.at < at || seen[e.hash] {
			continue
		}
		seen[e.hash] = true
		hashes = append(hashes, e.hash)
	}
	return hashes, true
}

// coveredFrom returns the earliest time the journal covers, zero before
// the node started.
func (j *registryJournal) coveredFrom() time.Time {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.started {
		return time.Time{}
	}
	return time.Unix(0, j.from)
}
