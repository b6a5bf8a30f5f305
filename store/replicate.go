package store

import (
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"johnlocke/migrate"
	"johnlocke/modes"
	"johnlocke/store/peerlist"
)

// What a cluster node (store/cluster) exchanges with the store. The store
// owns every rule: what an announce captures for the other nodes, and how
// a change from another node is applied (the announce's own path, minus
// the answer and the capture). The node owns the wire.

// ChangeSize is the size of one change record:
//
//	[0:20]  infohash (the primary one)
//	[20:36] address: an IPv4 address in its first four bytes, the rest zero
//	[36:38] port, big-endian
//	[38]    flags: the peer's modes.FlagSeeder and modes.FlagUploader in
//	        bits 0-1, the event in bits 2-3, IPv6 in bit 7
//	[39]    age in ticks (0 for a live change; a snapshot's peers are older)
const ChangeSize = 40

const (
	changeFlagPeer  = modes.FlagSeeder | modes.FlagUploader
	changeEventBit  = 2
	changeFlagIPv6  = 1 << 7
	changeOffAddr   = 20
	changeOffPort   = 36
	changeOffFlags  = 38
	changeOffAge    = 39
	maxRenewalTicks = 5
)

// changesPerShard bounds the changes one shard holds between two takes of
// the publisher (every 100 ms, or sooner when a shard is half full):
// 256 shards × 256 × 40 bytes is 2.5 MiB once a node is attached. One hot
// torrent fills one shard alone, so the half-full wake-up is what carries
// a patch day; the other half is the headroom for the publisher's
// wake-up. Past it a change is dropped and counted; the peer's next
// announce repairs what the other nodes missed.
const changesPerShard = 256

// changesWakeAt is the buffer length, in bytes, at which a shard wakes the
// publisher: half full.
const changesWakeAt = changesPerShard / 2 * ChangeSize

// capture appends the change of req (reported as event, with the peer's
// flags) to the shard's buffer, or counts it dropped when the buffer is
// full. sh must be locked and attached.
func (sh *shard) capture(t *torrent, req *Request, event Event, flags uint8) {
	n := len(sh.changes)
	if n+ChangeSize > cap(sh.changes) {
		sh.changesDropped++
		return
	}
	sh.changes = sh.changes[:n+ChangeSize]
	if n == changesWakeAt {
		// Half full before the publisher's next round: one hot torrent
		// (patch day) fills its shard far faster than the rest, so the
		// publisher is woken now instead of dropping the other half.
		select {
		case sh.changesReady <- struct{}{}:
		default:
		}
	}
	c := sh.changes[n:]
	copy(c[:20], t.hash[:])
	b := flags&changeFlagPeer | uint8(event&3)<<changeEventBit
	if req.Is6 {
		copy(c[changeOffAddr:changeOffPort], req.Addr[:])
		b |= changeFlagIPv6
	} else {
		copy(c[changeOffAddr:], req.Addr[:4])
		clear(c[changeOffAddr+4 : changeOffPort])
	}
	binary.BigEndian.PutUint16(c[changeOffPort:], req.Port)
	c[changeOffFlags] = b
	c[changeOffAge] = 0
}

// renewalDue reports whether a peer last stamped oldStamp and announcing
// again at tick should be passed on to the other nodes although nothing
// about it changed: once per renewal period of its mode, when its
// announces cross into a new one. A peer announcing more often than that
// is passed on at most once a period; one announcing less often, every
// time.
func (s *Store) renewalDue(mode modes.Mode, tick uint32, oldStamp uint8) bool {
	every := s.capture.renewEvery[mode]
	last := tick - uint32(uint8(tick)-oldStamp)
	return last/every != tick/every
}

// captureState is the store's side of an attached cluster node.
type captureState struct {
	// renewEvery is, per mode, the renewal period in ticks: at most
	// maxRenewalTicks (five minutes), and at most half the mode's peer
	// timeout so another node never lets a live peer expire.
	renewEvery [modes.Surge + 1]uint32
	// takeMu makes TakeChanges one caller at a time; spare is the buffer
	// it swaps into the next shard.
	takeMu sync.Mutex
	spare  []byte
	// ready wakes the publisher when a shard's buffer is half full.
	ready chan struct{}
	// listener hears of registry changes; guarded by writeMu.
	listener RegistryListener
}

// CaptureChanges attaches a cluster node: from now on, each announce that
// changes what other nodes must know (a new peer, a seeder/leecher change,
// a counted completion, a peer leaving, and a renewal once per renewal
// period) appends a change record to its shard's buffer, for TakeChanges.
// The buffers are allocated here, once.
func (s *Store) CaptureChanges() {
	for m := range s.capture.renewEvery {
		half := uint32(s.timing[m].PeerTimeout / modes.Tick / 2)
		s.capture.renewEvery[m] = max(1, min(maxRenewalTicks, half))
	}
	s.capture.takeMu.Lock()
	if s.capture.ready == nil {
		s.capture.ready = make(chan struct{}, 1)
	}
	s.capture.takeMu.Unlock()
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		if sh.changes == nil {
			sh.changes = make([]byte, 0, changesPerShard*ChangeSize)
			sh.changesReady = s.capture.ready
		}
		sh.mu.Unlock()
	}
}

// ChangesReady is ready when some shard's captured changes fill half its
// buffer, so the publisher takes them before its next round instead of
// letting the shard drop changes. It is nil (never ready) until
// CaptureChanges is called.
func (s *Store) ChangesReady() <-chan struct{} {
	s.capture.takeMu.Lock()
	defer s.capture.takeMu.Unlock()
	return s.capture.ready
}

// TakeChanges calls fn with each shard's captured changes, taken out under
// the shard's lock by swapping two buffers (no copy); fn must not keep
// the slice. It returns how many changes were dropped since the last call
// because a shard's buffer was full.
func (s *Store) TakeChanges(fn func(changes []byte)) (dropped int) {
	c := &s.capture
	c.takeMu.Lock()
	defer c.takeMu.Unlock()
	if c.spare == nil {
		c.spare = make([]byte, 0, changesPerShard*ChangeSize)
	}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		full := sh.changes
		if full == nil {
			sh.mu.Unlock()
			continue
		}
		sh.changes = c.spare[:0]
		dropped += int(sh.changesDropped)
		sh.changesDropped = 0
		sh.mu.Unlock()
		if len(full) > 0 {
			fn(full)
		}
		c.spare = full[:0]
	}
	return dropped
}

// ApplyChanges applies change records from another node, each through the
// path an announce takes (same shard lock, same organic-registration and
// locked-tracker checks, same peer budget), but picks no peers, answers
// nothing and captures nothing, so nothing echoes back. Applying a change
// twice leaves what applying it once did (a renewal refreshes the peer).
// It returns how many were applied and how many refused (an unregistered
// infohash on a locked tracker, a banned one, a registration bound).
// A trailing partial record is ignored.
func (s *Store) ApplyChanges(changes []byte) (applied, refused int) {
	sec, tick := s.clockNow()
	var req Request
	for off := 0; off+ChangeSize <= len(changes); off += ChangeSize {
		c := changes[off : off+ChangeSize]
		decodeChange(c, &req)
		if s.applyRemote(&req, tick, uint8(tick-uint32(c[changeOffAge])), sec) {
			applied++
		} else {
			refused++
		}
	}
	return applied, refused
}

// decodeChange fills req from change record c, as an announce that would
// make the same change.
func decodeChange(c []byte, req *Request) {
	*req = Request{NumWant: -1}
	copy(req.InfoHash[:], c[:20])
	b := c[changeOffFlags]
	req.Is6 = b&changeFlagIPv6 != 0
	if req.Is6 {
		copy(req.Addr[:], c[changeOffAddr:changeOffPort])
	} else {
		copy(req.Addr[:4], c[changeOffAddr:])
	}
	req.Port = binary.BigEndian.Uint16(c[changeOffPort:])
	req.Event = Event(b>>changeEventBit) & 3
	if b&modes.FlagSeeder == 0 {
		req.Left = 1
	}
	if b&modes.FlagUploader != 0 {
		req.Uploaded = 1
	}
}

// applyRemote is Announce for a change from another node: the same find
// and organic registration, then update without capture, stamping the
// peer with stamp. It reports whether the change was accepted.
func (s *Store) applyRemote(req *Request, tick uint32, stamp uint8, sec int64) bool {
	hash := req.InfoHash
	sh, pos := s.find(&hash)
	if pos < 0 {
		var err error
		if pos, err = s.organic(sh, &hash, req); err != nil {
			sh.mu.Unlock()
			// A stopped peer of a swarm this node does not have changes
			// nothing, and is no refusal.
			return err == errNothingToRegister
		}
	}
	mode := sh.at(pos).mode().Or(s.cfg.Mode)
	s.update(sh, pos, req, mode, tick, stamp, sec, false)
	sh.mu.Unlock()
	return true
}

// NumShards is how many shards AppendSwarms takes, 0 to NumShards-1.
const NumShards = numShards

// AppendSwarms appends to dst a change record, with its age, for every
// peer of shard i's torrents, copied under the shard's lock (one shard at
// a time, so a snapshot holds no announce up for long).
func (s *Store) AppendSwarms(i int, dst []byte) []byte {
	_, tick := s.clockNow()
	sh := &s.shards[i]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for pos := range sh.n {
		t := sh.at(pos)
		dst = appendPeers(dst, &t.hash, &t.v4, tick)
		if l := sh.peers6(t); l != nil {
			dst = appendPeers(dst, &t.hash, l, tick)
		}
	}
	return dst
}

// appendPeers appends a change record for each peer of l.
func appendPeers(dst []byte, hash *[20]byte, l *peerlist.List, tick uint32) []byte {
	stride := l.Stride()
	is6 := stride == modes.Record6
	recs := l.Records()
	for off := 0; off+stride <= len(recs); off += stride {
		r := recs[off : off+stride]
		var c [ChangeSize]byte
		copy(c[:20], hash[:])
		copy(c[changeOffAddr:], r[:stride-4])
		copy(c[changeOffPort:], r[stride-4:stride-2])
		c[changeOffFlags] = r[stride-1] & changeFlagPeer
		if is6 {
			c[changeOffFlags] |= changeFlagIPv6
		}
		c[changeOffAge] = uint8(tick) - r[stride-2]
		dst = append(dst, c[:]...)
	}
	return dst
}

// RegistryListener hears of the registry changes made on this node
// (imports, --dir scans, mode changes, removals, bans, unbans), to pass
// them on to the other nodes. Its methods are called with the store's
// write lock held: they must not block, nor call back into the store.
type RegistryListener interface {
	Registered(ts []Torrent)
	Removed(hashes [][20]byte, ban bool, reason string)
	Unbanned(hashes [][20]byte)
}

// SetRegistryListener attaches l (nil detaches).
func (s *Store) SetRegistryListener(l RegistryListener) {
	s.writeMu.Lock()
	s.capture.listener = l
	s.writeMu.Unlock()
}

// RegisterRemote is Register for torrents another node registered: the
// listener does not hear of it again.
func (s *Store) RegisterRemote(ts []Torrent) ([]RegisterResult, error) {
	return s.register(ts, false)
}

// RemoveRemote is Remove for a removal another node made, not passed on
// again.
func (s *Store) RemoveRemote(hashes [][20]byte, ban bool, reason string) ([]RemoveResult, error) {
	return s.remove(hashes, ban, reason, true, false)
}

// UnbanRemote is Unban for bans another node lifted, not passed on again.
func (s *Store) UnbanRemote(hashes [][20]byte) ([]bool, error) {
	return s.unban(hashes, false)
}

// RegistrySince calls fn with every torrent registered on purpose (not
// organically) and added at or after since, from the file, without live
// counts: what a node that last wrote its file at since may have missed.
func (s *Store) RegistrySince(since time.Time, fn func(*Torrent) error) error {
	return s.db.forEachRecord(func(t *Torrent) error {
		if t.Source == SourceOrganic || t.Added.Before(since) {
			return nil
		}
		return fn(t)
	})
}

// CompletedSize is the size of a completed-count record: infohash (20),
// count (4, big-endian).
const CompletedSize = 24

// AppendCompleted appends to dst a completed-count record for each of
// shard i's torrents that has one, copied under the shard's lock: a
// joining node learns of the completions it missed while it was down.
func (s *Store) AppendCompleted(i int, dst []byte) []byte {
	sh := &s.shards[i]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for pos := range sh.n {
		t := sh.at(pos)
		if t.completed == 0 {
			continue
		}
		dst = append(dst, t.hash[:]...)
		dst = binary.BigEndian.AppendUint32(dst, t.completed)
	}
	return dst
}

// ApplyCompleted raises the completed count of each known torrent named
// in recs to the one recorded, when that is higher (a count only grows,
// so the highest any node saw is the truest); unknown torrents are
// skipped. It returns how many counts it raised.
func (s *Store) ApplyCompleted(recs []byte) (raised int) {
	for off := 0; off+CompletedSize <= len(recs); off += CompletedSize {
		var hash [20]byte
		copy(hash[:], recs[off:])
		count := binary.BigEndian.Uint32(recs[off+20:])
		sh, pos := s.find(&hash)
		if pos >= 0 {
			if t := sh.at(pos); count > t.completed {
				t.completed = count
				sh.markDirty(pos, dirtyRecord)
				raised++
			}
		}
		sh.mu.Unlock()
	}
	return raised
}

// RegistryState calls fn for each of hashes, in one read transaction, with
// its registry record when it is registered on purpose, or nil when it is
// not (removed, banned, never known, or known only organically): what a
// rejoining node must copy for the torrents changed while it was down. It
// looks hashes up by key only; a hybrid alias reads as not registered, and
// the primary hash the same torrent was registered under says otherwise.
func (s *Store) RegistryState(hashes [][20]byte, fn func(hash [20]byte, t *Torrent) error) error {
	d := s.db
	err := d.bolt.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(migrate.BucketTorrents)
		for _, h := range hashes {
			v := b.Get(h[:])
			if v == nil {
				if err := fn(h, nil); err != nil {
					return err
				}
				continue
			}
			t, err := decodeRecord(h[:], v)
			if err != nil {
				return err
			}
			rec := &t
			if t.Source == SourceOrganic {
				rec = nil
			}
			if err := fn(h, rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("database %s: %w", d.path, err)
	}
	return nil
}
