package store

import (
	"fmt"
	"path/filepath"
	"time"

	"johnlocke/modes"
	"johnlocke/store/metainfo"
)

// FromMetainfo turns a parsed .torrent into a registry entry.
func FromMetainfo(m *metainfo.Torrent, mode modes.Mode, source Source, origin string) Torrent {
	t := Torrent{
		InfoHash: m.Primary(),
		Name:     m.Name,
		Size:     m.Length,
		Private:  m.Private,
		Mode:     mode,
		Source:   source,
		Origin:   origin,
	}
	t.Alias, t.HasAlias = m.Alias()
	return t
}

// Register writes torrents to the file and makes them announceable at
// once; see DB.Register for what it does with torrents already known.
func (s *Store) Register(ts []Torrent) ([]RegisterResult, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	results, err := s.db.Register(ts, s.cfg.Now())
	if err != nil {
		return nil, err
	}
	for i := range ts {
		r := &results[i]
		if !r.Added && !r.ModeChanged {
			continue
		}
		s.addTorrent(&ts[i])
	}
	return results, nil
}

// Torrent returns one torrent by infohash or hybrid alias, with live counts.
func (s *Store) Torrent(hash [20]byte) (Torrent, bool, error) {
	if err := s.Flush(); err != nil {
		return Torrent{}, false, err
	}
	t, ok, err := s.db.Torrent(hash, s.cfg.Now(), 0)
	if err != nil || !ok {
		return t, ok, err
	}
	s.liveFigures(&t)
	return t, true, nil
}

// Torrents calls fn for every registered torrent with live counts.
func (s *Store) Torrents(fn func(*Torrent) error) error {
	if err := s.Flush(); err != nil {
		return err
	}
	return s.db.Torrents(s.cfg.Now(), 0, func(t *Torrent) error {
		s.liveFigures(t)
		return fn(t)
	})
}

// liveFigures puts the torrent's live counts and, to the second, its last
// activity into t, read from the file just after a flush.
func (s *Store) liveFigures(t *Torrent) {
	sh, pos := s.find(&t.InfoHash)
	if pos >= 0 {
		mt := sh.at(pos)
		t.Seeders, t.Leechers = sh.counts(mt)
		// The file has the last activity as of the flush that followed the
		// first announce of its minute; later announces of that minute are
		// in memory only (a new minute would have marked the record and
		// been flushed). The same minute in both says memory's second is
		// the latest.
		if tick := modes.TickOf(t.LastActive); !t.LastActive.IsZero() && uint16(tick) == mt.lastActive {
			t.LastActive = time.Unix(mt.lastActiveAt(tick), 0).UTC()
		}
	}
	sh.mu.Unlock()
}

// Purge drops expired peers from memory and file and, with OlderThan,
// removes torrents inactive for longer, from memory and file together (a
// row deleted only on disk would come back at the next flush).
func (s *Store) Purge(o PurgeOptions) (PurgeReport, error) {
	if o.Now.IsZero() {
		o.Now = s.cfg.Now()
	}
	if !o.DryRun {
		s.Sweep()
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.flushLocked(); err != nil {
		return PurgeReport{}, err
	}
	if o.PeerTimeout <= 0 {
		o.PeerTimeout = s.Timing(modes.Large).PeerTimeout
	}
	rep, err := s.db.Purge(o)
	if err != nil || o.DryRun {
		return rep, err
	}
	for _, h := range rep.Torrents {
		s.dropTorrent(h)
	}
	return rep, nil
}

// dropTorrent removes a torrent and its alias from memory.
func (s *Store) dropTorrent(hash [20]byte) {
	sh := s.shardOf(&hash)
	sh.mu.Lock()
	if pos := sh.find(&hash); pos >= 0 {
		// Its entry in the flush list goes with it, so the next flush
		// cannot write it back.
		s.peerCount.Add(-int64(sh.removeTorrent(pos)))
		s.torrentCount.Add(-1)
	}
	sh.mu.Unlock()
	// Aliases point at the primary: drop any that name this torrent.
	for i := range s.shards {
		ash := &s.shards[i]
		ash.mu.Lock()
		for a, p := range ash.aliases {
			if p == hash {
				delete(ash.aliases, a)
			}
		}
		ash.mu.Unlock()
	}
}

// ScanResult tells what a directory scan found.
type ScanResult struct {
	Found, Added, Failed int
}

// ScanDir registers every .torrent file under dir (source dir, the server's
// mode). Broken files are logged by name and skipped; the rest are
// registered in one transaction.
func (s *Store) ScanDir(dir string) (ScanResult, error) {
	var (
		res ScanResult
		ts  []Torrent
	)
	err := metainfo.Walk(dir, func(path string, m *metainfo.Torrent, err error) {
		if err != nil {
			res.Failed++
			s.cfg.Log.Warn().Str("file", path).Err(err).Msg("skipping torrent file")
			return
		}
		res.Found++
		// The absolute path: purge, run from anywhere, checks the file is
		// gone before it removes the torrent.
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
		ts = append(ts, FromMetainfo(m, modes.Default, SourceDir, path))
	})
	if err != nil {
		return res, fmt.Errorf("scan %s: %w", dir, err)
	}
	if len(ts) == 0 {
		return res, nil
	}
	results, err := s.Register(ts)
	if err != nil {
		return res, fmt.Errorf("scan %s: %w", dir, err)
	}
	for _, r := range results {
		if r.Added {
			res.Added++
		}
	}
	return res, nil
}

// WatchDir scans dir every interval and whenever rescan receives, until
// done is closed. It logs what each scan added.
func (s *Store) WatchDir(done <-chan struct{}, dir string, interval time.Duration, rescan <-chan struct{}) {
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-done:
			return
		case <-tick:
		case <-rescan:
		}
		res, err := s.ScanDir(dir)
		if err != nil {
			s.cfg.Log.Error().Err(err).Msg("rescan failed")
			continue
		}
		if res.Added > 0 || res.Failed > 0 {
			s.cfg.Log.Info().Str("dir", dir).Int("added", res.Added).Int("failed", res.Failed).Msg("rescanned torrent directory")
		}
	}
}
