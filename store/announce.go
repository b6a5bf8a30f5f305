package store

import (
	"encoding/binary"

	"johnlocke/modes"
	"johnlocke/store/peerlist"
)

// Announce applies one announce to its swarm and answers it: peers chosen by
// the torrent's mode are appended to resp.Peers4 and resp.Peers6, and the
// counts and intervals are filled in. It holds one shard lock for the whole
// of it, touches no disk and allocates nothing once the swarm and the
// caller's buffers have grown to size.
func (s *Store) Announce(req *Request, resp *Response) error {
	hash := req.InfoHash
	sh, t := s.find(&hash)
	if t == nil {
		var err error
		if t, err = s.organic(sh, &hash); err != nil {
			sh.mu.Unlock()
			return err
		}
	}
	s.apply(sh, t, req, resp)
	sh.mu.Unlock()
	return nil
}

// find locks the shard that holds hash's torrent, following a hybrid
// torrent's alias to its primary infohash, and returns it with the torrent.
// When the infohash is unknown, t is nil and hash's own shard is locked.
func (s *Store) find(hash *[20]byte) (sh *shard, t *torrent) {
	sh = s.shardOf(hash)
	sh.mu.Lock()
	if t = sh.torrents[*hash]; t != nil {
		return sh, t
	}
	primary, isAlias := sh.aliases[*hash]
	if !isAlias {
		return sh, nil
	}
	sh.mu.Unlock()
	home := s.shardOf(&primary)
	home.mu.Lock()
	if t = home.torrents[primary]; t != nil {
		return home, t
	}
	// The torrent went away between the two locks (a purge): answer as
	// for an unknown infohash, from its own shard.
	home.mu.Unlock()
	sh.mu.Lock()
	return sh, nil
}

// organic registers an unknown infohash on its first announce, when the
// tracker is unlocked and below its torrent bound. sh must be locked.
func (s *Store) organic(sh *shard, hash *[20]byte) (*torrent, error) {
	if s.cfg.Locked {
		return nil, ErrUnregistered
	}
	if s.torrentCount.Load() >= int64(s.cfg.MaxTorrents) {
		return nil, ErrTorrentLimit
	}
	t := newTorrent(*hash, modes.Default)
	sh.torrents[*hash] = t
	s.torrentCount.Add(1)
	sh.markDirty(t, dirtyRecord)
	return t, nil
}

func newTorrent(hash [20]byte, mode modes.Mode) *torrent {
	return &torrent{
		hash: hash,
		mode: mode,
		v4:   peerlist.New(modes.Record4),
		v6:   peerlist.New(modes.Record6),
	}
}

// apply updates t's swarm with req and fills resp. sh must be locked.
func (s *Store) apply(sh *shard, t *torrent, req *Request, resp *Response) {
	mode := t.mode.Or(s.cfg.Mode)
	timing := &s.timing[mode]
	tick := s.tickNow()
	sh.announces++

	own, other := &t.v4, &t.v6
	var key [18]byte
	keyLen := 6
	if req.Is6 {
		own, other = &t.v6, &t.v4
		copy(key[:], req.Addr[:])
		keyLen = 18
	} else {
		copy(key[:], req.Addr[:4])
	}
	binary.BigEndian.PutUint16(key[keyLen-2:], req.Port)
	peerKey := key[:keyLen]

	seeder := req.Left == 0
	self := -1
	changed := false
	if req.Event == EventCompleted {
		t.completed++
		sh.markDirty(t, dirtyRecord)
	}
	switch {
	case req.Event == EventStopped,
		req.Event == EventCompleted && mode.LeavesOnComplete():
		if own.Remove(peerKey) {
			s.peerCount.Add(-1)
			changed = true
		}
	default:
		var flags uint8
		if seeder {
			flags |= modes.FlagSeeder
		}
		// Small keeps no per-peer statistics, not even whether one uploads.
		if req.Uploaded > 0 && mode != modes.Small {
			flags |= modes.FlagUploader
		}
		self = s.putPeer(own, peerKey, uint8(tick), flags)
		changed = true
	}
	if t.lastActive != tick {
		t.lastActive = tick
		sh.markDirty(t, dirtyRecord)
	}
	if changed && mode.PersistsPeers() {
		sh.markDirty(t, dirtySwarm)
	}

	max := s.cfg.MaxPeers
	if req.NumWant >= 0 && int(req.NumWant) < max {
		max = int(req.NumWant)
	}
	view := own.View()
	if req.BothFamilies {
		o := other.View()
		view.OtherRecords, view.OtherStride, view.OtherLeechers = o.Records, o.Stride, o.Leechers
	}
	if self >= 0 {
		self = view.Index(self)
	}
	pick := modes.Pick{
		Self:   self,
		Seeder: seeder,
		Max:    max,
		Now:    uint8(tick),
		Recent: uint8(timing.Interval / modes.Tick),
		Cursor: &t.cursor,
		Rand:   &sh.rand,
	}
	sel := modes.Select(mode, view, &pick, sh.sel[:0])
	for _, i := range sel {
		isOther, pos := view.Locate(int(i))
		if isOther == req.Is6 {
			resp.Peers4 = append(resp.Peers4, t.v4.Record(pos)[:modes.Record4-2]...)
		} else {
			resp.Peers6 = append(resp.Peers6, t.v6.Record(pos)[:modes.Record6-2]...)
		}
	}

	resp.Complete = uint32(t.v4.Seeders() + t.v6.Seeders())
	resp.Incomplete = uint32(t.v4.Leechers() + t.v6.Leechers())
	resp.Downloaded = t.completed
	resp.Interval, resp.MinInterval = modes.Intervals(mode, *timing, s.rate.Load(), &sh.rand)
}

// putPeer stores a peer unless it is new and the peer budget is spent; it
// returns the peer's position, or -1 when it was not stored.
func (s *Store) putPeer(l *peerlist.List, key []byte, stamp, flags uint8) int {
	if l.Find(key) < 0 && s.peerCount.Load() >= int64(s.cfg.MaxPeersTotal) {
		if !s.overBudget.Swap(true) {
			s.cfg.Log.Warn().Int("max_peers_total", s.cfg.MaxPeersTotal).
				Msg("peer budget reached: new peers get peer lists but are not stored")
		}
		return -1
	}
	pos, added := l.Put(key, stamp, flags)
	if added {
		s.peerCount.Add(1)
	}
	return pos
}

// Scrape returns a torrent's counts (BEP 48); ok is false when the infohash
// is not registered.
func (s *Store) Scrape(hash [20]byte) (counts ScrapeCounts, ok bool) {
	sh, t := s.find(&hash)
	if t != nil {
		counts = ScrapeCounts{
			Complete:   uint32(t.v4.Seeders() + t.v6.Seeders()),
			Incomplete: uint32(t.v4.Leechers() + t.v6.Leechers()),
			Downloaded: t.completed,
		}
	}
	sh.mu.Unlock()
	return counts, t != nil
}
