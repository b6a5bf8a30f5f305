package simulate

import (
	"math/rand/v2"
	"slices"
)

// Model constants: the BitTorrent client behaviour every simulated peer
// follows, named as the mainline client's defaults are.
const (
	// RegularSlots is how many peers a leecher unchokes for their upload
	// to it (tit-for-tat), besides the optimistic one.
	RegularSlots = 3
	// RechokeEvery is how often, in seconds, unchoking is recomputed.
	RechokeEvery = 10
	// OptimisticEvery is how often, in seconds, the optimistic unchoke moves.
	OptimisticEvery = 30
)

// peer is one simulated BitTorrent client.
type peer struct {
	id         int
	up, down   float64 // capacities, pieces per second
	have       []bool
	haveN      int
	inFlight   []bool
	partial    []float64 // what was received of pieces no connection fetches now
	avail      []int32   // how many neighbours have each piece
	conns      []*conn
	fixed      bool // a fixed seeder that never leaves
	gone       bool
	joined     float64
	firstPiece float64 // -1 until the first piece arrives
	done       float64 // -1 until complete
	leaveAt    float64 // when a finished peer leaves; <0 never
	nextAnn    float64
	lastAnn    float64
	minIntvl   float64
	uploaded   float64 // pieces' worth sent
	downloaded float64 // pieces' worth received
	seedCursor int     // round-robin position of a seeder's unchoking
	optimistic *conn
	idleSec    float64 // seconds with upload capacity and nobody to send to
}

func (p *peer) seeder() bool { return p.haveN == len(p.have) }

// conn is one connection between peers a and b. Index 0 of the per-direction
// fields is b sending to a (a downloads), index 1 a sending to b.
type conn struct {
	a, b     *peer
	unchoked [2]bool    // the sender lets the receiver download
	piece    [2]int     // piece being fetched, -1 for none
	progress [2]float64 // fraction of that piece received
	recent   [2]float64 // pieces received this rechoke period
	offer    [2]float64 // this step's offered amount
}

// side returns the direction in which p receives and the other end.
func (c *conn) side(p *peer) (dir int, other *peer) {
	if c.a == p {
		return 0, c.b
	}
	return 1, c.a
}

// ends returns the receiver and sender of direction dir.
func (c *conn) ends(dir int) (recv, send *peer) {
	if dir == 0 {
		return c.a, c.b
	}
	return c.b, c.a
}

// swarm is the peers of one torrent and the model's step.
type swarm struct {
	pieces   int
	maxConns int
	rng      *rand.Rand
	peers    []*peer // every peer ever, by id
	live     []*peer // peers present
	now      float64
	dt       float64
	// metCount counts pairs that were ever connected, when met is kept.
	met map[[2]int]bool
	// wastedOffers counts seeder–seeder pairs among tracker answers.
	handed, wasted int
}

func newSwarm(pieces, maxConns int, dt float64, rng *rand.Rand) *swarm {
	return &swarm{pieces: pieces, maxConns: maxConns, dt: dt, rng: rng}
}

// add creates a peer joining now; seed gives it the whole file.
func (s *swarm) add(up, down float64, seed bool) *peer {
	p := &peer{
		id: len(s.peers), up: up, down: down,
		have: make([]bool, s.pieces), inFlight: make([]bool, s.pieces),
		partial: make([]float64, s.pieces),
		avail:   make([]int32, s.pieces), joined: s.now,
		firstPiece: -1, done: -1, leaveAt: -1, nextAnn: s.now,
	}
	if seed {
		for i := range p.have {
			p.have[i] = true
		}
		p.haveN = s.pieces
		p.done = s.now
	}
	s.peers = append(s.peers, p)
	s.live = append(s.live, p)
	return p
}

// connected reports whether p and q share a connection.
func connected(p, q *peer) bool {
	for _, c := range p.conns {
		if _, o := c.side(p); o == q {
			return true
		}
	}
	return false
}

// connect opens a connection from p to q when both have room, neither is
// gone and they are not both seeders; it reports whether it did.
func (s *swarm) connect(p, q *peer) bool {
	if p == q || q.gone || p.gone || len(p.conns) >= s.maxConns || len(q.conns) >= s.maxConns {
		return false
	}
	if p.seeder() && q.seeder() || connected(p, q) {
		return false
	}
	c := &conn{a: p, b: q, piece: [2]int{-1, -1}}
	p.conns = append(p.conns, c)
	q.conns = append(q.conns, c)
	for i := range s.pieces {
		if q.have[i] {
			p.avail[i]++
		}
		if p.have[i] {
			q.avail[i]++
		}
	}
	if s.met != nil {
		s.met[pairKey(p.id, q.id)] = true
	}
	return true
}

func pairKey(a, b int) [2]int {
	if a > b {
		a, b = b, a
	}
	return [2]int{a, b}
}

// release stops fetching direction dir's piece, keeping what was received
// of it for whichever connection fetches it next (clients resume a piece
// block by block from any peer).
func (c *conn) release(dir int) {
	if pc := c.piece[dir]; pc >= 0 {
		recv, _ := c.ends(dir)
		recv.inFlight[pc] = false
		recv.partial[pc] = c.progress[dir]
		c.piece[dir] = -1
		c.progress[dir] = 0
	}
}

// assign starts fetching piece pc in direction dir, from what was kept.
func (c *conn) assign(dir, pc int) {
	recv, _ := c.ends(dir)
	c.piece[dir] = pc
	c.progress[dir] += recv.partial[pc]
	recv.partial[pc] = 0
	recv.inFlight[pc] = true
}

// disconnect closes c; partial pieces on it are kept by their receivers.
func (s *swarm) disconnect(c *conn) {
	for dir := range 2 {
		c.release(dir)
	}
	for i := range s.pieces {
		if c.b.have[i] {
			c.a.avail[i]--
		}
		if c.a.have[i] {
			c.b.avail[i]--
		}
	}
	for _, p := range []*peer{c.a, c.b} {
		p.conns = slices.DeleteFunc(p.conns, func(x *conn) bool { return x == c })
		if p.optimistic == c {
			p.optimistic = nil
		}
	}
}

// leave takes p out of the swarm.
func (s *swarm) leave(p *peer) {
	for len(p.conns) > 0 {
		s.disconnect(p.conns[len(p.conns)-1])
	}
	p.gone = true
	s.live = slices.DeleteFunc(s.live, func(x *peer) bool { return x == p })
}

// interested reports whether recv lacks a piece send has.
func interested(recv, send *peer) bool {
	if recv.seeder() {
		return false
	}
	if send.seeder() {
		return true
	}
	for i, h := range send.have {
		if h && !recv.have[i] {
			return true
		}
	}
	return false
}

// pickPiece chooses, among the pieces send has and recv lacks and is not
// already fetching, a piece recv has begun (strict priority, as clients
// finish partial pieces first), else rarest-first the one fewest of recv's
// neighbours have; ties go to a random one. It returns -1 when there is
// none.
func (s *swarm) pickPiece(recv, send *peer) int {
	best, ties := -1, 0
	var bestAvail int32
	for i := range s.pieces {
		if !send.have[i] || recv.have[i] || recv.inFlight[i] {
			continue
		}
		a := recv.avail[i]
		if recv.partial[i] > 0 {
			a = -1
		}
		switch {
		case best < 0 || a < bestAvail:
			best, bestAvail, ties = i, a, 1
		case a == bestAvail:
			ties++
			if s.rng.IntN(ties) == 0 {
				best = i
			}
		}
	}
	return best
}

// rechoke recomputes whom p uploads to. A leecher unchokes the
// RegularSlots interested peers that sent it most in the last period, plus
// one optimistic peer moved every OptimisticEvery seconds; a seeder
// unchokes RegularSlots+1 interested peers round-robin.
func (s *swarm) rechoke(p *peer, moveOptimistic bool) {
	var cands []*conn
	for _, c := range p.conns {
		dir, o := c.side(p)
		c.unchoked[1-dir] = false
		c.release(1 - dir)
		if interested(o, p) {
			cands = append(cands, c)
		}
	}
	slots := RegularSlots + 1
	if len(cands) == 0 {
		p.optimistic = nil
		return
	}
	unchoke := func(c *conn) {
		dir, _ := c.side(p)
		c.unchoked[1-dir] = true
	}
	if p.seeder() {
		n := min(slots, len(cands))
		for i := range n {
			unchoke(cands[(p.seedCursor+i)%len(cands)])
		}
		p.seedCursor = (p.seedCursor + n) % max(1, len(cands))
		return
	}
	// Tit-for-tat: by what each sent p this period, most first.
	slices.SortStableFunc(cands, func(x, y *conn) int {
		dx, _ := x.side(p)
		dy, _ := y.side(p)
		switch rx, ry := x.recent[dx], y.recent[dy]; {
		case rx > ry:
			return -1
		case rx < ry:
			return 1
		}
		return 0
	})
	regular := min(RegularSlots, len(cands))
	for _, c := range cands[:regular] {
		unchoke(c)
	}
	rest := cands[regular:]
	if moveOptimistic || p.optimistic == nil || !slices.Contains(rest, p.optimistic) {
		p.optimistic = nil
		if len(rest) > 0 {
			p.optimistic = rest[s.rng.IntN(len(rest))]
		}
	}
	if p.optimistic != nil {
		unchoke(p.optimistic)
	}
}

// step moves every transfer on by dt seconds. Each uploader splits its
// capacity evenly over the unchoked peers that want a piece from it; each
// downloader takes at most its own capacity, scaling every offer down
// alike when they add up to more. A connection thus carries the smaller of
// the uploader's share and the downloader's free capacity. It returns the
// peers that completed.
func (s *swarm) step() (completed []*peer) {
	// Offers: every unchoked direction with a piece to fetch.
	for _, u := range s.live {
		var active int
		for _, c := range u.conns {
			dir, d := c.side(u)
			dir = 1 - dir // direction in which u sends to d
			c.offer[dir] = 0
			if !c.unchoked[dir] || d.seeder() {
				continue
			}
			if c.piece[dir] < 0 {
				pc := s.pickPiece(d, u)
				if pc < 0 {
					continue
				}
				c.assign(dir, pc)
			}
			active++
		}
		if active == 0 {
			u.idleSec += s.dt
			continue
		}
		share := u.up * s.dt / float64(active)
		for _, c := range u.conns {
			dir, _ := c.side(u)
			dir = 1 - dir
			if c.unchoked[dir] && c.piece[dir] >= 0 {
				c.offer[dir] = share
			}
		}
	}
	// Downloaders scale what they are offered to their capacity, then
	// receive it.
	var gained []*peer
	for _, d := range s.live {
		if d.seeder() {
			continue
		}
		var total float64
		for _, c := range d.conns {
			dir, _ := c.side(d)
			total += c.offer[dir]
		}
		if total == 0 {
			continue
		}
		scale := min(1, d.down*s.dt/total)
		for _, c := range d.conns {
			dir, u := c.side(d)
			amount := c.offer[dir] * scale
			if amount == 0 {
				continue
			}
			c.offer[dir] = 0
			u.uploaded += amount
			d.downloaded += amount
			c.recent[dir] += amount
			c.progress[dir] += amount
			if c.progress[dir] >= 1 {
				// The piece is whole; what is left over starts the next
				// piece from the same uploader.
				pc := c.piece[dir]
				c.progress[dir]--
				left := c.progress[dir]
				c.piece[dir] = -1
				c.progress[dir] = 0
				d.inFlight[pc] = false
				s.gain(d, pc)
				if pc2 := s.pickPiece(d, u); pc2 >= 0 {
					c.assign(dir, pc2)
					c.progress[dir] += left
				}
			}
		}
		gained = append(gained, d)
	}
	for _, d := range gained {
		if d.seeder() && d.done < 0 {
			d.done = s.now + s.dt
			completed = append(completed, d)
		}
	}
	return completed
}

// gain gives d piece pc and tells its neighbours.
func (s *swarm) gain(d *peer, pc int) {
	if d.have[pc] {
		return
	}
	d.have[pc] = true
	d.haveN++
	if d.firstPiece < 0 {
		d.firstPiece = s.now + s.dt
	}
	for _, c := range d.conns {
		_, o := c.side(d)
		o.avail[pc]++
	}
}

// dropSeederPairs closes the connections of a peer that just completed to
// other seeders: neither wants anything from the other.
func (s *swarm) dropSeederPairs(p *peer) {
	for i := len(p.conns) - 1; i >= 0; i-- {
		if i >= len(p.conns) {
			continue
		}
		c := p.conns[i]
		if _, o := c.side(p); o.seeder() {
			s.disconnect(c)
		}
	}
}
