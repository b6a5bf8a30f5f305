// Package peerlist keeps one address family's peers of one swarm as a dense
// slice of packed records (see modes.Record4 and modes.Record6): leechers
// first, seeders after them, keyed by address and port.
//
// There is no per-peer index. A list is split into buckets: 2^lbits buckets
// of leechers followed by 2^sbits buckets of seeders, and a peer sits in the
// bucket that the top bits of a seeded hash of its key choose, so a lookup
// scans one leecher bucket and one seeder bucket. A small list is one bucket
// of each (no hashing at all); as a region grows its buckets split in two,
// and they grow with the region (roughly its square root), so that a
// lookup scans a few hundred records at most while adding or removing a
// peer, which shifts every later bucket by one record (moving one record per
// bucket), stays a few microseconds even in a million-peer swarm. The
// bucket boundaries (one uint32 per bucket) sit after the records in the
// same allocation, so a list costs its records plus a few bytes per bucket
// and holds no pointer but the one to that allocation: the garbage
// collector never looks inside a swarm.
//
// A List is not safe for concurrent use; its owner locks.
package peerlist

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"slices"
	"unsafe"

	"johnlocke/modes"
)

// seed keys the bucket hash, so that nobody can choose addresses that all
// land in one bucket.
var seed = maphash.MakeSeed()

// bucketBase is how many peers a region holds in one bucket before it
// splits; bigger regions keep bigger buckets (see regionLimit).
const bucketBase = 64

// regionLimit is how many peers a region of 2^bits buckets holds before its
// buckets split: buckets grow with the square root of the region, which
// balances the scan of one bucket (every lookup) against the shift of every
// later bucket (every join, leave or change between leeching and seeding).
func regionLimit(bits uint8) int { return bucketBase << (bits / 2) << bits }

// bitsFor returns the bucket bits a region of count peers gets when built
// from scratch.
func bitsFor(count int) uint8 {
	var b uint8
	for count > regionLimit(b) {
		b++
	}
	return b
}

// mergeBelow is the count under which a region of 2^bits buckets (bits > 0)
// merges pairs of buckets: half of what the smaller directory holds, so a
// peer coming and going at the boundary does not split and merge each time.
func mergeBelow(bits uint8) int { return regionLimit(bits-1) / 2 }

// List is one swarm's peers of one address family.
type List struct {
	// p points to cap records and, when the list is bucketed, the bucket
	// directory after them: m+1 uint32 starts, m = 2^lbits + 2^sbits,
	// starts[0] = 0, starts[2^lbits] = leechers, starts[m] = n.
	p        unsafe.Pointer
	n        uint32
	cap      uint32
	leechers uint32
	stride   uint8
	lbits    uint8
	sbits    uint8
}

// New returns an empty list of records of stride bytes (modes.Record4 or
// modes.Record6).
func New(stride int) List { return List{stride: uint8(stride)} }

// Stride returns the record size.
func (l *List) Stride() int { return int(l.stride) }

// Len returns the number of peers.
func (l *List) Len() int { return int(l.n) }

// Leechers returns how many peers are leeching; Len()-Leechers() are seeding.
func (l *List) Leechers() int { return int(l.leechers) }

// Seeders returns how many peers are seeding.
func (l *List) Seeders() int { return int(l.n - l.leechers) }

// View returns the policies' view of the list. It is valid until the list
// is next changed.
func (l *List) View() modes.Swarm {
	return modes.Swarm{Records: l.Records(), Stride: int(l.stride), Leechers: int(l.leechers)}
}

// Records returns the packed records, leechers first. The slice is the
// list's own: copy it before the list changes.
func (l *List) Records() []byte {
	if l.n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(l.p), int(l.n)*int(l.stride))
}

// Record returns peer i's record (the list's own bytes).
func (l *List) Record(i int) []byte {
	s := int(l.stride)
	return l.Records()[i*s : (i+1)*s]
}

// Bytes returns the size of the list's allocation: its records, the room
// for more and its bucket directory.
func (l *List) Bytes() int {
	if l.cap == 0 {
		return 0
	}
	return int(l.cap)*int(l.stride) + 4*dirLen(l.lbits, l.sbits)
}

// room returns the whole record area, cap records long.
func (l *List) room() []byte {
	if l.cap == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(l.p), int(l.cap)*int(l.stride))
}

func (l *List) bucketed() bool { return l.lbits|l.sbits != 0 }

func dirLen(lbits, sbits uint8) int {
	if lbits|sbits == 0 {
		return 0
	}
	return 1<<lbits + 1<<sbits + 1
}

// dir returns the bucket directory of a bucketed list.
func (l *List) dir() []uint32 {
	off := uintptr(l.cap) * uintptr(l.stride)
	return unsafe.Slice((*uint32)(unsafe.Add(l.p, off)), dirLen(l.lbits, l.sbits))
}

// starts returns the bucket starts: the directory of a bucketed list, or
// flat (which the caller provides) filled in for a list of one bucket per
// region. After changing a flat list's starts, the caller stores them back
// with setCounts.
func (l *List) starts(flat *[3]uint32) []uint32 {
	if l.bucketed() {
		return l.dir()
	}
	*flat = [3]uint32{0, l.leechers, l.n}
	return flat[:]
}

// setCounts takes n and leechers from starts.
func (l *List) setCounts(st []uint32) {
	l.n = st[len(st)-1]
	l.leechers = st[1<<l.lbits]
}

func hashKey(key []byte) uint64 { return maphash.Bytes(seed, key) }

// top returns the top bits of h: the bucket within a region of 2^bits
// buckets (0 when bits is 0).
func top(h uint64, bits uint8) int { return int(h >> (64 - uint(bits))) }

// bucketOf returns the bucket a key with hash h belongs to in the leecher
// region (seeder false) or the seeder region.
func (l *List) bucketOf(h uint64, seeder bool) int {
	if seeder {
		return 1<<l.lbits + top(h, l.sbits)
	}
	return top(h, l.lbits)
}

func (l *List) keyLen() int { return int(l.stride) - 2 }

// scan returns the position of key among records [from, to), or -1.
func (l *List) scan(recs, key []byte, from, to int) int {
	s := int(l.stride)
	if s == modes.Record4 {
		// Records are eight bytes and the allocation eight-aligned: compare
		// each record's first six bytes as one masked word, in the
		// machine's own byte order.
		if from >= to {
			return -1
		}
		var want uint64
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&want)), 8), key)
		words := unsafe.Slice((*uint64)(unsafe.Pointer(&recs[0])), len(recs)/8)[from:to]
		for i, w := range words {
			if w&keyMask4 == want {
				return from + i
			}
		}
		return -1
	}
	for i := from; i < to; i++ {
		if bytes.Equal(recs[i*s:i*s+s-2], key) {
			return i
		}
	}
	return -1
}

// keyMask4 keeps the address and port of an IPv4 record loaded as a
// uint64 in the machine's byte order.
var keyMask4 = func() uint64 {
	var m uint64
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&m)), 8), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	return m
}()

// find returns the position of key and the bucket holding it, or -1, -1.
// h is the key's hash (unused for a flat list); seederFirst says which
// region to search first (where the peer most likely is).
func (l *List) find(key []byte, h uint64, seederFirst bool) (pos, bucket int) {
	recs := l.Records()
	if !l.bucketed() {
		pos = l.scan(recs, key, 0, int(l.n))
		if pos < 0 {
			return -1, -1
		}
		if pos < int(l.leechers) {
			return pos, 0
		}
		return pos, 1
	}
	st := l.dir()
	for _, seeder := range [2]bool{seederFirst, !seederFirst} {
		b := l.bucketOf(h, seeder)
		if pos = l.scan(recs, key, int(st[b]), int(st[b+1])); pos >= 0 {
			return pos, b
		}
	}
	return -1, -1
}

func (l *List) hashFor(key []byte) uint64 {
	if l.bucketed() {
		return hashKey(key)
	}
	return 0
}

// Find returns the position of the peer with this key (compact address and
// port), or -1.
func (l *List) Find(key []byte) int {
	if len(key) != l.keyLen() || l.n == 0 {
		return -1
	}
	pos, _ := l.find(key, l.hashFor(key), false)
	return pos
}

// Put records an announce from the peer with this key: it is added when new,
// otherwise its stamp and flags are updated, and it moves between the
// leecher and seeder parts when its seeding state changed. Put returns the
// peer's position afterwards and whether it was new. The key must have the
// list's key length (stride-2).
func (l *List) Put(key []byte, stamp, flags uint8) (pos int, added bool) {
	pos, added, _, _ = l.Replace(key, stamp, flags)
	return pos, added
}

// Replace is Put that also returns the stamp and flags the peer had before
// (zero when it was new), for a caller that must tell a renewal from a
// change.
func (l *List) Replace(key []byte, stamp, flags uint8) (pos int, added bool, oldStamp, oldFlags uint8) {
	h := l.hashFor(key)
	isSeeder := flags&modes.FlagSeeder != 0
	pos, bucket := -1, -1
	if l.n > 0 {
		pos, bucket = l.find(key, h, isSeeder)
	}
	var rec [modes.Record6]byte
	s := int(l.stride)
	copy(rec[:], key)
	rec[s-2], rec[s-1] = stamp, flags
	if pos < 0 {
		return l.add(rec[:s], isSeeder), true, 0, 0
	}
	recs := l.Records()
	oldStamp, oldFlags = recs[pos*s+s-2], recs[pos*s+s-1]
	if wasSeeder := pos >= int(l.leechers); wasSeeder == isSeeder {
		recs[pos*s+s-2], recs[pos*s+s-1] = stamp, flags
		return pos, false, oldStamp, oldFlags
	}
	// The peer changes region: out of its bucket, into the other region's.
	var flat [3]uint32
	l.removeAt(l.starts(&flat), bucket, pos)
	return l.add(rec[:s], isSeeder), false, oldStamp, oldFlags
}

// add inserts a record that is not listed yet and returns its position.
func (l *List) add(rec []byte, seeder bool) int {
	count, bits := int(l.leechers), &l.lbits
	if seeder {
		count, bits = int(l.n-l.leechers), &l.sbits
	}
	switch {
	case count+1 > regionLimit(*bits):
		lb, sb := l.lbits, l.sbits
		if seeder {
			sb++
		} else {
			lb++
		}
		l.rebuild(l.grownCap(), lb, sb)
	case l.n == l.cap:
		l.rebuild(l.grownCap(), l.lbits, l.sbits)
	}
	var h uint64
	if l.bucketed() {
		h = hashKey(rec[:l.keyLen()])
	}
	var flat [3]uint32
	st := l.starts(&flat)
	pos := l.insert(st, l.bucketOf(h, seeder), rec)
	l.setCounts(st)
	return pos
}

// grownCap is the capacity to grow to when one more record does not fit:
// one more, which the allocator rounds up to its size class, or a
// sixteenth more once a list is past the small classes (copying each
// record sixteen times over its growth costs less than the room an eighth
// would leave unused).
func (l *List) grownCap() int {
	n := int(l.n) + 1
	return max(int(l.cap), n+n/16)
}

// rebuild moves the list into a new allocation of at least capacity
// records with 2^lbits leecher and 2^sbits seeder buckets, splitting or
// merging buckets to get there.
func (l *List) rebuild(capacity int, lbits, sbits uint8) {
	s := int(l.stride)
	dl := dirLen(lbits, sbits)
	buf := slices.Grow([]byte(nil), capacity*s+4*dl)
	newCap := (cap(buf) - 4*dl) / s
	buf = buf[:cap(buf)]
	copy(buf, l.Records())
	var flat [3]uint32
	old := l.starts(&flat)
	oldL, oldS := l.lbits, l.sbits
	l.p, l.cap = unsafe.Pointer(&buf[0]), uint32(newCap)
	l.lbits, l.sbits = lbits, sbits
	var nflat [3]uint32
	st := l.starts(&nflat)
	recs := l.Records()
	// Leecher region: buckets [0, 2^oldL) become [0, 2^lbits).
	l.reshape(recs, old[:1<<oldL+1], st[:1<<lbits+1], oldL, lbits)
	l.reshape(recs, old[1<<oldL:], st[1<<lbits:], oldS, sbits)
}

// reshape fills a region's new starts (to, 2^toBits+1 entries) from its old
// ones (from, 2^fromBits+1 entries) over records recs: the same, merged
// pairwise when the region loses bits, or each old bucket split in two in
// place when it gains one.
func (l *List) reshape(recs []byte, from, to []uint32, fromBits, toBits uint8) {
	switch {
	case toBits == fromBits:
		copy(to, from)
	case toBits < fromBits:
		step := 1 << (fromBits - toBits)
		for i := range to {
			to[i] = from[i*step]
		}
	case toBits == fromBits+1:
		for b := 0; b+1 < len(from); b++ {
			to[2*b] = from[b]
			to[2*b+1] = uint32(l.split(recs, int(from[b]), int(from[b+1]), fromBits))
		}
		to[len(to)-1] = from[len(from)-1]
	default:
		panic("peerlist: a region gains one bucket bit at a time")
	}
}

// split divides the records [lo, hi) of a bucket of a region with 2^bits
// buckets by the next bit of their hash, in place, and returns where the
// records with that bit set start.
func (l *List) split(recs []byte, lo, hi int, bits uint8) int {
	s, k := int(l.stride), l.keyLen()
	high := func(i int) bool { return hashKey(recs[i*s:i*s+k])>>(63-uint(bits))&1 == 1 }
	var tmp [modes.Record6]byte
	i, j := lo, hi
	for {
		for i < j && !high(i) {
			i++
		}
		for i < j && high(j-1) {
			j--
		}
		if i >= j {
			return i
		}
		a, b := recs[i*s:(i+1)*s], recs[(j-1)*s:j*s]
		copy(tmp[:s], a)
		copy(a, b)
		copy(b, tmp[:s])
		i++
		j--
	}
}

// insert puts rec at the end of bucket b, moving the first record of every
// later bucket to that bucket's end to open the place, and returns its
// position. The record area must have room for one more.
func (l *List) insert(st []uint32, b int, rec []byte) int {
	recs := l.room()
	m := len(st) - 1
	st[m]++
	for j := m - 1; j > b; j-- {
		from, to := int(st[j]), int(st[j+1])-1
		if from != to {
			l.move(recs, to, from)
		}
		st[j]++
	}
	pos := int(st[b+1]) - 1
	s := int(l.stride)
	copy(recs[pos*s:(pos+1)*s], rec)
	return pos
}

// removeAt removes the record at pos of bucket b: the bucket's last record
// fills the hole, and the last record of every later bucket moves to the
// front of its bucket to close the gap. It leaves the list's counts set.
func (l *List) removeAt(st []uint32, b, pos int) {
	recs := l.room()
	m := len(st) - 1
	if last := int(st[b+1]) - 1; last != pos {
		l.move(recs, pos, last)
	}
	for j := b + 1; j < m; j++ {
		from, to := int(st[j+1])-1, int(st[j])-1
		if from != to {
			l.move(recs, to, from)
		}
		st[j]--
	}
	st[m]--
	l.setCounts(st)
}

// move copies record from over record to.
func (l *List) move(recs []byte, to, from int) {
	if l.stride == modes.Record4 {
		binary.LittleEndian.PutUint64(recs[to*8:], binary.LittleEndian.Uint64(recs[from*8:]))
		return
	}
	s := int(l.stride)
	copy(recs[to*s:(to+1)*s], recs[from*s:(from+1)*s])
}

// bucketAt returns the bucket holding position pos.
func (l *List) bucketAt(pos int) int {
	seeder := pos >= int(l.leechers)
	if !l.bucketed() {
		if seeder {
			return 1
		}
		return 0
	}
	s := int(l.stride)
	return l.bucketOf(hashKey(l.Records()[pos*s:pos*s+s-2]), seeder)
}

// RemoveAt removes the peer at position pos. Peers after it may move.
func (l *List) RemoveAt(pos int) {
	var flat [3]uint32
	l.removeAt(l.starts(&flat), l.bucketAt(pos), pos)
	l.mergeIfSparse()
}

// mergeIfSparse halves the buckets of a region that has shrunk well below
// what its buckets are for. The directory shrinks in place.
func (l *List) mergeIfSparse() {
	lb, sb := l.lbits, l.sbits
	for lb > 0 && int(l.leechers) < mergeBelow(lb) {
		lb--
	}
	for sb > 0 && int(l.n-l.leechers) < mergeBelow(sb) {
		sb--
	}
	if lb == l.lbits && sb == l.sbits {
		return
	}
	if lb|sb == 0 {
		// One bucket per region is a flat list: no directory.
		l.lbits, l.sbits = 0, 0
		return
	}
	old, oldL, oldS := l.dir(), l.lbits, l.sbits
	// The new directory is no longer than the old one and each entry is
	// read before it is overwritten: shrink in place.
	nl, ns := 1<<lb, 1<<sb
	stepL, stepS := 1<<(oldL-lb), 1<<(oldS-sb)
	for i := 0; i <= nl; i++ {
		old[i] = old[i*stepL]
	}
	base := 1 << oldL
	for i := 1; i <= ns; i++ {
		old[nl+i] = old[base+i*stepS]
	}
	l.lbits, l.sbits = lb, sb
}

// Remove removes the peer with this key and reports whether it was listed.
func (l *List) Remove(key []byte) bool {
	if len(key) != l.keyLen() || l.n == 0 {
		return false
	}
	pos, bucket := l.find(key, l.hashFor(key), false)
	if pos < 0 {
		return false
	}
	var flat [3]uint32
	l.removeAt(l.starts(&flat), bucket, pos)
	l.mergeIfSparse()
	return true
}

// Sweep removes every peer whose stamp is more than maxAge ticks older than
// now (the low byte of the current tick), returns how many it removed, and
// gives back memory a shrunken list no longer needs.
func (l *List) Sweep(now, maxAge uint8) int {
	if l.n == 0 {
		return 0
	}
	s := int(l.stride)
	recs := l.Records()
	var flat [3]uint32
	st := l.starts(&flat)
	// Compact every bucket towards the front, in order: a record only ever
	// moves to a lower position, and each bucket's new start is written
	// once its old one has been read.
	w := 0
	lo := int(st[0])
	for b := 0; b+1 < len(st); b++ {
		hi := int(st[b+1])
		st[b] = uint32(w)
		for i := lo; i < hi; i++ {
			if modes.Age(now, recs[i*s+s-2]) > maxAge {
				continue
			}
			if w != i {
				l.move(recs, w, i)
			}
			w++
		}
		lo = hi
	}
	removed := int(l.n) - w
	st[len(st)-1] = uint32(w)
	l.setCounts(st)
	if removed == 0 {
		return 0
	}
	l.mergeIfSparse()
	if l.n == 0 {
		*l = List{stride: l.stride}
		return removed
	}
	if int(l.cap) > 2*int(l.n)+8 {
		l.rebuild(int(l.n), l.lbits, l.sbits)
	}
	return removed
}

// Load fills an empty list with records (stride bytes each, leechers and
// seeders in any order), such as a persisted swarm read back; a key listed
// twice is kept once. It uses recs as scratch space and returns how many
// peers the list holds afterwards. A list that is not empty takes the
// records one by one.
func (l *List) Load(recs []byte) int {
	s := int(l.stride)
	n := len(recs) / s
	recs = recs[:n*s]
	if l.n > 0 {
		for off := 0; off < len(recs); off += s {
			l.Put(recs[off:off+s-2], recs[off+s-2], recs[off+s-1])
		}
		return int(l.n)
	}
	if n == 0 {
		return 0
	}
	n = dedup(recs, s)
	recs = recs[:n*s]
	leechers := 0
	for i := range n {
		if recs[i*s+s-1]&modes.FlagSeeder == 0 {
			leechers++
		}
	}
	lb, sb := bitsFor(leechers), bitsFor(n-leechers)
	dl := dirLen(lb, sb)
	buf := slices.Grow([]byte(nil), n*s+4*dl)
	*l = List{
		p:      unsafe.Pointer(&buf[:1][0]),
		cap:    uint32((cap(buf) - 4*dl) / s),
		stride: l.stride,
		lbits:  lb,
		sbits:  sb,
	}
	// Counting sort by bucket: count, turn counts into starts, place.
	var flat [3]uint32
	st := l.starts(&flat)
	for i := range st {
		st[i] = 0
	}
	k := l.keyLen()
	bucket := func(i int) int {
		var h uint64
		if l.bucketed() {
			h = hashKey(recs[i*s : i*s+k])
		}
		return l.bucketOf(h, recs[i*s+s-1]&modes.FlagSeeder != 0)
	}
	for i := range n {
		st[bucket(i)+1]++
	}
	for b := 1; b < len(st); b++ {
		st[b] += st[b-1]
	}
	// Place each record at its bucket's next free place; st[b] walks
	// through bucket b and ends at bucket b+1's start, so shift back after.
	room := l.room()
	for i := range n {
		b := bucket(i)
		at := int(st[b])
		copy(room[at*s:(at+1)*s], recs[i*s:(i+1)*s])
		st[b]++
	}
	copy(st[1:], st[:len(st)-1])
	st[0] = 0
	l.setCounts(st)
	return n
}

// dedup sorts recs by key and drops every record whose key an earlier one
// has, returning how many are left.
func dedup(recs []byte, s int) int {
	n := len(recs) / s
	if n < 2 {
		return n
	}
	k := s - 2
	switch s {
	case modes.Record4:
		// Any order that brings equal keys together will do. Loaded as
		// words, the key is the low 48 bits on a little-endian machine:
		// rotate it to the top so a plain sort of words groups keys, then
		// rotate back.
		ws := unsafe.Slice((*uint64)(unsafe.Pointer(&recs[0])), n)
		rot := 0
		if keyMask4 == 1<<48-1 {
			rot = 16
		}
		for i := range ws {
			ws[i] = bits.RotateLeft64(ws[i], rot)
		}
		slices.Sort(ws)
		for i := range ws {
			ws[i] = bits.RotateLeft64(ws[i], -rot)
		}
	case modes.Record6:
		rs := unsafe.Slice((*[modes.Record6]byte)(unsafe.Pointer(&recs[0])), n)
		slices.SortFunc(rs, func(a, b [modes.Record6]byte) int { return bytes.Compare(a[:k], b[:k]) })
	default:
		panic("peerlist: unknown record size")
	}
	w := 1
	for i := 1; i < n; i++ {
		if bytes.Equal(recs[i*s:i*s+k], recs[(w-1)*s:(w-1)*s+k]) {
			continue
		}
		if w != i {
			copy(recs[w*s:(w+1)*s], recs[i*s:(i+1)*s])
		}
		w++
	}
	return w
}
