package loadgen

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
)

// The event mix of a peer's periodic announces (in per mille): a stopped
// peer starts again on its next announce, in its first role (a fresh
// session), and a leecher that completes seeds from then on.
const (
	stopPerMille     = 10
	completePerMille = 10
)

// torrentSize is what a leecher reports as left (left=0 for a seeder).
const torrentSize = 1 << 30

// Peer ports: when every worker has its own source address, peer j of a
// worker announces port firstPort + j%numPorts, so each worker holds up to
// numPorts distinct identities; when they share one, peer i announces
// firstPort + i%numPorts, so numPorts identities in all. Beyond that,
// identities repeat.
const (
	firstPort = 1025
	numPorts  = 65535 - firstPort + 1
)

// peerIDPrefix is the Azureus-style client tag at the start of every peer id.
const peerIDPrefix = "-JL0001-"

// Announce events, numbered as BEP 15 numbers them.
type event uint8

const (
	evNone      event = 0
	evCompleted event = 1
	evStarted   event = 2
	evStopped   event = 3
)

// httpEventParam is each event's query parameter.
var httpEventParam = [...]string{
	evNone:      "",
	evCompleted: "&event=completed",
	evStarted:   "&event=started",
	evStopped:   "&event=stopped",
}

// Salts keep the streams derived from one seed apart.
const (
	saltHashes  = 0x9e3779b97f4a7c15
	saltPopular = 0xbf58476d1ce4e5b9
	saltRole    = 0x94d049bb133111eb
	saltPeerID  = 0x2545f4914f6cdd1d
	saltKey     = 0x5851f42d4c957f2d
	saltWorker  = 0x14057b7ef767814f
)

// mix is splitmix64's finaliser: a cheap, well-spread hash of x.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// workload is the simulated swarm mix, shared read-only by all workers.
// Peer i belongs to worker i%workers, as that worker's peer i/workers.
type workload struct {
	// ownSources says whether each worker has its own source address.
	ownSources bool
	seed       uint64
	seeders    float64
	workers    int
	peers      int
	hashes     [][20]byte
	torrents   []uint32 // peer i's torrent
}

func newWorkload(cfg Config) *workload {
	wl := &workload{
		seed:    cfg.Seed,
		seeders: cfg.Seeders,
		workers: cfg.Concurrency,
		peers:   cfg.Peers,
		hashes:  cfg.InfoHashes,
	}
	if len(wl.hashes) == 0 {
		wl.hashes = generateInfoHashes(cfg.Torrents, cfg.Seed)
	}
	// Popularity: rank r (0 the busiest) is drawn with Zipf weights, and a
	// permutation decides which torrent has which rank, so the busiest is
	// not always the first of a file.
	r := rand.New(rand.NewPCG(cfg.Seed, saltPopular))
	perm := r.Perm(len(wl.hashes))
	zipf := rand.NewZipf(r, cfg.Skew, 1, uint64(len(wl.hashes)-1))
	wl.torrents = make([]uint32, cfg.Peers)
	for i := range wl.torrents {
		wl.torrents[i] = uint32(perm[zipf.Uint64()])
	}
	return wl
}

// generateInfoHashes returns n infohashes derived from seed.
func generateInfoHashes(n int, seed uint64) [][20]byte {
	r := rand.New(rand.NewPCG(seed, saltHashes))
	out := make([][20]byte, n)
	for i := range out {
		binary.LittleEndian.PutUint64(out[i][0:], r.Uint64())
		binary.LittleEndian.PutUint64(out[i][8:], r.Uint64())
		binary.LittleEndian.PutUint32(out[i][16:], r.Uint32())
	}
	return out
}

// localPeers is how many peers worker w owns.
func (wl *workload) localPeers(w int) int {
	return (wl.peers - w + wl.workers - 1) / wl.workers
}

// startsSeeding reports whether peer i is a seeder from its first announce.
func (wl *workload) startsSeeding(i int) bool {
	u := mix(wl.seed^saltRole^uint64(i)) >> 11
	return float64(u)/(1<<53) < wl.seeders
}

// peerID writes peer i's 20-byte peer id: the client tag and 12 bytes
// derived from i, most of which need percent-encoding in a URL.
func (wl *workload) peerID(i int, id *[20]byte) {
	copy(id[:], peerIDPrefix)
	a := mix(wl.seed ^ saltPeerID ^ uint64(i))
	binary.LittleEndian.PutUint64(id[8:], a)
	binary.LittleEndian.PutUint32(id[16:], uint32(mix(a)))
}

// key is peer i's announce key.
func (wl *workload) key(i int) uint32 {
	return uint32(mix(wl.seed ^ saltKey ^ uint64(i)))
}

// port is the port a's peer announces.
func (wl *workload) port(a job) uint16 {
	n := a.peer
	if wl.ownSources {
		n = a.local
	}
	return uint16(firstPort + n%numPorts)
}

// sourceAddr is the local address worker w binds to, or the zero Addr to
// let the system choose: one address per worker in 127.1.0.0/16 when the
// target is IPv4 loopback (see the package comment).
func sourceAddr(target netip.Addr, w int, single bool) netip.Addr {
	if single || !target.Is4() || !target.IsLoopback() {
		return netip.Addr{}
	}
	n := uint32(w%0xfffe) + 1
	return netip.AddrFrom4([4]byte{127, 1, byte(n >> 8), byte(n)})
}

// Peer state bits, one byte per peer, owned by its worker.
const (
	stActive uint8 = 1 << 0 // announced and not stopped since
	stSeeder uint8 = 1 << 1
)

// peers is a worker's share of the workload and its walk through it: every
// peer announces "started" once in order, then peers are picked at random.
type peers struct {
	wl     *workload
	w      int
	state  []uint8
	cursor int
	rng    *rand.Rand
}

func newPeers(wl *workload, w int) *peers {
	p := &peers{
		wl:    wl,
		w:     w,
		state: make([]uint8, wl.localPeers(w)),
		rng:   rand.New(rand.NewPCG(wl.seed^saltWorker, uint64(w))),
	}
	for j := range p.state {
		if wl.startsSeeding(w + j*wl.workers) {
			p.state[j] = stSeeder
		}
	}
	return p
}

// job is one request's worth of workload.
type job struct {
	peer    int // global index
	local   int // index within the worker
	torrent uint32
	ev      event
	left    uint64
}

// next picks the next peer and moves it through its life: started, then
// periodic announces, some completed, some stopped.
func (p *peers) next() job {
	var j int
	if p.cursor < len(p.state) {
		j = p.cursor
		p.cursor++
	} else {
		j = p.rng.IntN(len(p.state))
	}
	i := p.w + j*p.wl.workers
	old := p.state[j]
	s := old
	ev := evNone
	switch {
	case s&stActive == 0:
		ev = evStarted
		s |= stActive
	default:
		r := p.rng.Uint32N(1000)
		switch {
		case r < stopPerMille:
			ev = evStopped
			s = 0
			if p.wl.startsSeeding(i) {
				s = stSeeder
			}
		case s&stSeeder == 0 && r < stopPerMille+completePerMille:
			ev = evCompleted
			s |= stSeeder
		}
	}
	p.state[j] = s
	a := job{peer: i, local: j, torrent: p.wl.torrents[i], ev: ev}
	// left is what the peer has still to fetch as it sends this announce:
	// a stopping peer reports its last role, a completing one 0.
	role := s
	if ev == evStopped {
		role = old
	}
	if role&stSeeder == 0 {
		a.left = torrentSize / 2
	}
	return a
}
