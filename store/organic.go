package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"johnlocke/migrate"
	"johnlocke/modes"
)

// What keeps organic registration (--locked=false) bounded on the open
// internet:
//
//   - an announce that would leave a new torrent with no peer (a "stopped"
//     for an unknown infohash, a peer the budget cannot store) creates
//     nothing, and a refused one creates nothing;
//   - one source address holds at most MaxTorrentsPerAddr organic torrents;
//   - the sweep removes organic torrents whose swarm is empty (after
//     organicKeepCompleted when they have a completed count), from memory at
//     once and from the file at the next flush.
//
// Who registered an organic torrent is kept in memory only, beside it in
// its table page: the file keeps no client addresses. After a restart the
// organic torrents loaded from the file count against no address, only
// against MaxTorrents; the sweep at start removes those with no persisted
// peers (all of them in small mode, which persists none) and the rest once
// their peers expire, so a flood cannot outlive a restart by more than a
// peer timeout (or a day, for those with a completed count). Persisting the
// registrant would need a new record format for a bound that the sweep
// restores by itself.

// organicKeepCompleted is how long an organic torrent with a completed
// count but no peers is kept: its count survives a quiet night, as in
// opentracker.
const organicKeepCompleted = 24 * time.Hour

// goneChunk bounds the deletions of one transaction, as flushChunkTorrents
// bounds the writes.
const goneChunk = 4096

// errNothingToRegister tells Announce that an unknown infohash's announce
// would register nothing a swarm needs: it is answered, with no peers, and
// no torrent is created.
var errNothingToRegister = errors.New("nothing to register")

// registrantOf returns the key of the source address an announce is
// counted against: an IPv4 address, or the /64 of an IPv6 one (one
// subscriber's usual allocation, so a host cannot dodge the bound by
// cycling its interface identifiers). It is never 0, which means "no
// registrant".
func registrantOf(req *Request) uint64 {
	if !req.Is6 {
		// Top 32 bits 0x0000ffff: an IPv6 /64 with those lies in ::/8,
		// which is reserved, so the two families never share a key.
		return 0xffff<<32 | uint64(binary.BigEndian.Uint32(req.Addr[:4]))
	}
	if k := binary.BigEndian.Uint64(req.Addr[:8]); k != 0 {
		return k
	}
	return 1 // ::/64 holds only ::1 and ::; 0:0:0:1::/64 is unassigned
}

// registrants counts the organic torrents each source address holds. It
// is touched when an organic torrent comes or goes, never by an announce
// for a known torrent; its lock nests inside shard locks.
type registrants struct {
	mu    sync.Mutex
	count map[uint64]int32
}

// take counts one more torrent for key unless it holds limit already
// (limit < 0: no bound).
func (r *registrants) take(key uint64, limit int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.count[key]
	if limit >= 0 && int(n) >= limit {
		return false
	}
	r.count[key] = n + 1
	return true
}

// release forgets one torrent of key's; key 0 is no registrant.
func (r *registrants) release(key uint64) {
	if key == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := r.count[key] - 1; n > 0 {
		r.count[key] = n
	} else {
		delete(r.count, key)
	}
}

// held returns how many organic torrents key holds.
func (r *registrants) held(key uint64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return int(r.count[key])
}

// goneList holds the infohashes of torrents the sweep removed from memory,
// for the next flush to remove from the file.
type goneList struct {
	mu     sync.Mutex
	hashes [][20]byte
}

func (g *goneList) add(hs [][20]byte) {
	g.mu.Lock()
	g.hashes = append(g.hashes, hs...)
	g.mu.Unlock()
}

func (g *goneList) take() [][20]byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	hs := g.hashes
	g.hashes = nil
	return hs
}

// abandoned reports whether the sweep should remove organic torrent t: its
// swarm is empty and it has no completed count, or has had no announce
// for organicKeepCompleted. sh must be locked.
func abandoned(t *torrent, nowTick uint32) bool {
	if t.v4.Len() != 0 || t.has6() {
		return false
	}
	if t.completed == 0 {
		return true
	}
	idle := time.Duration(nowTick-fullTick(t.lastActive, nowTick)) * modes.Tick
	return idle >= organicKeepCompleted
}

// deleteGone removes from the file the torrents the sweep removed from
// memory, unless one has been registered again since (it is then written
// as new by the flush that follows). writeMu must be held. On failure the
// rest stay listed for the next flush.
func (s *Store) deleteGone() error {
	hashes := s.gone.take()
	if len(hashes) == 0 {
		return nil
	}
	slices.SortFunc(hashes, func(a, b [20]byte) int { return bytes.Compare(a[:], b[:]) })
	for start := 0; start < len(hashes); start += goneChunk {
		chunk := hashes[start:min(start+goneChunk, len(hashes))]
		err := s.db.bolt.Update(func(tx *bbolt.Tx) error {
			torrents := tx.Bucket(migrate.BucketTorrents)
			swarms := tx.Bucket(migrate.BucketSwarms)
			for i := range chunk {
				h := &chunk[i]
				if s.inMemory(h) {
					continue
				}
				if err := torrents.Delete(h[:]); err != nil {
					return err
				}
				if err := swarms.Delete(h[:]); err != nil {
					return err
				}
			}
			return nil
		})
		s.db.releaseMapped()
		if err != nil {
			s.gone.add(hashes[start:])
			return fmt.Errorf("remove %d abandoned organic torrents from %s: %w", len(hashes)-start, s.db.path, err)
		}
	}
	return nil
}

// inMemory reports whether hash is a torrent in memory under its own
// infohash (not an alias).
func (s *Store) inMemory(hash *[20]byte) bool {
	sh := s.shardOf(hash)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.find(hash) >= 0
}

// rebuildDirty lists again the positions of the torrents with dirty bits,
// after removals that moved torrents without following them; sh must be
// locked.
func (sh *shard) rebuildDirty() {
	sh.dirty = sh.dirty[:0]
	for pos := range sh.n {
		if sh.at(pos).dirty() != 0 {
			sh.dirty = append(sh.dirty, uint32(pos))
		}
	}
}
