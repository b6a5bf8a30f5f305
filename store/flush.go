package store

import (
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"johnlocke/migrate"
	"johnlocke/modes"
	"johnlocke/store/peerlist"
)

// load reads the registry and the persisted swarms into memory, dropping
// peers that expired while no server ran and swarms the file should no
// longer hold (a torrent gone, or a mode that keeps no peers on disk).
func (s *Store) load() error {
	now := s.cfg.Now()
	nowTick := modes.TickOf(now)
	var stale [][]byte
	err := s.db.bolt.View(func(tx *bbolt.Tx) error {
		err := tx.Bucket(migrate.BucketTorrents).ForEach(func(k, v []byte) error {
			rec, err := decodeRecord(k, v)
			if err != nil {
				return err
			}
			s.addTorrent(&rec)
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(migrate.BucketSwarms).ForEach(func(k, v []byte) error {
			var hash [20]byte
			copy(hash[:], k)
			sh := s.shardOf(&hash)
			t := sh.torrents[hash]
			if len(k) != 20 || t == nil || !t.mode.Or(s.cfg.Mode).PersistsPeers() {
				stale = append(stale, append([]byte(nil), k...))
				return nil
			}
			savedTick, v4, v6, err := decodeSwarm(v)
			if err != nil {
				s.cfg.Log.Warn().Hex("infohash", k).Err(err).Msg("dropping unreadable persisted swarm")
				stale = append(stale, append([]byte(nil), k...))
				return nil
			}
			timeout := s.Timing(t.mode).PeerTimeout
			s.restore(&t.v4, v4, savedTick, nowTick, timeout)
			s.restore(&t.v6, v6, savedTick, nowTick, timeout)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("load %s: %w", s.db.path, err)
	}
	if len(stale) > 0 {
		err := s.db.bolt.Update(func(tx *bbolt.Tx) error {
			b := tx.Bucket(migrate.BucketSwarms)
			for _, k := range stale {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("load %s: dropping stale swarms: %w", s.db.path, err)
		}
	}
	torrents, peers := s.Counts()
	s.cfg.Log.Info().Int64("torrents", torrents).Int64("peers", peers).
		Dur("took", time.Since(now)).Msg("loaded database")
	return nil
}

// restore puts persisted records back into l, restamped to the current
// tick, leaving out the expired ones.
func (s *Store) restore(l *peerlist.List, recs []byte, savedTick, nowTick uint32, timeout time.Duration) {
	stride := l.Stride()
	for off := 0; off+stride <= len(recs); off += stride {
		rec := recs[off : off+stride]
		stamp, ok := restamp(rec[stride-2], savedTick, nowTick, timeout)
		if !ok {
			continue
		}
		if _, added := l.Put(rec[:stride-2], stamp, rec[stride-1]); added {
			s.peerCount.Add(1)
		}
	}
}

// addTorrent puts a registered torrent into memory, or updates the mode of
// one already there. It takes the shard locks itself.
func (s *Store) addTorrent(rec *Torrent) {
	sh := s.shardOf(&rec.InfoHash)
	sh.mu.Lock()
	t := sh.torrents[rec.InfoHash]
	if t == nil {
		t = newTorrent(rec.InfoHash, rec.Mode)
		t.completed = uint32(rec.Completed)
		if !rec.LastActive.IsZero() {
			t.lastActive = modes.TickOf(rec.LastActive)
		}
		sh.torrents[rec.InfoHash] = t
		s.torrentCount.Add(1)
	} else {
		t.mode = rec.Mode
	}
	sh.mu.Unlock()
	if rec.HasAlias {
		ash := s.shardOf(&rec.Alias)
		ash.mu.Lock()
		ash.aliases[rec.Alias] = rec.InfoHash
		ash.mu.Unlock()
	}
}

// pending is one torrent's state copied out for a flush.
type pending struct {
	hash       [20]byte
	dirty      uint8
	completed  uint32
	lastActive uint32
	persist    bool
	// swarm holds the encoded peer list (a slice of the flush buffer) when
	// dirtySwarm is set and the mode persists peers.
	swarmOff, swarmEnd int
}

// Flush writes every dirty torrent in one transaction: registry counters,
// new organic torrents and the peer lists of modes that persist them. The
// shard locks are held only while copying, never during the write. On
// failure the state is marked dirty again for the next try.
func (s *Store) Flush() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.flushLocked()
}

// flushLocked is Flush for a caller that holds writeMu.
func (s *Store) flushLocked() error {
	tick := s.tickNow()
	buf := s.flushBuf[:0]
	var batch []pending
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for _, t := range sh.dirty {
			p := pending{hash: t.hash, dirty: t.dirty, completed: t.completed, lastActive: t.lastActive,
				persist: t.mode.Or(s.cfg.Mode).PersistsPeers()}
			if p.dirty&dirtySwarm != 0 && p.persist {
				p.swarmOff = len(buf)
				buf = appendSwarm(buf, tick, t.v4.Records(), t.v6.Records())
				p.swarmEnd = len(buf)
			}
			t.dirty = 0
			batch = append(batch, p)
		}
		clear(sh.dirty)
		sh.dirty = sh.dirty[:0]
		sh.mu.Unlock()
	}
	s.flushBuf = buf
	if len(batch) == 0 {
		return nil
	}
	err := s.db.bolt.Update(func(tx *bbolt.Tx) error {
		torrents := tx.Bucket(migrate.BucketTorrents)
		swarms := tx.Bucket(migrate.BucketSwarms)
		for i := range batch {
			if err := writePending(torrents, swarms, &batch[i], buf, tick); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.redirty(batch)
		return fmt.Errorf("flush %d torrents to %s: %w", len(batch), s.db.path, err)
	}
	return nil
}

func writePending(torrents, swarms *bbolt.Bucket, p *pending, buf []byte, tick uint32) error {
	if p.dirty&dirtyRecord != 0 {
		var rec Torrent
		if old := torrents.Get(p.hash[:]); old != nil {
			var err error
			if rec, err = decodeRecord(p.hash[:], old); err != nil {
				return err
			}
		} else {
			rec = Torrent{InfoHash: p.hash, Source: SourceOrganic, Added: tickTime(tick)}
		}
		rec.Completed = uint64(p.completed)
		if p.lastActive != 0 {
			rec.LastActive = tickTime(p.lastActive)
		}
		if err := torrents.Put(p.hash[:], encodeRecord(nil, &rec)); err != nil {
			return fmt.Errorf("write torrent %x: %w", p.hash, err)
		}
	}
	if p.dirty&dirtySwarm == 0 || !p.persist {
		return nil
	}
	val := buf[p.swarmOff:p.swarmEnd]
	var err error
	if len(val) == swarmHeader+8 { // no peers left
		err = swarms.Delete(p.hash[:])
	} else {
		err = swarms.Put(p.hash[:], val)
	}
	if err != nil {
		return fmt.Errorf("write swarm %x: %w", p.hash, err)
	}
	return nil
}

func tickTime(tick uint32) time.Time {
	return time.Unix(int64(tick)*int64(modes.Tick/time.Second), 0).UTC()
}

// redirty marks the torrents of a failed flush dirty again.
func (s *Store) redirty(batch []pending) {
	for i := range batch {
		p := &batch[i]
		sh, t := s.find(&p.hash)
		if t != nil && t.hash == p.hash {
			sh.markDirty(t, p.dirty)
		}
		sh.mu.Unlock()
	}
}

// Sweep removes expired peers from every swarm, a shard at a time.
func (s *Store) Sweep() {
	now := uint8(s.tickNow())
	removed := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for _, t := range sh.torrents {
			mode := t.mode.Or(s.cfg.Mode)
			maxAge := uint8(s.timing[mode].PeerTimeout / modes.Tick)
			n := t.v4.Sweep(now, maxAge) + t.v6.Sweep(now, maxAge)
			if n > 0 && mode.PersistsPeers() {
				sh.markDirty(t, dirtySwarm)
			}
			removed += n
		}
		sh.mu.Unlock()
	}
	if removed > 0 {
		s.peerCount.Add(int64(-removed))
		if s.peerCount.Load() < int64(s.cfg.MaxPeersTotal) {
			s.overBudget.Store(false)
		}
		s.cfg.Log.Debug().Int("peers", removed).Msg("expired peers removed")
	}
}
