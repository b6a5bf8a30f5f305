// Package peerlist keeps one address family's peers of one swarm as a dense
// slice of packed records (see modes.Record4 and modes.Record6): leechers
// first, seeders after them, keyed by address and port. Small lists are
// searched linearly; once a list is big it gets an open-addressing index of
// int32 positions, which costs about eight bytes a peer and holds no
// pointers, so the garbage collector never looks inside a swarm.
//
// A List is not safe for concurrent use; its owner locks.
package peerlist

import (
	"bytes"
	"hash/maphash"

	"johnlocke/modes"
)

// indexFrom is the size from which a list keeps an index: below it a linear
// scan over at most indexFrom*20 bytes is as fast as hashing.
const indexFrom = 32

// List is one swarm's peers of one address family.
type List struct {
	recs     []byte
	leechers int32
	stride   uint8
	idx      *index
}

type index struct {
	seed  maphash.Seed
	slots []int32 // position+1 of a record, 0 for an empty slot
}

// New returns an empty list of records of stride bytes (modes.Record4 or
// modes.Record6).
func New(stride int) List { return List{stride: uint8(stride)} }

// Stride returns the record size.
func (l *List) Stride() int { return int(l.stride) }

// Len returns the number of peers.
func (l *List) Len() int {
	if l.stride == 0 {
		return 0
	}
	return len(l.recs) / int(l.stride)
}

// Leechers returns how many peers are leeching; Len()-Leechers() are seeding.
func (l *List) Leechers() int { return int(l.leechers) }

// Seeders returns how many peers are seeding.
func (l *List) Seeders() int { return l.Len() - int(l.leechers) }

// View returns the policies' view of the list. It is valid until the list
// is next changed.
func (l *List) View() modes.Swarm {
	return modes.Swarm{Records: l.recs, Stride: int(l.stride), Leechers: int(l.leechers)}
}

// Records returns the packed records, leechers first. The slice is the
// list's own: copy it before the list changes.
func (l *List) Records() []byte { return l.recs }

// Record returns peer i's record (the list's own bytes).
func (l *List) Record(i int) []byte {
	s := int(l.stride)
	return l.recs[i*s : (i+1)*s]
}

func (l *List) keyLen() int { return int(l.stride) - 2 }

func (l *List) key(i int) []byte {
	s := int(l.stride)
	return l.recs[i*s : i*s+s-2]
}

func (l *List) flags(i int) uint8 { return l.recs[(i+1)*int(l.stride)-1] }

// Find returns the position of the peer with this key (compact address and
// port), or -1.
func (l *List) Find(key []byte) int {
	if len(key) != l.keyLen() {
		return -1
	}
	if l.idx != nil {
		_, pos := l.idx.lookup(l, key)
		return pos
	}
	s := int(l.stride)
	for i, off := 0, 0; off < len(l.recs); i, off = i+1, off+s {
		if bytes.Equal(l.recs[off:off+s-2], key) {
			return i
		}
	}
	return -1
}

// Put records an announce from the peer with this key: it is added when new,
// otherwise its stamp and flags are updated, and it moves between the
// leecher and seeder parts when its seeding state changed. Put returns the
// peer's position afterwards and whether it was new. The key must have the
// list's key length (stride-2).
func (l *List) Put(key []byte, stamp, flags uint8) (pos int, added bool) {
	pos = l.Find(key)
	if pos < 0 {
		return l.add(key, stamp, flags), true
	}
	s := int(l.stride)
	wasSeeder := l.flags(pos)&modes.FlagSeeder != 0
	l.recs[pos*s+s-2] = stamp
	l.recs[pos*s+s-1] = flags
	isSeeder := flags&modes.FlagSeeder != 0
	switch {
	case isSeeder && !wasSeeder:
		last := int(l.leechers) - 1
		l.swap(pos, last)
		l.leechers--
		pos = last
	case !isSeeder && wasSeeder:
		first := int(l.leechers)
		l.swap(pos, first)
		l.leechers++
		pos = first
	}
	return pos, false
}

func (l *List) add(key []byte, stamp, flags uint8) int {
	s := int(l.stride)
	n := l.Len()
	l.recs = append(l.recs, make([]byte, s)...)
	rec := l.recs[n*s : (n+1)*s]
	copy(rec, key)
	rec[s-2], rec[s-1] = stamp, flags
	switch {
	case l.idx != nil && 2*(n+1) > len(l.idx.slots):
		// Double the table before it passes half full, which keeps linear
		// probes short; the rebuild indexes the new record too.
		l.buildIndex(2 * len(l.idx.slots))
	case l.idx != nil:
		l.idx.insert(l, n)
	case n+1 >= indexFrom:
		l.buildIndex(4 * indexFrom)
	}
	pos := n
	if flags&modes.FlagSeeder == 0 {
		// Keep leechers in front: the new leecher takes the first seeder's
		// place and that seeder moves to the end.
		pos = int(l.leechers)
		l.swap(n, pos)
		l.leechers++
	}
	return pos
}

// RemoveAt removes the peer at position pos. Peers after it may move.
func (l *List) RemoveAt(pos int) {
	if pos < int(l.leechers) {
		last := int(l.leechers) - 1
		l.swap(pos, last)
		l.leechers--
		pos = last
	}
	end := l.Len() - 1
	l.swap(pos, end)
	if l.idx != nil {
		l.idx.remove(l, l.idx.slotOf(l, end))
	}
	l.recs = l.recs[:end*int(l.stride)]
	if l.idx != nil && end < indexFrom/2 {
		l.idx = nil
	}
}

// Remove removes the peer with this key and reports whether it was listed.
func (l *List) Remove(key []byte) bool {
	pos := l.Find(key)
	if pos < 0 {
		return false
	}
	l.RemoveAt(pos)
	return true
}

// Sweep removes every peer whose stamp is more than maxAge ticks older than
// now (the low byte of the current tick), returns how many it removed, and
// gives back memory a shrunken list no longer needs.
func (l *List) Sweep(now, maxAge uint8) int {
	removed := 0
	s := int(l.stride)
	// Walk down: RemoveAt only moves peers from higher positions, which
	// have been checked already.
	for i := l.Len() - 1; i >= 0; i-- {
		if modes.Age(now, l.recs[i*s+s-2]) > maxAge {
			l.RemoveAt(i)
			removed++
		}
	}
	if removed > 0 && cap(l.recs) > 4*len(l.recs) {
		l.recs = append([]byte(nil), l.recs...)
		if len(l.recs) == 0 {
			l.recs = nil
		}
	}
	return removed
}

// swap exchanges the records at positions a and b, keeping the index true.
func (l *List) swap(a, b int) {
	if a == b {
		return
	}
	if l.idx != nil {
		sa, sb := l.idx.slotOf(l, a), l.idx.slotOf(l, b)
		l.idx.slots[sa], l.idx.slots[sb] = int32(b+1), int32(a+1)
	}
	s := int(l.stride)
	ra, rb := l.recs[a*s:(a+1)*s], l.recs[b*s:(b+1)*s]
	var tmp [modes.Record6]byte
	copy(tmp[:s], ra)
	copy(ra, rb)
	copy(rb, tmp[:s])
}

func (l *List) buildIndex(slots int) {
	ix := &index{seed: maphash.MakeSeed()}
	if l.idx != nil {
		ix.seed = l.idx.seed
	}
	ix.slots = make([]int32, slots)
	l.idx = ix
	for i := range l.Len() {
		ix.insert(l, i)
	}
}

func (ix *index) home(key []byte) int {
	return int(maphash.Bytes(ix.seed, key) & uint64(len(ix.slots)-1))
}

func (ix *index) insert(l *List, pos int) {
	mask := len(ix.slots) - 1
	for h := ix.home(l.key(pos)); ; h = (h + 1) & mask {
		if ix.slots[h] == 0 {
			ix.slots[h] = int32(pos + 1)
			return
		}
	}
}

// lookup returns the slot and position of key, or (-1, -1).
func (ix *index) lookup(l *List, key []byte) (slot, pos int) {
	mask := len(ix.slots) - 1
	for h := ix.home(key); ; h = (h + 1) & mask {
		v := ix.slots[h]
		if v == 0 {
			return -1, -1
		}
		if bytes.Equal(l.key(int(v-1)), key) {
			return h, int(v - 1)
		}
	}
}

// slotOf returns the slot holding position pos, which must be listed.
func (ix *index) slotOf(l *List, pos int) int {
	mask := len(ix.slots) - 1
	for h := ix.home(l.key(pos)); ; h = (h + 1) & mask {
		if int(ix.slots[h]) == pos+1 {
			return h
		}
	}
}

// remove empties slot and shifts later members of its probe run back, so
// lookups never stop early at the hole (deletion without tombstones).
func (ix *index) remove(l *List, slot int) {
	mask := len(ix.slots) - 1
	ix.slots[slot] = 0
	hole := slot
	for j := (slot + 1) & mask; ix.slots[j] != 0; j = (j + 1) & mask {
		h := ix.home(l.key(int(ix.slots[j] - 1)))
		// The entry at j may move into the hole unless its home lies
		// cyclically in (hole, j].
		if (hole <= j && hole < h && h <= j) || (hole > j && (hole < h || h <= j)) {
			continue
		}
		ix.slots[hole], ix.slots[j] = ix.slots[j], 0
		hole = j
	}
}
