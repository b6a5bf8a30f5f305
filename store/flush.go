package store

import (
	"bytes"
	"fmt"
	"runtime"
	"slices"
	"time"
	"unsafe"

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
			if !s.restoreSwarm(k, v, nowTick) {
				stale = append(stale, append([]byte(nil), k...))
			}
			return nil
		})
	})
	s.loadBuf = nil
	if err != nil {
		return fmt.Errorf("load %s: %w", s.db.path, err)
	}
	defer s.db.releaseMapped()
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
	// Organic torrents whose peers all expired while no server ran (all
	// of them in modes that persist no peers) go now, not a tick later:
	// a flood before a restart must not fill the registry after it.
	s.Sweep()
	torrents, peers := s.Counts()
	s.cfg.Log.Info().Int64("torrents", torrents).Int64("peers", peers).
		Float64("took_ms", millis(time.Since(now))).Msg("loaded database")
	return nil
}

// restoreSwarm puts one persisted swarm (key k, value v) back into memory;
// it returns false when the file should no longer hold it.
func (s *Store) restoreSwarm(k, v []byte, nowTick uint32) bool {
	if len(k) != 20 {
		return false
	}
	var hash [20]byte
	copy(hash[:], k)
	sh := s.shardOf(&hash)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	pos := sh.find(&hash)
	if pos < 0 {
		return false
	}
	t := sh.at(pos)
	if !t.mode().Or(s.cfg.Mode).PersistsPeers() {
		return false
	}
	savedTick, v4, v6, err := decodeSwarm(v)
	if err != nil {
		s.cfg.Log.Warn().Hex("infohash", k).Err(err).Msg("dropping unreadable persisted swarm")
		return false
	}
	timeout := s.Timing(t.mode()).PeerTimeout
	s.restore(&t.v4, v4, savedTick, nowTick, timeout)
	if len(v6) > 0 {
		s.restore(sh.peers6ToAdd(t), v6, savedTick, nowTick, timeout)
		sh.dropEmpty6(t)
	}
	return true
}

// restore puts persisted records back into l, restamped to the current
// tick, leaving out the expired ones. The records are copied (they may be
// the file's own memory) into a scratch buffer that l.Load then takes in
// bulk.
func (s *Store) restore(l *peerlist.List, recs []byte, savedTick, nowTick uint32, timeout time.Duration) {
	stride := l.Stride()
	buf := s.loadBuf[:0]
	for off := 0; off+stride <= len(recs); off += stride {
		rec := recs[off : off+stride]
		stamp, ok := restamp(rec[stride-2], savedTick, nowTick, timeout)
		if !ok {
			continue
		}
		buf = append(buf, rec...)
		buf[len(buf)-2] = stamp
	}
	s.loadBuf = buf
	before := l.Len()
	s.peerCount.Add(int64(l.Load(s.peerSeed, buf) - before))
}

// addTorrent puts a registered torrent into memory, or updates the mode of
// one already there. It takes the shard locks itself.
func (s *Store) addTorrent(rec *Torrent) {
	sh := s.shardOf(&rec.InfoHash)
	sh.mu.Lock()
	if pos := sh.find(&rec.InfoHash); pos >= 0 {
		t := sh.at(pos)
		t.setMode(rec.Mode)
		if t.organic() && rec.Source != SourceOrganic {
			// Registered on purpose now: the sweep leaves it alone and
			// its first announcer no longer holds it.
			t.flags &^= flagOrganic
			s.registrants.release(*sh.registrant(pos))
			*sh.registrant(pos) = 0
		}
	} else {
		t := newTorrent(rec.InfoHash, rec.Mode)
		t.completed = uint32(rec.Completed)
		if !rec.LastActive.IsZero() {
			t.setLastActive(modes.TickOf(rec.LastActive), rec.LastActive.Unix())
		}
		if rec.Source == SourceOrganic {
			t.flags |= flagOrganic
		}
		sh.add(t)
		s.torrentCount.Add(1)
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
	lastActive int64 // unix seconds
	persist    bool
	// swarm holds the encoded peer list (a slice of the flush buffer) when
	// dirtySwarm is set and the mode persists peers.
	swarmOff, swarmEnd int
}

// A flush writes in transactions of about flushChunk bytes of peers or
// flushChunkTorrents torrents, whichever comes first, cut between shards:
// shards follow the first infohash byte, so each transaction covers one
// range of keys and touches only that range's pages. Its memory (the copy
// of the peers, and bbolt's copies of the pages it rewrites) stays bounded
// however many peers are dirty, and the announces waiting for the CPU get
// it between transactions.
const (
	flushChunk         = 1 << 20
	flushChunkTorrents = 1024
	// flushKeep is the most buffer space a flush keeps for the next one.
	flushKeep = 64 << 10
)

// Flush writes every dirty torrent: registry counters, new organic
// torrents and the peer lists of modes that persist them. The shard locks
// are held only while copying, never during a write. On failure the state
// not yet written is marked dirty again for the next try.
func (s *Store) Flush() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	_, err := s.flushLocked()
	return err
}

// flushStats is what one flush wrote.
type flushStats struct {
	torrents, swarmBytes, transactions int
	took                               time.Duration
}

// finalFlush is the flush of a stopping Run, logged at info level however
// little it wrote, so the log says that the state reached the file.
func (s *Store) finalFlush() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	fs, err := s.flushLocked()
	if err == nil {
		s.cfg.Log.Info().Int("torrents", fs.torrents).Int("swarm_bytes", fs.swarmBytes).
			Int("transactions", fs.transactions).Float64("took_ms", millis(fs.took)).Msg("final flush written")
	}
	return err
}

// millis is d in milliseconds, the unit of every duration the logs carry
// (their keys end in _ms).
func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// flushLocked is Flush for a caller that holds writeMu. It first removes
// from the file the torrents the sweep removed from memory, so that one
// registered again since is written after its removal, never before.
// While it fails, new torrents are refused (see writesFailing).
func (s *Store) flushLocked() (flushStats, error) {
	var fs flushStats
	err := s.deleteGone()
	if err == nil {
		fs, err = s.flushDirty()
	}
	s.flushes.add(fs, err, s.cfg.Now())
	s.writesFailing.Store(err != nil)
	return fs, err
}

// flushDirty writes what is dirty in memory; writeMu must be held.
func (s *Store) flushDirty() (flushStats, error) {
	start := time.Now()
	tick := s.tickNow()
	buf, batch := s.flushBuf[:0], s.flushBatch[:0]
	var (
		err                       error
		txs, torrents, swarmBytes int
	)
	for i := range s.shards {
		buf, batch = s.collect(&s.shards[i], tick, buf, batch)
		if len(batch) == 0 || (i+1 < len(s.shards) && len(buf) < flushChunk && len(batch) < flushChunkTorrents) {
			continue
		}
		if err = s.write(batch, buf, tick); err != nil {
			break
		}
		txs, torrents, swarmBytes = txs+1, torrents+len(batch), swarmBytes+len(buf)
		buf, batch = buf[:0], batch[:0]
		runtime.Gosched()
	}
	fs := flushStats{torrents: torrents, swarmBytes: swarmBytes, transactions: txs, took: time.Since(start)}
	if txs > 0 {
		// At -v: what a flush costs, for operators sizing --flush-interval.
		s.cfg.Log.Debug().Int("torrents", torrents).Int("swarm_bytes", swarmBytes).Int("transactions", txs).
			Float64("took_ms", millis(fs.took)).Msg("flushed")
	}
	// Keep the buffers for the next flush unless a busy one grew them:
	// between flushes they would be memory held for nothing.
	s.flushBuf, s.flushBatch = nil, nil
	if cap(buf) <= flushKeep {
		s.flushBuf = buf[:0]
	}
	if cap(batch)*int(unsafe.Sizeof(pending{})) <= flushKeep {
		s.flushBatch = batch[:0]
	}
	return fs, err
}

// collect copies sh's dirty torrents out into batch (their peers into
// buf) and clears their dirty bits.
func (s *Store) collect(sh *shard, tick uint32, buf []byte, batch []pending) ([]byte, []pending) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for _, pos := range sh.dirty {
		t := sh.at(int(pos))
		p := pending{hash: t.hash, dirty: t.dirty(), completed: t.completed, lastActive: t.lastActiveAt(tick),
			persist: t.mode().Or(s.cfg.Mode).PersistsPeers()}
		if p.dirty&dirtySwarm != 0 && p.persist {
			var v6 []byte
			if l := sh.peers6(t); l != nil {
				v6 = l.Records()
			}
			p.swarmOff = len(buf)
			buf = appendSwarm(buf, tick, t.v4.Records(), v6)
			p.swarmEnd = len(buf)
		}
		t.flags &^= dirtyRecord | dirtySwarm
		batch = append(batch, p)
	}
	sh.dirty = sh.dirty[:0]
	if cap(sh.dirty) > 256 {
		sh.dirty = nil // a burst grew it; most flushes find a few
	}
	return buf, batch
}

// write writes one batch in one transaction, in key order; on failure it
// marks the batch dirty again.
func (s *Store) write(batch []pending, buf []byte, tick uint32) error {
	slices.SortFunc(batch, func(a, b pending) int { return bytes.Compare(a.hash[:], b.hash[:]) })
	recs := s.recBuf[:0]
	err := s.db.bolt.Update(func(tx *bbolt.Tx) error {
		torrents := tx.Bucket(migrate.BucketTorrents)
		swarms := tx.Bucket(migrate.BucketSwarms)
		for i := range batch {
			if err := writePending(torrents, swarms, &batch[i], buf, &recs, tick); err != nil {
				return err
			}
		}
		return nil
	})
	// After each transaction, not once per flush: a flush of a million
	// peers maps in tens of MB of the file, which would all count in the
	// resident set until the end (compare.sh's memory run, large mode:
	// peak RSS 42 MB this way, 66 MB with one release per flush).
	s.db.releaseMapped()
	// The transaction is over: its puts no longer refer to recs.
	s.recBuf = nil
	if cap(recs) <= flushKeep {
		s.recBuf = recs[:0]
	}
	if err != nil {
		s.redirty(batch)
		return fmt.Errorf("flush %d torrents to %s: %w", len(batch), s.db.path, err)
	}
	return nil
}

// writePending writes one torrent's dirty state. Its record is rebuilt in
// *recs (which the transaction's puts keep referring to until it commits)
// by patching the stored one's counters in place, so that a flush decodes
// and allocates nothing per torrent.
func writePending(torrents, swarms *bbolt.Bucket, p *pending, buf []byte, recs *[]byte, tick uint32) error {
	if p.dirty&dirtyRecord != 0 {
		// Only announces mark a record dirty, so the torrent has been
		// announced.
		lastActive := time.Unix(p.lastActive, 0).UTC()
		start := len(*recs)
		var err error
		if old := torrents.Get(p.hash[:]); old != nil {
			*recs, err = appendPatched(*recs, p.hash[:], old, uint64(p.completed), lastActive)
			if err != nil {
				return err
			}
		} else {
			rec := Torrent{InfoHash: p.hash, Source: SourceOrganic, Added: tickTime(tick),
				Completed: uint64(p.completed), LastActive: lastActive}
			*recs = encodeRecord(*recs, &rec)
		}
		if err := torrents.Put(p.hash[:], (*recs)[start:]); err != nil {
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
		sh, pos := s.find(&p.hash)
		if pos >= 0 && sh.at(pos).hash == p.hash {
			sh.markDirty(pos, p.dirty)
		}
		sh.mu.Unlock()
	}
}

// Sweep removes expired peers from every swarm, a shard at a time, and
// the organic torrents left abandoned (see abandoned): from memory now,
// from the file at the next flush.
func (s *Store) Sweep() {
	nowTick := s.tickNow()
	now := uint8(nowTick)
	removed := 0
	var gone [][20]byte
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		goneBefore := len(gone)
		// Downwards: a removal moves the last torrent into the hole, and
		// the last one has been swept already.
		for pos := sh.n - 1; pos >= 0; pos-- {
			t := sh.at(pos)
			mode := t.mode().Or(s.cfg.Mode)
			maxAge := uint8(s.timing[mode].PeerTimeout / modes.Tick)
			n := t.v4.Sweep(now, maxAge)
			if l := sh.peers6(t); l != nil {
				n += l.Sweep(now, maxAge)
				sh.dropEmpty6(t)
			}
			removed += n
			if t.organic() && abandoned(t, nowTick) {
				gone = append(gone, t.hash)
				_, registrant, _ := sh.dropTorrent(pos)
				s.registrants.release(registrant)
				continue
			}
			if n > 0 && mode.PersistsPeers() {
				sh.markDirty(pos, dirtySwarm)
			}
		}
		if len(gone) > goneBefore {
			sh.rebuildDirty()
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
	if len(gone) > 0 {
		s.torrentCount.Add(-int64(len(gone)))
		s.gone.add(gone)
		s.cfg.Log.Debug().Int("torrents", len(gone)).Msg("abandoned organic torrents removed")
	}
}
