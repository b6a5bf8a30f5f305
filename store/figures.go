package store

import (
	"os"
	"sync"
	"time"

	"johnlocke/modes"
)

// shardCounts are one shard's counts for the metrics, written under the
// shard's lock by the announces that hold it anyway: no shared counter,
// no extra cache line for the core to own.
type shardCounts struct {
	// announces counts the answered announces by protocol, mode (the
	// torrent's, or the server's for an announce that registered
	// nothing) and event.
	announces [NumProtos][modeMask + 1][4]uint64
	// turnedAway counts the peers the peer budget did not store.
	turnedAway uint64
	// scraped counts the registered infohashes scrapes asked for, by
	// the torrent's mode.
	scraped [modeMask + 1]uint64
}

// NumEvents sizes the per-event counters (EventNone to EventStopped).
const NumEvents = 4

// FlushBounds are the upper bounds of the flush time histogram, in
// seconds.
var FlushBounds = [...]float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30}

// FlushFigures are the flusher's counts.
type FlushFigures struct {
	// Count and Failures count the flushes that wrote something and the
	// flushes that failed.
	Count, Failures uint64
	// Torrents and Bytes are what the flushes wrote in all: torrent
	// records and persisted swarm bytes.
	Torrents, Bytes uint64
	// Took holds the times of the flushes that wrote something, per
	// bucket of FlushBounds (not cumulative; the last is past every
	// bound), and TookSum their sum in seconds.
	Took    [len(FlushBounds) + 1]uint64
	TookSum float64
	// Last is when the last flush succeeded, whether or not it had
	// anything to write (zero before any).
	Last time.Time
	// LastWrite is the last flush that wrote something (zero before
	// any): when, how long it took, what it wrote.
	LastWrite               time.Time
	LastTook                time.Duration
	LastTorrents, LastBytes int
}

// flushRecord keeps the FlushFigures between flushes.
type flushRecord struct {
	mu sync.Mutex
	f  FlushFigures
}

func (r *flushRecord) add(fs flushStats, err error, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.f.Failures++
		return
	}
	r.f.Last = at
	if fs.transactions == 0 {
		return // nothing written: a tick, not a flush worth timing
	}
	r.f.LastWrite, r.f.LastTook, r.f.LastTorrents, r.f.LastBytes = at, fs.took, fs.torrents, fs.swarmBytes
	r.f.Count++
	r.f.Torrents += uint64(fs.torrents)
	r.f.Bytes += uint64(fs.swarmBytes)
	sec := fs.took.Seconds()
	i := 0
	for i < len(FlushBounds) && sec > FlushBounds[i] {
		i++
	}
	r.f.Took[i]++
	r.f.TookSum += sec
}

// Figures are the store's counts and gauges, for the status listener.
type Figures struct {
	// Announces counts the answered announces by protocol, mode and
	// event (index modes.Mode; Default is never counted).
	Announces [NumProtos][modes.Surge + 1][NumEvents]uint64
	// TurnedAway counts the new peers the peer budget did not store.
	TurnedAway uint64
	// Scraped counts the registered infohashes scrapes asked for, by the
	// torrent's mode (a scrape request may name torrents of every mode;
	// requests by protocol are the wire's count).
	Scraped [modes.Surge + 1]uint64
	// PeerBudget is MaxPeersTotal.
	PeerBudget int
	// Torrents counts torrents by mode and origin; Peers counts peers by
	// mode, family and role.
	Torrents [modes.Surge + 1][NumOrigins]int64
	Peers    [modes.Surge + 1][NumFamilies][NumRoles]int64
	Flush    FlushFigures
	// DBPath and DBSize are the database file and its size in bytes (0
	// when it cannot be read).
	DBPath string
	DBSize int64
}

// Origins of a torrent, for Figures.Torrents: registered by import (or
// the admin socket), read from --dir, or registered by its first
// announce.
const (
	OriginImported = iota
	OriginDir
	OriginOrganic
	NumOrigins
)

// Families and roles, for Figures.Peers.
const (
	Family4 = iota
	Family6
	NumFamilies
)
const (
	RoleSeeder = iota
	RoleLeecher
	NumRoles
)

// Figures sums the shards' counts and counts the torrents and peers. It
// walks every torrent, one shard lock at a time (a few milliseconds for a
// million torrents), so it is meant for a metrics scrape every few
// seconds, not for the announce path.
func (s *Store) Figures() Figures {
	f := Figures{PeerBudget: s.cfg.MaxPeersTotal, DBPath: s.db.Path()}
	// The torrents the --dir scans registered, to tell them from imported
	// ones (memory keeps only whether a torrent is organic). scan.mu is
	// taken before the shard locks, as ScanDir takes them.
	s.scan.mu.Lock()
	defer s.scan.mu.Unlock()
	fromDir := make(map[[20]byte]struct{}, len(s.scan.hashes))
	for _, h := range s.scan.hashes {
		fromDir[h] = struct{}{}
	}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		c := &sh.tallies
		for p := range c.announces {
			for m := range f.Announces[p] {
				for e := range c.announces[p][m] {
					f.Announces[p][m][e] += c.announces[p][m][e]
				}
			}
		}
		f.TurnedAway += c.turnedAway
		for m := range f.Scraped {
			f.Scraped[m] += c.scraped[m]
		}
		for pos := range sh.n {
			t := sh.at(pos)
			m := t.mode().Or(s.cfg.Mode)
			switch _, dir := fromDir[t.hash]; {
			case t.organic():
				f.Torrents[m][OriginOrganic]++
			case dir:
				f.Torrents[m][OriginDir]++
			default:
				f.Torrents[m][OriginImported]++
			}
			f.Peers[m][Family4][RoleSeeder] += int64(t.v4.Seeders())
			f.Peers[m][Family4][RoleLeecher] += int64(t.v4.Leechers())
			if l := sh.peers6(t); l != nil {
				f.Peers[m][Family6][RoleSeeder] += int64(l.Seeders())
				f.Peers[m][Family6][RoleLeecher] += int64(l.Leechers())
			}
		}
		sh.mu.Unlock()
	}
	s.flushes.mu.Lock()
	f.Flush = s.flushes.f
	s.flushes.mu.Unlock()
	if fi, err := os.Stat(s.db.Path()); err == nil {
		f.DBSize = fi.Size()
	}
	return f
}

// TopTorrent is one line of a top-torrents table.
type TopTorrent struct {
	InfoHash          [20]byte
	Name              string // "" when the registry has none (organic)
	Mode              modes.Mode
	Seeders, Leechers int
	Completed         uint32
}

// Top returns the n torrents with the most leechers (or, bySeeders, the
// most seeders), most first, ties in no set order, torrents without
// either left out. Like Figures it walks every torrent, one shard at a
// time; the names come from the file as of the last flush.
func (s *Store) Top(n int, bySeeders bool) []TopTorrent {
	if n <= 0 {
		return nil
	}
	key := func(t *TopTorrent) int {
		if bySeeders {
			return t.Seeders
		}
		return t.Leechers
	}
	top := make([]TopTorrent, 0, n+1)
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for pos := range sh.n {
			t := sh.at(pos)
			c := TopTorrent{InfoHash: t.hash, Mode: t.mode().Or(s.cfg.Mode), Completed: t.completed}
			c.Seeders, c.Leechers = sh.counts(t)
			k := key(&c)
			if k == 0 || len(top) == n && k <= key(&top[n-1]) {
				continue
			}
			j := len(top)
			top = append(top, c)
			for ; j > 0 && key(&top[j-1]) < k; j-- {
				top[j] = top[j-1]
			}
			top[j] = c
			top = top[:min(len(top), n)]
		}
		sh.mu.Unlock()
	}
	now := s.cfg.Now()
	for i := range top {
		if rec, ok, err := s.db.Torrent(top[i].InfoHash, now, 0); err == nil && ok {
			top[i].Name = rec.Name
		}
	}
	return top
}
