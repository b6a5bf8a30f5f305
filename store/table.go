package store

import (
	"hash/maphash"
)

// table holds one shard's torrents as values in fixed-size pages, found
// through an open-addressing index of positions. A torrent costs its value
// (56 bytes, no pointer but its peer records'), its registrant (8 bytes)
// and about 5 to 11 bytes of index (uint32 slots kept between 3/8 and 3/4
// full), where a map of pointers cost it a heap object, a map entry and the
// map's growth slack. Pages never move, so growing a table copies nothing
// and leaves no freed arrays behind to fragment the heap. Positions change
// when a torrent is removed (the last one takes its place), so nothing
// outside the shard's lock keeps one.
type table struct {
	pages []*page
	n     int // torrents
	// slots holds position+1 of a torrent, 0 for an empty slot; its length
	// is a power of two and it is at most three quarters full.
	slots []uint32
	seed  maphash.Seed
}

// pageLen torrents and their registrants make a page of 2048 bytes, one of
// the allocator's size classes.
const (
	pageShift = 5
	pageLen   = 1 << pageShift
)

type page struct {
	torrents [pageLen]torrent
	// registrants holds, beside each torrent, the key of the source address
	// that registered it organically (see registrantOf), 0 for none. It sits
	// beside the values rather than in them: it is read only when a torrent
	// is added or removed, never by an announce, and the page was 1792
	// bytes in a 2048-byte size class anyway.
	registrants [pageLen]uint64
}

// at returns the torrent at position pos (below tb.n).
func (tb *table) at(pos int) *torrent { return &tb.pages[pos>>pageShift].torrents[pos&(pageLen-1)] }

// registrant returns the registrant key of the torrent at position pos.
func (tb *table) registrant(pos int) *uint64 {
	return &tb.pages[pos>>pageShift].registrants[pos&(pageLen-1)]
}

func (tb *table) home(hash *[20]byte) int {
	return int(maphash.Bytes(tb.seed, hash[:]) & uint64(len(tb.slots)-1))
}

// find returns the position of the torrent with this infohash, or -1.
func (tb *table) find(hash *[20]byte) int {
	if len(tb.slots) == 0 {
		return -1
	}
	mask := len(tb.slots) - 1
	for i := tb.home(hash); ; i = (i + 1) & mask {
		v := tb.slots[i]
		if v == 0 {
			return -1
		}
		if tb.at(int(v-1)).hash == *hash {
			return int(v - 1)
		}
	}
}

// add appends t, which must not be in the table yet, and returns its
// position.
func (tb *table) add(t torrent) int {
	pos := tb.n
	if pos>>pageShift == len(tb.pages) {
		tb.pages = append(tb.pages, new(page))
	}
	tb.n++
	*tb.at(pos) = t
	*tb.registrant(pos) = 0
	if 4*tb.n > 3*len(tb.slots) {
		tb.resize(max(8, 2*len(tb.slots)))
	} else {
		tb.link(pos)
	}
	return pos
}

// link puts position pos into the index.
func (tb *table) link(pos int) {
	mask := len(tb.slots) - 1
	for i := tb.home(&tb.at(pos).hash); ; i = (i + 1) & mask {
		if tb.slots[i] == 0 {
			tb.slots[i] = uint32(pos + 1)
			return
		}
	}
}

func (tb *table) resize(n int) {
	tb.slots = make([]uint32, n)
	for pos := range tb.n {
		tb.link(pos)
	}
}

// slotOf returns the slot that holds position pos.
func (tb *table) slotOf(pos int) int {
	mask := len(tb.slots) - 1
	for i := tb.home(&tb.at(pos).hash); ; i = (i + 1) & mask {
		if int(tb.slots[i]) == pos+1 {
			return i
		}
	}
}

// remove removes the torrent at pos. The last torrent moves into its place:
// remove returns that torrent's old position (pos itself when the removed
// one was last).
func (tb *table) remove(pos int) (moved int) {
	tb.unlink(tb.slotOf(pos))
	last := tb.n - 1
	if pos != last {
		tb.slots[tb.slotOf(last)] = uint32(pos + 1)
		*tb.at(pos) = *tb.at(last)
		*tb.registrant(pos) = *tb.registrant(last)
	}
	*tb.at(last) = torrent{}
	*tb.registrant(last) = 0
	tb.n--
	if used := (tb.n + pageLen - 1) >> pageShift; used < len(tb.pages) {
		tb.pages[used] = nil
		tb.pages = tb.pages[:used]
	}
	if len(tb.slots) > 8 && 8*tb.n < len(tb.slots) {
		tb.resize(len(tb.slots) / 2)
	}
	return last
}

// unlink empties slot and shifts later members of its probe run back, so
// lookups never stop early at the hole (deletion without tombstones).
func (tb *table) unlink(slot int) {
	mask := len(tb.slots) - 1
	tb.slots[slot] = 0
	hole := slot
	for j := (slot + 1) & mask; tb.slots[j] != 0; j = (j + 1) & mask {
		h := tb.home(&tb.at(int(tb.slots[j] - 1)).hash)
		// The entry at j may move into the hole unless its home lies
		// cyclically in (hole, j].
		if (hole <= j && hole < h && h <= j) || (hole > j && (hole < h || h <= j)) {
			continue
		}
		tb.slots[hole], tb.slots[j] = tb.slots[j], 0
		hole = j
	}
}
