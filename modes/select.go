package modes

// Peer records are packed, pointer-free and fixed-size so a swarm is one dense
// byte slice the garbage collector never scans: the compact address and port
// exactly as BEP 23 and BEP 7 put them on the wire, then a one-byte stamp
// (the low byte of the tick of the last announce) and a byte of flags.
const (
	Record4 = 4 + 2 + 2  // IPv4: address, port, stamp, flags
	Record6 = 16 + 2 + 2 // IPv6: address, port, stamp, flags
)

// Flag bits in a peer record's last byte.
const (
	// FlagSeeder marks a peer that reported left=0.
	FlagSeeder uint8 = 1 << 0
	// FlagUploader marks a peer that has reported uploading something.
	FlagUploader uint8 = 1 << 1
)

// Limits of the policies, named so the rules read as the spec says them.
const (
	// SmallWholeList: a small swarm with at most this many peers besides the
	// requester is handed out whole.
	SmallWholeList = 20
	// SmallMaxList caps the half-swarm answer of a bigger small swarm.
	SmallMaxList = 50
	// SurgeSeedsPerList is how many fixed seeders one surge leecher is given;
	// the rest of its list is other leechers, so a handful of seeders are not
	// swamped by a million simultaneous downloads.
	SurgeSeedsPerList = 2
	// LargeSeedShareDiv: a large leecher gets at most 1/LargeSeedShareDiv of
	// its list as seeders (at least one) while enough leechers exist, so
	// that at least half of it is leechers to trade with. Half, not the
	// fifth it was: in the simulator (README, "Why modes") a swarm where
	// finishers outnumber leechers downloaded 7% faster with half than with
	// a fifth across five seeds, and no slower where seeders are few; with
	// no cap at all (seeders only) the swarm collapsed.
	LargeSeedShareDiv = 2
	// candidateFactor: large leechers are chosen from a random window this
	// many times bigger than needed, favouring recent peers and uploaders.
	candidateFactor = 2
)

// Swarm is a policy's read-only view of one swarm: the requester's own
// address family's peers (Records, Stride bytes each, leechers in
// [0, Leechers)) and, when the answer may carry both families (HTTP), the
// other family's (OtherRecords, OtherStride, OtherLeechers). Policies see
// one index space over both, leechers first so the rules apply to the
// swarm as a whole:
//
//	[own leechers][other leechers][own seeders][other seeders]
//
// Locate maps an index back to its family and position.
type Swarm struct {
	Records  []byte
	Stride   int
	Leechers int

	OtherRecords  []byte
	OtherStride   int
	OtherLeechers int
}

func count(recs []byte, stride int) int {
	if stride == 0 {
		return 0
	}
	return len(recs) / stride
}

// Len returns the number of peers of both families.
func (s *Swarm) Len() int { return count(s.Records, s.Stride) + count(s.OtherRecords, s.OtherStride) }

// AllLeechers returns the number of leechers of both families; indices
// below it are leechers, the rest seeders.
func (s *Swarm) AllLeechers() int { return s.Leechers + s.OtherLeechers }

// Locate returns the family (other is false for the requester's own) and
// the position within that family's records of index i.
func (s *Swarm) Locate(i int) (other bool, pos int) {
	switch {
	case i < s.Leechers:
		return false, i
	case i < s.AllLeechers():
		return true, i - s.Leechers
	}
	i -= s.AllLeechers()
	ownSeeders := count(s.Records, s.Stride) - s.Leechers
	if i < ownSeeders {
		return false, s.Leechers + i
	}
	return true, s.OtherLeechers + i - ownSeeders
}

// Index returns the index of position pos of the requester's own family.
func (s *Swarm) Index(pos int) int {
	if pos < s.Leechers {
		return pos
	}
	return pos + s.OtherLeechers
}

// Flags returns peer i's flag byte.
func (s *Swarm) Flags(i int) uint8 {
	_, flags := s.meta(i)
	return flags
}

// Stamp returns the tick (low byte) of peer i's last announce.
func (s *Swarm) Stamp(i int) uint8 {
	stamp, _ := s.meta(i)
	return stamp
}

// meta returns peer i's stamp and flags with one lookup.
func (s *Swarm) meta(i int) (stamp, flags uint8) {
	other, pos := s.Locate(i)
	recs, stride := s.Records, s.Stride
	if other {
		recs, stride = s.OtherRecords, s.OtherStride
	}
	end := (pos + 1) * stride
	return recs[end-2], recs[end-1]
}

// Pick describes one request for peers.
type Pick struct {
	// Self is the requester's index in the swarm, or -1 when it is not
	// listed (it stopped, or the tracker is over its memory budget).
	Self int
	// Seeder tells whether the requester is seeding.
	Seeder bool
	// Max caps the answer: the smaller of --maxpeers and the client's numwant.
	Max int
	// Now is the low byte of the current tick; Recent is how many ticks old
	// an announce may be and still count as recent (large prefers those).
	Now, Recent uint8
	// Cursor is per-swarm rotation state (small's last_start, surge's seeder
	// rotation), owned by the caller and advanced by the policy.
	Cursor *uint32
	// Rand is the random source for random windows.
	Rand *Rand
	// Tuning overrides the policies' constants; its zero value keeps them.
	Tuning Tuning
}

// Tuning replaces the policies' constants for a study of their values
// (johnlocke simulate); the zero value of each field keeps the constant.
type Tuning struct {
	// SurgeSeedsPerList replaces SurgeSeedsPerList.
	SurgeSeedsPerList int
	// LargeSeedShareDiv replaces LargeSeedShareDiv.
	LargeSeedShareDiv int
	// SmallCursorStep is how far small's cursor moves on after an answer:
	// 0 keeps the design's one peer; a negative value moves it past the
	// whole answer, so consecutive answers do not overlap.
	SmallCursorStep int
}

func (t Tuning) surgeSeeds() int   { return cmpOr(t.SurgeSeedsPerList, SurgeSeedsPerList) }
func (t Tuning) largeSeedDiv() int { return cmpOr(t.LargeSeedShareDiv, LargeSeedShareDiv) }

func cmpOr(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// BufferLen is the capacity a Select destination needs so that no selection
// for a cap of max peers ever grows it.
func BufferLen(max int) int { return candidateFactor * max }

// Select appends to dst the indices of the peers mode m hands the requester
// described by p. dst should have BufferLen(p.Max) capacity. The requester
// is never selected and at most p.Max indices are appended.
func Select(m Mode, s Swarm, p *Pick, dst []int32) []int32 {
	if p.Max <= 0 || s.Len() == 0 {
		return dst
	}
	switch m {
	case Small:
		return selectSmall(&s, p, dst)
	case Surge:
		return selectSurge(&s, p, dst)
	default:
		return selectLarge(&s, p, dst)
	}
}

// selectSmall implements the original design's rule: the whole swarm when
// it holds at most SmallWholeList others, otherwise half the swarm or
// SmallMaxList, whichever is fewer, in order from the last_start cursor,
// wrapping around; the cursor then moves on by one peer.
func selectSmall(s *Swarm, p *Pick, dst []int32) []int32 {
	n := s.Len()
	others := n
	if p.Self >= 0 {
		others--
	}
	want, start := others, 0
	if others > SmallWholeList {
		want = min(others/2, SmallMaxList)
		start = int(*p.Cursor % uint32(n))
		*p.Cursor = uint32((start + 1) % n)
	}
	want = min(want, p.Max)
	base := len(dst)
	for i := 0; i < n && want > 0; i++ {
		j := start + i
		if j >= n {
			j -= n
		}
		if j == p.Self {
			continue
		}
		dst = append(dst, int32(j))
		want--
	}
	if others > SmallWholeList && p.Tuning.SmallCursorStep != 0 {
		step := p.Tuning.SmallCursorStep
		if step < 0 {
			step = len(dst) - base
		}
		*p.Cursor = uint32((start + step) % n)
	}
	return dst
}

// counts returns how many leechers and seeders there are besides the
// requester.
func counts(s *Swarm, self int) (leechers, seeders int) {
	leechers, seeders = s.AllLeechers(), s.Len()-s.AllLeechers()
	switch {
	case self < 0:
	case self < s.AllLeechers():
		leechers--
	default:
		seeders--
	}
	return leechers, seeders
}

// selectLarge gives seeders leechers only; a leecher gets mostly leechers,
// chosen favouring recent announcers and uploaders, and a limited share of
// seeders (more only when leechers run short).
func selectLarge(s *Swarm, p *Pick, dst []int32) []int32 {
	leechers, seeders := counts(s, p.Self)
	if p.Seeder {
		return pickLeechers(s, p, dst, min(p.Max, leechers))
	}
	total := min(p.Max, leechers+seeders)
	seedQuota := min(seeders, max(1, total/p.Tuning.largeSeedDiv()))
	leechQuota := min(leechers, total-seedQuota)
	seedQuota = min(seeders, total-leechQuota)
	dst = pickLeechers(s, p, dst, leechQuota)
	return window(dst, s.AllLeechers(), s.Len(), seedQuota, p.Self, p.Rand)
}

// pickLeechers appends want leechers, taken from a random window of about
// candidateFactor*want leechers with the preferred ones (recent or
// uploading) first.
func pickLeechers(s *Swarm, p *Pick, dst []int32, want int) []int32 {
	if want <= 0 {
		return dst
	}
	base := len(dst)
	dst = window(dst, 0, s.AllLeechers(), candidateFactor*want, p.Self, p.Rand)
	front := base
	for i := base; i < len(dst); i++ {
		stamp, flags := s.meta(int(dst[i]))
		if flags&FlagUploader != 0 || Age(p.Now, stamp) <= p.Recent {
			dst[front], dst[i] = dst[i], dst[front]
			front++
		}
	}
	return dst[:base+want]
}

// selectSurge rations seeders: a leecher gets at most SurgeSeedsPerList of
// them, rotating through all seeders from the swarm's cursor, and other
// leechers for the rest; a seeder gets leechers only.
func selectSurge(s *Swarm, p *Pick, dst []int32) []int32 {
	leechers, seeders := counts(s, p.Self)
	if p.Seeder {
		return window(dst, 0, s.AllLeechers(), min(p.Max, leechers), p.Self, p.Rand)
	}
	seedQuota := min(seeders, p.Tuning.surgeSeeds(), p.Max)
	if seedQuota > 0 {
		total := s.Len() - s.AllLeechers()
		start := s.AllLeechers() + int(*p.Cursor%uint32(total))
		taken := 0
		for i := 0; i < total && taken < seedQuota; i++ {
			j := start + i
			if j >= s.Len() {
				j -= total
			}
			if j == p.Self {
				continue
			}
			dst = append(dst, int32(j))
			taken++
		}
		*p.Cursor += uint32(seedQuota)
	}
	return window(dst, 0, s.AllLeechers(), min(leechers, p.Max-seedQuota), p.Self, p.Rand)
}

// window appends up to want indices from [lo, hi), skipping self, starting
// at a random offset and wrapping: O(want), never O(swarm), and every peer
// in the range is equally likely to start the window.
func window(dst []int32, lo, hi, want, self int, r *Rand) []int32 {
	n := hi - lo
	if n <= 0 || want <= 0 {
		return dst
	}
	start := lo + r.Intn(n)
	for i := 0; i < n && want > 0; i++ {
		j := start + i
		if j >= hi {
			j -= n
		}
		if j == self {
			continue
		}
		dst = append(dst, int32(j))
		want--
	}
	return dst
}
