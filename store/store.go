// Package store remembers torrents and swarms: a sharded in-memory hot cache
// that answers every announce, and the bbolt file behind it, written behind
// the announces by a flusher so that disk never slows one down. It also
// offers what the subcommands need — register, look up, purge — both on a
// file no server holds (DB) and inside a running server (Store).
package store

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"johnlocke/modes"
	"johnlocke/store/peerlist"
)

// Defaults and bounds of a Store.
const (
	// DefaultMaxTorrents bounds organic registration (--locked=false): a
	// flood of made-up infohashes must not grow memory without limit.
	DefaultMaxTorrents = 1_000_000
	// DefaultMaxPeersTotal is the peer budget: past it a new peer still gets
	// a peer list but is not stored. At 8-20 bytes a record this is a few
	// hundred MiB at most.
	DefaultMaxPeersTotal = 20_000_000
	// torrentsPerAddrShare is the default bound on the organic torrents one
	// source address (an IPv4 address or an IPv6 /64) may hold: 1 in 100 of
	// MaxTorrents (10,000 of the default million). A seedbox announcing its
	// few thousand torrents at start fits; one address flooding made-up
	// infohashes leaves 99% of the registry to everyone else.
	torrentsPerAddrShare = 100
	// DefaultFlushInterval is how often dirty swarms are written.
	DefaultFlushInterval = 5 * time.Second
	// numShards spreads swarms over independent locks; a power of two so the
	// first infohash byte picks a shard.
	numShards = 256
)

// Config configures a Store.
type Config struct {
	// Mode is the server's mode, for torrents registered without their own.
	Mode modes.Mode
	// Locked refuses announces for unregistered infohashes.
	Locked bool
	// MaxTorrents bounds how many torrents organic registration may reach.
	MaxTorrents int
	// MaxTorrentsPerAddr bounds how many organic torrents one source
	// address (IPv4 address or IPv6 /64) may hold at once; 0 means 1% of
	// MaxTorrents (at least 1), a negative value no per-address bound.
	MaxTorrentsPerAddr int
	// MaxPeersTotal bounds how many peers the tracker stores.
	MaxPeersTotal int
	// MaxPeers caps every peer list (--maxpeers).
	MaxPeers int
	// Interval and MinInterval, when positive, override every mode's.
	Interval, MinInterval time.Duration
	// FlushInterval is how often Run writes dirty state.
	FlushInterval time.Duration
	// MaxTorrentSize bounds each .torrent file ScanDir reads (and, through
	// metainfo.DecodedLimit, what decoding it may take); zero means
	// metainfo.DefaultMaxFileSize.
	MaxTorrentSize int64
	// Tuning overrides the modes' policy constants; the zero value keeps
	// them. Only the simulator's defaults study sets it.
	Tuning modes.Tuning
	// PeerSeed keys the hash that places peers in a swarm's buckets, which
	// decides the order peer lists are drawn from. The zero value draws a
	// random one from crypto/rand, as serve must (a client who knew it
	// could choose addresses that pile into one bucket). Only the
	// simulator sets it, so that a run repeats in another process.
	PeerSeed peerlist.Seed
	// Now is the clock; nil means time.Now. Tests inject their own.
	Now func() time.Time
	Log zerolog.Logger
}

// Store is the live tracker state: registry and swarms in memory, backed by
// a DB.
type Store struct {
	db     *DB
	cfg    Config
	timing [modes.Surge + 1]modes.Timing
	shards [numShards]shard

	torrentCount atomic.Int64
	peerCount    atomic.Int64
	overBudget   atomic.Bool
	// writesFailing is set while flushes fail (a full disk): new torrents
	// are refused then, since they would live only in memory.
	writesFailing atomic.Bool
	registrants   registrants
	gone          goneList
	// rate is the announce rate (per second) measured by MeasureRate;
	// surge intervals grow with it.
	rate atomic.Uint32
	// peerSeed keys every peer list's bucket hash (Config.PeerSeed).
	peerSeed peerlist.Seed

	// writeMu serialises every write this process makes to the file
	// (flushes, registrations, purges) so a flush can never write back a
	// torrent that a purge has just removed.
	writeMu    sync.Mutex
	flushBuf   []byte
	flushBatch []pending
	recBuf     []byte
	// loadBuf is scratch space for restoring persisted swarms.
	loadBuf []byte

	// scan remembers the files ScanDir has read.
	scan dirScan
	// banned is the deny list (remove --ban), for unregistered infohashes.
	banned banSet
	// flushes records what the flushes did, for the metrics.
	flushes flushRecord
	// capture is what an attached cluster node needs (replicate.go).
	capture captureState
}

type shard struct {
	mu sync.Mutex
	table
	// v6 holds the IPv6 peers of the torrents that have any (most swarms
	// have none, so a torrent value carries no room for them).
	v6 map[[20]byte]*peerlist.List
	// aliases maps the second infohash of a hybrid torrent to its primary
	// one, which may live in another shard.
	aliases map[[20]byte][20]byte
	// dirty lists the positions of the torrents with dirty bits set.
	dirty     []uint32
	rand      modes.Rand
	sel       []int32
	announces uint32
	// tallies are the shard's share of the metrics, written under mu.
	tallies shardCounts
	// changes holds the changes captured for other cluster nodes since the
	// publisher last took them (see CaptureChanges); nil when no node is
	// attached. changesDropped counts those that found it full.
	changes        []byte
	changesDropped uint32
	// changesReady is the store's wake-up for the publisher (see
	// ChangesReady), nil when no node is attached.
	changesReady chan struct{}
	// pad keeps neighbouring shards' locks off one cache line (the
	// shard is 512 bytes).
	_ [24]byte
}

// torrent is one swarm in memory, a value in its shard's table. Names,
// sizes and origins stay in the file: memory holds only what an announce
// needs. It is 56 bytes.
type torrent struct {
	v4        peerlist.List
	hash      [20]byte
	completed uint32
	// cursor is the policies' rotation state for the whole swarm (small's
	// last_start, surge's seeder rotation).
	cursor uint32
	// lastActive is the low 16 bits of the tick of the last announce: a
	// flush, which writes the full time, follows it within minutes, and
	// otherwise it only tells whether this tick's announce is the first.
	lastActive uint16
	// modeSec holds the torrent's own mode in its low bits and, above
	// them, the second within lastActive's minute of the last announce, so
	// `stats` can say when a torrent was last active to the second without
	// a wider field (which would take the value past 56 bytes).
	modeSec uint8
	// flags holds the dirty bits, flagHas6 and flagOrganic.
	flags uint8
}

// modeBits of modeSec hold the mode; the compile-time check below fails if
// a new mode no longer fits them.
const (
	modeBits = 2
	modeMask = 1<<modeBits - 1
)

var _ = [modeMask - modes.Surge]struct{}{}

func (t *torrent) mode() modes.Mode { return modes.Mode(t.modeSec & modeMask) }

func (t *torrent) setMode(m modes.Mode) { t.modeSec = t.modeSec&^modeMask | uint8(m)&modeMask }

// setLastActive records an announce at unix second sec, whose tick is tick.
func (t *torrent) setLastActive(tick uint32, sec int64) {
	t.lastActive = uint16(tick)
	t.modeSec = t.modeSec&modeMask | uint8(sec%60)<<modeBits
}

// lastActiveAt returns the unix second of the last announce, its tick
// counted back from now; the torrent must have been announced.
func (t *torrent) lastActiveAt(now uint32) int64 {
	return int64(fullTick(t.lastActive, now))*secondsPerTick + int64(t.modeSec>>modeBits)
}

// secondsPerTick is modes.Tick in seconds.
const secondsPerTick = int64(modes.Tick / time.Second)

const (
	// flagHas6 tells that the shard's v6 map holds IPv6 peers for a torrent.
	flagHas6 uint8 = 1 << 7
	// flagOrganic marks a torrent registered by its first announce
	// (--locked=false), which the sweep removes once its swarm is empty.
	flagOrganic uint8 = 1 << 6
)

func (t *torrent) dirty() uint8  { return t.flags & (dirtyRecord | dirtySwarm) }
func (t *torrent) has6() bool    { return t.flags&flagHas6 != 0 }
func (t *torrent) organic() bool { return t.flags&flagOrganic != 0 }

// fullTick returns the tick whose low 16 bits are low and which is the
// latest not after now.
func fullTick(low uint16, now uint32) uint32 { return now - uint32(uint16(now)-low) }

// Dirty bits: what a flush must write for a torrent.
const (
	dirtyRecord uint8 = 1 << 0 // counters, last activity, or a new organic torrent
	dirtySwarm  uint8 = 1 << 1 // the persisted peer list
)

// Open opens (creating if needed) the database at path, brings its schema up
// to date and loads the registry and the persisted swarms into memory.
// DB().Created tells whether the file is new.
func Open(path string, cfg Config) (*Store, error) {
	db, err := OpenDB(path, OpenOptions{Create: true})
	if err != nil {
		return nil, err
	}
	s := newStore(db, cfg)
	err = s.load()
	if err == nil {
		err = db.recordServeMode(s.cfg.Mode)
	}
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := s.loadBanned(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// DefaultMaxTorrentsPerAddr is the bound a Config's MaxTorrentsPerAddr of
// 0 stands for, given its MaxTorrents; exported so that serve can say what
// it runs with (--print-config).
func DefaultMaxTorrentsPerAddr(maxTorrents int) int {
	return max(1, maxTorrents/torrentsPerAddrShare)
}

func newStore(db *DB, cfg Config) *Store {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxTorrents <= 0 {
		cfg.MaxTorrents = DefaultMaxTorrents
	}
	if cfg.MaxTorrentsPerAddr == 0 {
		cfg.MaxTorrentsPerAddr = DefaultMaxTorrentsPerAddr(cfg.MaxTorrents)
	}
	if cfg.MaxPeersTotal <= 0 {
		cfg.MaxPeersTotal = DefaultMaxPeersTotal
	}
	if cfg.MaxPeers <= 0 {
		cfg.MaxPeers = 50
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = DefaultFlushInterval
	}
	if !cfg.Mode.Valid() || cfg.Mode == modes.Default {
		cfg.Mode = modes.Large
	}
	if cfg.PeerSeed.IsZero() {
		cfg.PeerSeed = peerlist.NewSeed()
	}
	s := &Store{db: db, cfg: cfg, peerSeed: cfg.PeerSeed}
	s.registrants.count = make(map[uint64]int32)
	for m := modes.Small; m <= modes.Surge; m++ {
		t := modes.DefaultTiming(m)
		if cfg.Interval > 0 {
			t.Interval = cfg.Interval
			t.PeerTimeout = modes.PeerTimeoutFor(cfg.Interval)
		}
		if cfg.MinInterval > 0 {
			t.MinInterval = cfg.MinInterval
		}
		s.timing[m] = t
	}
	seed := uint64(cfg.Now().UnixNano())
	for i := range s.shards {
		sh := &s.shards[i]
		sh.seed = maphash.MakeSeed()
		sh.v6 = make(map[[20]byte]*peerlist.List)
		sh.aliases = make(map[[20]byte][20]byte)
		sh.rand = modes.NewRand(seed + uint64(i)*0x9e3779b97f4a7c15)
		sh.sel = make([]int32, 0, modes.BufferLen(cfg.MaxPeers))
	}
	return s
}

// DB returns the database behind the store.
func (s *Store) DB() *DB { return s.db }

// Mode returns the server's mode.
func (s *Store) Mode() modes.Mode { return s.cfg.Mode }

// Timing returns the timing the store applies to a mode.
func (s *Store) Timing(m modes.Mode) modes.Timing { return s.timing[m.Or(s.cfg.Mode)] }

func (s *Store) shardOf(hash *[20]byte) *shard { return &s.shards[hash[0]] }

// Run keeps the store healthy until ctx is done: it measures the announce
// rate, sweeps expired peers and flushes dirty state every flush interval.
// It returns after a final flush; Close afterwards releases the file.
func (s *Store) Run(ctx context.Context) error {
	second := time.NewTicker(time.Second)
	defer second.Stop()
	flush := time.NewTicker(s.cfg.FlushInterval)
	defer flush.Stop()
	lastSweep := s.cfg.Now()
	for {
		select {
		case <-ctx.Done():
			return s.finalFlush()
		case <-second.C:
			s.MeasureRate()
			if now := s.cfg.Now(); now.Sub(lastSweep) >= modes.Tick {
				lastSweep = now
				s.Sweep()
			}
		case <-flush.C:
			if err := s.Flush(); err != nil {
				// Flush has put the state back as dirty; the next tick
				// retries, and the operator must hear of it now.
				s.cfg.Log.Error().Err(err).Msg("flush failed; will retry")
			}
		}
	}
}

// MeasureRate takes the announces counted since its last call as the
// announce rate per second, which surge's interval grows with. It must be
// called once a second: Run does so on the wall clock, the simulator on
// its simulated one (so a simulated surge adapts as a served one does).
// It returns the rate.
func (s *Store) MeasureRate() uint32 {
	var total uint32
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		total += sh.announces
		sh.announces = 0
		sh.mu.Unlock()
	}
	s.rate.Store(total)
	return total
}

// Close flushes what is dirty and closes the file.
func (s *Store) Close() error {
	ferr := s.Flush()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close %s: %w", s.db.path, err)
	}
	return ferr
}

// Counts returns how many torrents and peers the store holds.
func (s *Store) Counts() (torrents, peers int64) {
	return s.torrentCount.Load(), s.peerCount.Load()
}

func (s *Store) tickNow() uint32 { return modes.TickOf(s.cfg.Now()) }

// clockNow returns the unix second and the tick now, from one clock read.
func (s *Store) clockNow() (sec int64, tick uint32) {
	sec = s.cfg.Now().Unix()
	return sec, uint32(sec / secondsPerTick)
}

// markDirty records that the torrent at pos has something to write; sh
// must be locked.
func (sh *shard) markDirty(pos int, bits uint8) {
	t := sh.at(pos)
	if t.dirty() == 0 {
		sh.dirty = append(sh.dirty, uint32(pos))
	}
	t.flags |= bits
}

// peers6 returns t's IPv6 peers, nil when it has none; sh must be locked.
func (sh *shard) peers6(t *torrent) *peerlist.List {
	if !t.has6() {
		return nil
	}
	return sh.v6[t.hash]
}

// peers6ToAdd returns t's IPv6 peer list, creating an empty one when it has
// none yet; sh must be locked.
func (sh *shard) peers6ToAdd(t *torrent) *peerlist.List {
	if l := sh.peers6(t); l != nil {
		return l
	}
	l := new(peerlist.List)
	*l = peerlist.New(modes.Record6)
	sh.v6[t.hash] = l
	t.flags |= flagHas6
	return l
}

// dropEmpty6 forgets t's IPv6 list once it is empty; sh must be locked.
func (sh *shard) dropEmpty6(t *torrent) {
	if l := sh.peers6(t); l != nil && l.Len() == 0 {
		delete(sh.v6, t.hash)
		t.flags &^= flagHas6
	}
}

// counts returns t's seeders and leechers over both families; sh must be
// locked.
func (sh *shard) counts(t *torrent) (seeders, leechers int) {
	if l := sh.peers6(t); l != nil {
		return swarmCounts(&t.v4, l)
	}
	return t.v4.Seeders(), t.v4.Leechers()
}

// swarmCounts returns the seeders and leechers of a swarm's two lists.
func swarmCounts(v4, v6 *peerlist.List) (seeders, leechers int) {
	return v4.Seeders() + v6.Seeders(), v4.Leechers() + v6.Leechers()
}

// removeTorrent removes the torrent at pos from the shard, with its IPv6
// peers and its place in the dirty list, and returns how many peers it
// held and who registered it; sh must be locked.
func (sh *shard) removeTorrent(pos int) (peers int, registrant uint64) {
	peers, registrant, moved := sh.dropTorrent(pos)
	// The dirty list names positions: forget the removed torrent's and
	// follow the one that moved into its place.
	w := 0
	for _, p := range sh.dirty {
		switch int(p) {
		case pos:
			continue
		case moved:
			p = uint32(pos)
		}
		sh.dirty[w] = p
		w++
	}
	sh.dirty = sh.dirty[:w]
	return peers, registrant
}

// dropTorrent is removeTorrent leaving the dirty list as it is (a caller
// removing many rebuilds it once): it returns the old position of the
// torrent that moved into pos.
func (sh *shard) dropTorrent(pos int) (peers int, registrant uint64, moved int) {
	t := sh.at(pos)
	peers = t.v4.Len()
	if l := sh.peers6(t); l != nil {
		peers += l.Len()
		delete(sh.v6, t.hash)
	}
	registrant = *sh.registrant(pos)
	return peers, registrant, sh.remove(pos)
}
