package store

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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

// ErrWritesFailing refuses a registration while flushes to the file fail
// (a full disk, say): the server keeps answering for the torrents it has,
// but takes no new one until a flush succeeds.
var ErrWritesFailing = errors.New("the database cannot be written (the last flush failed): no new torrents until a flush succeeds")

// Register writes torrents to the file and makes them announceable at
// once; see DB.Register for what it does with torrents already known.
func (s *Store) Register(ts []Torrent) ([]RegisterResult, error) {
	return s.register(ts, true)
}

// register is Register; notify tells the registry listener, if any, of
// the torrents it added or changed.
func (s *Store) register(ts []Torrent, notify bool) ([]RegisterResult, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.writesFailing.Load() {
		// A torrent registered now would live in memory only if the
		// file cannot take the next flush either.
		return nil, ErrWritesFailing
	}
	results, err := s.db.Register(ts, s.cfg.Now())
	if err != nil {
		return nil, err
	}
	var changed []Torrent
	for i := range ts {
		r := &results[i]
		if !r.Added && !r.ModeChanged && !r.Adopted {
			continue
		}
		s.addTorrent(&ts[i])
		if notify && s.capture.listener != nil {
			changed = append(changed, ts[i])
		}
	}
	if len(changed) > 0 {
		s.capture.listener.Registered(changed)
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
	if _, err := s.flushLocked(); err != nil {
		return PurgeReport{}, err
	}
	if o.PeerTimeout <= 0 {
		o.PeerTimeout = s.Timing(modes.Large).PeerTimeout
	}
	rep, err := s.db.Purge(o)
	if err != nil || o.DryRun {
		return rep, err
	}
	s.dropTorrents(rep.Torrents)
	if len(rep.Torrents) > 0 {
		s.scan.purged.Store(true)
	}
	return rep, nil
}

// dropTorrents removes torrents and their aliases from memory. It costs
// one pass over the alias maps for all of them, not one per torrent (a
// purge of 60,000 hybrid torrents took 49 s that way, with flushes
// waiting on writeMu).
func (s *Store) dropTorrents(hashes [][20]byte) {
	if len(hashes) == 0 {
		return
	}
	dropped := make(map[[20]byte]struct{}, len(hashes))
	for _, h := range hashes {
		dropped[h] = struct{}{}
		sh := s.shardOf(&h)
		sh.mu.Lock()
		if pos := sh.find(&h); pos >= 0 {
			// Its entry in the flush list goes with it, so the next flush
			// cannot write it back.
			peers, registrant := sh.removeTorrent(pos)
			s.peerCount.Add(-int64(peers))
			s.torrentCount.Add(-1)
			s.registrants.release(registrant)
		}
		sh.mu.Unlock()
	}
	// Aliases point at the primary: drop any that name a dropped torrent.
	for i := range s.shards {
		ash := &s.shards[i]
		ash.mu.Lock()
		for a, p := range ash.aliases {
			if _, ok := dropped[p]; ok {
				delete(ash.aliases, a)
			}
		}
		ash.mu.Unlock()
	}
}

// ScanResult tells what a directory scan found.
type ScanResult struct {
	// Found counts the torrents read, Failed the files that could not be;
	// Unchanged the files left unread because they have not changed since
	// the scan that last read them. Removed counts the torrents registered
	// from the directory whose file has gone, unregistered by this scan.
	Found, Added, Failed, Unchanged, Removed int
}

// dirScan remembers, between scans, the files a scan read and what they
// were then, so that a rescan reads only what changed: a directory of
// thousands of torrents, or one hostile file, costs one read, not one a
// minute.
type dirScan struct {
	mu sync.Mutex
	// seen holds the stamp of every file read and either registered or
	// refused as no torrent (it stays refused until it changes). A file
	// that failed to read, or whose torrent was not registered, is not
	// there and is read again.
	seen map[string]fileStamp
	// hashes holds the infohash of every file in seen that registered
	// one, so a rescan knows which torrents the directory still holds
	// without reading the unchanged files again.
	hashes map[string][20]byte
	// purged is set by Purge: a torrent it removed whose file is still in
	// the directory comes back at the next scan, as it did before scans
	// skipped anything.
	purged atomic.Bool
}

// fileStamp is what tells a changed file: size, modification time and
// inode (a file replaced by rename gets a new inode, even with the same
// size and time).
type fileStamp struct {
	size, mtime int64
	dev, ino    uint64
}

func stampOf(fi fs.FileInfo) fileStamp {
	st := fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.dev, st.ino = uint64(sys.Dev), uint64(sys.Ino)
	}
	return st
}

// ScanDir registers every .torrent file under dir (source dir, the server's
// mode) that changed since the last scan read it. Broken files are logged
// by name and skipped; the rest are registered in one transaction. Files
// are bounded by Config.MaxTorrentSize.
func (s *Store) ScanDir(dir string) (ScanResult, error) {
	sc := &s.scan
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.purged.Swap(false) {
		sc.seen, sc.hashes = nil, nil
	}
	var (
		res   ScanResult
		ts    []Torrent
		paths []string                                   // the file of each of ts
		read  = map[string]fileStamp{}                   // files read by this scan
		next  = make(map[string]fileStamp, len(sc.seen)) // seen after it
		// nextHashes is hashes after this scan; incomplete is set when a
		// directory under dir could not be read, so files missing from
		// the walk may still be there.
		nextHashes = make(map[string][20]byte, len(sc.hashes))
		incomplete bool
		changed    bool
	)
	o := metainfo.Options{MaxFileSize: s.cfg.MaxTorrentSize, Skip: func(path string, fi fs.FileInfo) bool {
		st := stampOf(fi)
		if old, ok := sc.seen[path]; ok && old == st {
			next[path] = st
			if h, ok := sc.hashes[path]; ok {
				nextHashes[path] = h
			}
			res.Unchanged++
			return true
		}
		read[path] = st
		return false
	}}
	err := o.Walk(dir, func(path string, m *metainfo.Torrent, err error) {
		if err != nil {
			res.Failed++
			if _, isFile := read[path]; !isFile && !isTorrentName(path) {
				incomplete = true
			}
			s.cfg.Log.Warn().Str("file", path).Err(err).Msg("skipping torrent file")
			// A file that is no torrent stays none until it changes; a
			// failure to read it (permissions, say) may not last.
			if errors.Is(err, metainfo.ErrNotTorrent) || errors.Is(err, metainfo.ErrInvalidInfo) || errors.Is(err, metainfo.ErrTooLarge) {
				if st, ok := read[path]; ok {
					next[path] = st
				}
			}
			return
		}
		res.Found++
		// The torrent keeps the absolute path: purge, run from anywhere,
		// checks the file is gone before it removes the torrent. paths
		// keeps the walk's, the key of read.
		origin := path
		if abs, err := filepath.Abs(path); err == nil {
			origin = abs
		}
		ts = append(ts, FromMetainfo(m, modes.Default, SourceDir, origin))
		paths = append(paths, path)
	})
	if err != nil {
		return res, fmt.Errorf("scan %s: %w", dir, err)
	}
	if len(ts) > 0 {
		results, err := s.Register(ts)
		if err != nil {
			sc.seen = next // what was read but not registered is read again
			return res, fmt.Errorf("scan %s: %w", dir, err)
		}
		for i, r := range results {
			if r.Added {
				res.Added++
			}
			if !r.Banned {
				nextHashes[paths[i]] = r.InfoHash
			}
			if old, ok := sc.hashes[paths[i]]; ok && old != r.InfoHash {
				changed = true // the file holds another torrent now
			}
			if r.Banned {
				// Read again only when it changes, or after an unban.
				s.cfg.Log.Warn().Str("file", paths[i]).Hex("info_hash", r.InfoHash[:]).Msg("skipping banned torrent")
			}
			next[paths[i]] = read[paths[i]]
		}
	}
	// The directory is the source of truth for the torrents it
	// registered: one whose file has gone (or holds another torrent now)
	// is unregistered. The database is looked at only on the first scan
	// (files may have gone while the server was down), when a file seen
	// before is missing and when a file holds another torrent.
	gone := sc.seen == nil || changed
	for path := range sc.seen {
		if _, ok := next[path]; !ok {
			if _, ok := read[path]; !ok {
				gone = true
				break
			}
		}
	}
	sc.seen, sc.hashes = next, nextHashes
	switch {
	case gone && incomplete:
		s.cfg.Log.Warn().Str("dir", dir).Msg("part of the torrent directory could not be read: no torrent is unregistered by this scan")
	case gone:
		n, err := s.unregisterGone(dir, read, next, nextHashes)
		res.Removed = n
		if err != nil {
			return res, fmt.Errorf("scan %s: %w", dir, err)
		}
	}
	return res, nil
}

// isTorrentName reports whether a path is named like a .torrent file, as
// the walk picks them.
func isTorrentName(path string) bool {
	return strings.EqualFold(filepath.Ext(path), ".torrent")
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
		if res.Added > 0 || res.Failed > 0 || res.Removed > 0 {
			s.cfg.Log.Info().Str("dir", dir).Int("added", res.Added).Int("failed", res.Failed).Int("removed", res.Removed).
				Int("unchanged", res.Unchanged).Msg("rescanned torrent directory")
		}
	}
}
