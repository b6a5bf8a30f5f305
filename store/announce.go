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
// caller's buffers have grown to size (except that a torrent whose IPv6
// peers all leave gives up its IPv6 list, and the next one makes a new one).
func (s *Store) Announce(req *Request, resp *Response) error {
	hash := req.InfoHash
	// The clock is read before the shard is locked: a read costs tens of
	// nanoseconds on some virtual machines, time the lock need not be held.
	sec, tick := s.clockNow()
	sh, pos := s.find(&hash)
	if pos < 0 {
		var err error
		if pos, err = s.organic(sh, &hash, req); err != nil {
			if err == errNothingToRegister {
				sh.tallies.announces[req.Proto%NumProtos][s.cfg.Mode&modeMask][req.Event&3]++
				if req.Event != EventStopped {
					sh.tallies.turnedAway++
				}
				s.answerEmpty(sh, resp)
				err = nil
			}
			sh.mu.Unlock()
			return err
		}
	}
	s.apply(sh, pos, req, resp, tick, sec)
	sh.mu.Unlock()
	return nil
}

// find locks the shard that holds hash's torrent, following a hybrid
// torrent's alias to its primary infohash, and returns it with the
// torrent's position in it. When the infohash is unknown, pos is -1 and
// hash's own shard is locked.
func (s *Store) find(hash *[20]byte) (sh *shard, pos int) {
	sh = s.shardOf(hash)
	sh.mu.Lock()
	if pos = sh.find(hash); pos >= 0 {
		return sh, pos
	}
	primary, isAlias := sh.aliases[*hash]
	if !isAlias {
		return sh, -1
	}
	sh.mu.Unlock()
	home := s.shardOf(&primary)
	home.mu.Lock()
	if pos = home.find(&primary); pos >= 0 {
		return home, pos
	}
	// The torrent went away between the two locks (a purge): answer as
	// for an unknown infohash, from its own shard.
	home.mu.Unlock()
	sh.mu.Lock()
	return sh, -1
}

// organic registers an unknown infohash on its first announce, when the
// tracker is unlocked, the announce leaves a peer in the swarm, the file
// can be written, and both the tracker and the announcer's address are
// below their torrent bounds; it returns the torrent's position. A refused
// announce creates nothing. sh must be locked.
func (s *Store) organic(sh *shard, hash *[20]byte, req *Request) (int, error) {
	if s.banned.has(hash) {
		return -1, ErrBanned
	}
	if s.cfg.Locked {
		return -1, ErrUnregistered
	}
	if req.Event == EventStopped || s.peerCount.Load() >= int64(s.cfg.MaxPeersTotal) {
		// The torrent would be created with no peer: nothing a swarm
		// needs, and a free way to fill the registry.
		return -1, errNothingToRegister
	}
	if s.writesFailing.Load() {
		return -1, ErrNotStoring
	}
	if s.torrentCount.Load() >= int64(s.cfg.MaxTorrents) {
		return -1, ErrTorrentLimit
	}
	registrant := registrantOf(req)
	if !s.registrants.take(registrant, s.cfg.MaxTorrentsPerAddr) {
		return -1, ErrAddrTorrentLimit
	}
	t := newTorrent(*hash, modes.Default)
	t.flags |= flagOrganic
	pos := sh.add(t)
	*sh.registrant(pos) = registrant
	s.torrentCount.Add(1)
	sh.markDirty(pos, dirtyRecord)
	return pos, nil
}

// answerEmpty answers an announce that registered nothing: no peers, no
// counts, the server mode's intervals. sh must be locked (for its random
// source).
func (s *Store) answerEmpty(sh *shard, resp *Response) {
	resp.Interval, resp.MinInterval = modes.Intervals(s.cfg.Mode, s.timing[s.cfg.Mode], s.rate.Load(), &sh.rand)
}

func newTorrent(hash [20]byte, mode modes.Mode) torrent {
	t := torrent{hash: hash, v4: peerlist.New(modes.Record4)}
	t.setMode(mode)
	return t
}

// apply updates the swarm of the torrent at pos with req, as of tick (unix
// second sec), and fills resp. sh must be locked.
func (s *Store) apply(sh *shard, pos int, req *Request, resp *Response, tick uint32, sec int64) {
	t := sh.at(pos)
	mode := t.mode().Or(s.cfg.Mode)
	timing := &s.timing[mode]
	sh.announces++
	sh.tallies.announces[req.Proto%NumProtos][mode&modeMask][req.Event&3]++
	// A nil buffer is a store no cluster node is attached to: one
	// predictable branch.
	self := s.update(sh, pos, req, mode, tick, uint8(tick), sec, sh.changes != nil)
	seeder := req.Left == 0
	t = sh.at(pos)

	// Answer from the requester's family, and the other one when it may
	// take both.
	// (An empty list stands in for a torrent without IPv6 peers.)
	v4, v6 := &t.v4, sh.peers6(t)
	var none6 peerlist.List
	if v6 == nil {
		none6 = peerlist.New(modes.Record6)
		v6 = &none6
	}
	own, other := v4, v6
	if req.Is6 {
		own, other = v6, v4
	}
	view := own.View()
	if req.BothFamilies {
		o := other.View()
		view.OtherRecords, view.OtherStride, view.OtherLeechers = o.Records, o.Stride, o.Leechers
	}
	max := s.cfg.MaxPeers
	if req.NumWant >= 0 && int(req.NumWant) < max {
		max = int(req.NumWant)
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
		Tuning: s.cfg.Tuning,
	}
	sel := modes.Select(mode, view, &pick, sh.sel[:0])
	for _, i := range sel {
		isOther, pos := view.Locate(int(i))
		if isOther == req.Is6 {
			resp.Peers4 = append(resp.Peers4, v4.Record(pos)[:modes.Record4-2]...)
		} else {
			resp.Peers6 = append(resp.Peers6, v6.Record(pos)[:modes.Record6-2]...)
		}
	}

	seeders, leechers := swarmCounts(v4, v6)
	resp.Complete = uint32(seeders)
	resp.Incomplete = uint32(leechers)
	resp.Downloaded = t.completed
	resp.Interval, resp.MinInterval = modes.Intervals(mode, *timing, s.rate.Load(), &sh.rand)
}

// update applies req to the swarm of the torrent at pos (whose effective
// mode is mode), as of tick (unix second sec), stamping the peer with
// stamp; it returns the peer's position in its family's list, or -1 when
// it is not listed. With capture, a change other nodes must hear of is
// appended to the shard's change buffer. sh must be locked.
func (s *Store) update(sh *shard, pos int, req *Request, mode modes.Mode, tick uint32, stamp uint8, sec int64, capture bool) (self int) {
	t := sh.at(pos)
	var key [18]byte
	keyLen := 6
	if req.Is6 {
		copy(key[:], req.Addr[:])
		keyLen = 18
	} else {
		copy(key[:], req.Addr[:4])
	}
	binary.BigEndian.PutUint16(key[keyLen-2:], req.Port)
	peerKey := key[:keyLen]

	seeder := req.Left == 0
	self = -1
	// event is what the captured change reports: a completion only when
	// this node counted one.
	event := req.Event
	if event == EventCompleted {
		event = EventNone
	}
	changed := false
	leaving := req.Event == EventStopped || req.Event == EventCompleted && mode.LeavesOnComplete()
	own := &t.v4
	if req.Is6 {
		// A leaving peer needs no list; a new one gets one.
		if own = sh.peers6(t); own == nil && !leaving {
			own = sh.peers6ToAdd(t)
		}
	}
	// A completion counts once per peer: only from a peer the swarm knows
	// as a leecher. A UDP client retrying a lost answer sends "completed"
	// again, by then as a seeder (or gone, in modes where completers
	// leave).
	if req.Event == EventCompleted && own != nil {
		if i := own.Find(s.peerSeed, peerKey); i >= 0 && i < own.Leechers() {
			t.completed++
			sh.markDirty(pos, dirtyRecord)
			// The change that carries the peer on says so, so the
			// other nodes count it too.
			event = EventCompleted
		}
	}
	switch {
	case leaving:
		if own != nil && own.Remove(s.peerSeed, peerKey) {
			s.peerCount.Add(-1)
			changed = true
			if capture {
				sh.capture(t, req, req.Event, 0)
			}
			if req.Is6 {
				sh.dropEmpty6(t)
			}
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
		var added bool
		var oldStamp, oldFlags uint8
		self, added, oldStamp, oldFlags = s.putPeer(own, peerKey, stamp, flags)
		// A peer announcing again within the minute, as it was, leaves
		// its record as it was: nothing for the flush to rewrite.
		changed = self >= 0 && (added || oldStamp != stamp || oldFlags != flags)
		if capture && self >= 0 && (added || oldFlags != flags || event == EventCompleted || s.renewalDue(mode, tick, oldStamp)) {
			sh.capture(t, req, event, flags)
		}
		if self < 0 {
			sh.tallies.turnedAway++
		}
		if req.Is6 && self < 0 {
			sh.dropEmpty6(t) // over budget: keep no empty list
		}
	}
	// The record is written once a minute at most (the first announce of
	// each tick marks it); the second of the latest announce rides along
	// in memory for the flush and for a running server's stats.
	if t.lastActive != uint16(tick) {
		sh.markDirty(pos, dirtyRecord)
	}
	t.setLastActive(tick, sec)
	if changed && mode.PersistsPeers() {
		sh.markDirty(pos, dirtySwarm)
	}
	return self
}

// putPeer stores a peer unless it is new and the peer budget is spent; it
// returns the peer's position, or -1 when it was not stored, whether it
// was new, and the stamp and flags it had before.
func (s *Store) putPeer(l *peerlist.List, key []byte, stamp, flags uint8) (pos int, added bool, oldStamp, oldFlags uint8) {
	if s.peerCount.Load() >= int64(s.cfg.MaxPeersTotal) && l.Find(s.peerSeed, key) < 0 {
		if !s.overBudget.Swap(true) {
			s.cfg.Log.Warn().Int("max_peers_total", s.cfg.MaxPeersTotal).
				Msg("peer budget reached: new peers get peer lists but are not stored")
		}
		return -1, false, 0, 0
	}
	pos, added, oldStamp, oldFlags = l.Replace(s.peerSeed, key, stamp, flags)
	if added {
		s.peerCount.Add(1)
	}
	return pos, added, oldStamp, oldFlags
}

// Scrape returns a torrent's counts (BEP 48); ok is false when the infohash
// is not registered.
func (s *Store) Scrape(hash [20]byte) (counts ScrapeCounts, ok bool) {
	sh, pos := s.find(&hash)
	if pos >= 0 {
		t := sh.at(pos)
		sh.tallies.scraped[t.mode().Or(s.cfg.Mode)&modeMask]++
		seeders, leechers := sh.counts(t)
		counts = ScrapeCounts{
			Complete:   uint32(seeders),
			Incomplete: uint32(leechers),
			Downloaded: t.completed,
		}
	}
	sh.mu.Unlock()
	return counts, pos >= 0
}
