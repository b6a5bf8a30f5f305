package peerlist

import (
	"encoding/binary"
	"fmt"
	"testing"

	"johnlocke/modes"
)

// testSeed keys every list the tests build: a fixed one, so a failure
// repeats.
var testSeed = SeedFrom(1)

type modelPeer struct {
	stamp, flags uint8
}

func key4(n int) []byte {
	k := make([]byte, 6)
	binary.BigEndian.PutUint32(k, uint32(0x0a000000+n/7))
	binary.BigEndian.PutUint16(k[4:], uint16(1000+n%7))
	return k
}

// check compares the list with the model: same peers, leechers in front,
// every key findable at its position.
func check(t *testing.T, l *List, model map[string]modelPeer) {
	t.Helper()
	if got, want := l.Len(), len(model); got != want {
		t.Fatalf("Len = %d, want %d", got, want)
	}
	leechers := 0
	for _, p := range model {
		if p.flags&modes.FlagSeeder == 0 {
			leechers++
		}
	}
	if got := l.Leechers(); got != leechers {
		t.Fatalf("Leechers = %d, want %d", got, leechers)
	}
	for i := range l.Len() {
		rec := l.Record(i)
		k := string(rec[:len(rec)-2])
		p, ok := model[k]
		if !ok {
			t.Fatalf("position %d holds unknown key %x", i, k)
		}
		if rec[len(rec)-2] != p.stamp || rec[len(rec)-1] != p.flags {
			t.Fatalf("position %d: stamp/flags %d/%d, want %d/%d", i, rec[len(rec)-2], rec[len(rec)-1], p.stamp, p.flags)
		}
		if seeder := p.flags&modes.FlagSeeder != 0; seeder != (i >= l.Leechers()) {
			t.Fatalf("position %d seeder=%v but leechers end at %d", i, seeder, l.Leechers())
		}
		if got := l.Find(testSeed, []byte(k)); got != i {
			t.Fatalf("Find(%x) = %d, want %d", k, got, i)
		}
	}
	checkBuckets(t, l)
}

// checkBuckets checks the bucket directory: starts in order from 0 to Len,
// the leecher region ending at Leechers, and every record in the bucket
// its key's hash chooses.
func checkBuckets(t *testing.T, l *List) {
	t.Helper()
	if int(l.n) > int(l.cap) {
		t.Fatalf("%d records in a capacity of %d", l.n, l.cap)
	}
	if !l.bucketed() {
		return
	}
	st := l.dir()
	if st[0] != 0 || st[len(st)-1] != l.n || st[1<<l.lbits] != l.leechers {
		t.Fatalf("directory %v: want 0 first, leechers %d at %d, %d last", st, l.leechers, 1<<l.lbits, l.n)
	}
	s := l.Stride()
	for b := 0; b+1 < len(st); b++ {
		if st[b] > st[b+1] {
			t.Fatalf("bucket %d starts at %d after the next one's %d", b, st[b], st[b+1])
		}
		for i := int(st[b]); i < int(st[b+1]); i++ {
			rec := l.Record(i)
			if want := l.bucketOf(testSeed.hash(rec[:s-2]), i >= l.Leechers()); want != b {
				t.Fatalf("position %d sits in bucket %d, its key belongs in %d", i, b, want)
			}
		}
	}
	for _, region := range []struct {
		count int
		bits  uint8
	}{{l.Leechers(), l.lbits}, {l.Seeders(), l.sbits}} {
		if region.count > regionLimit(region.bits) {
			t.Fatalf("a region of %d peers has only %d bucket bits", region.count, region.bits)
		}
	}
}

func TestListAgainstModel(t *testing.T) {
	for _, size := range []int{5, 40, 600, 5000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			r := modes.NewRand(uint64(size))
			l := New(modes.Record4)
			model := map[string]modelPeer{}
			for step := range 20000 {
				k := key4(r.Intn(size))
				switch op := r.Intn(10); {
				case op == 0 && r.Intn(200) == 0:
					// A whole-list reload, as after a restart.
					recs := append([]byte(nil), l.Records()...)
					l = New(modes.Record4)
					// Feed some records twice: Load keeps one of each.
					recs = append(recs, recs[:len(recs)/3]...)
					if got := l.Load(testSeed, recs); got != len(model) {
						t.Fatalf("step %d: Load kept %d, want %d", step, got, len(model))
					}
				case op == 0 && l.Len() > 0:
					i := r.Intn(l.Len())
					rec := l.Record(i)
					delete(model, string(rec[:len(rec)-2]))
					l.RemoveAt(testSeed, i)
				case op < 6:
					flags := uint8(r.Intn(4))
					stamp := uint8(step)
					pos, added := l.Put(testSeed, k, stamp, flags)
					_, existed := model[string(k)]
					if added == existed {
						t.Fatalf("step %d: Put added=%v but existed=%v", step, added, existed)
					}
					model[string(k)] = modelPeer{stamp, flags}
					if got := l.Find(testSeed, k); got != pos {
						t.Fatalf("step %d: Put returned %d, Find says %d", step, pos, got)
					}
				case op < 9:
					_, existed := model[string(k)]
					if got := l.Remove(testSeed, k); got != existed {
						t.Fatalf("step %d: Remove = %v, want %v", step, got, existed)
					}
					delete(model, string(k))
				default:
					now := uint8(step)
					removed := l.Sweep(now, 50)
					want := 0
					for mk, p := range model {
						if modes.Age(now, p.stamp) > 50 {
							delete(model, mk)
							want++
						}
					}
					if removed != want {
						t.Fatalf("step %d: Sweep removed %d, want %d", step, removed, want)
					}
				}
				if step%97 == 0 || size < 50 || (size < 1000 && step%7 == 0) {
					check(t, &l, model)
				}
			}
			check(t, &l, model)
		})
	}
}

func TestIPv6Records(t *testing.T) {
	l := New(modes.Record6)
	k := make([]byte, 18)
	for i := range 100 {
		k[15], k[17] = byte(i), byte(i>>3)
		l.Put(testSeed, k, 1, modes.FlagSeeder)
	}
	if got, want := l.Len(), 100; got != want {
		t.Fatalf("Len = %d, want %d", got, want)
	}
	if got, want := l.Seeders(), 100; got != want {
		t.Fatalf("Seeders = %d, want %d", got, want)
	}
	k[15], k[17] = 42, 42>>3
	if l.Find(testSeed, k) < 0 {
		t.Fatal("peer 42 not found")
	}
	if l.Find(testSeed, k[:6]) >= 0 {
		t.Fatal("a key of the wrong length was found")
	}
}

func TestPutDoesNotAllocateWhenListed(t *testing.T) {
	l := New(modes.Record4)
	for i := range 1000 {
		l.Put(testSeed, key4(i), 0, 0)
	}
	k := key4(500)
	allocs := testing.AllocsPerRun(1000, func() {
		l.Put(testSeed, k, 1, modes.FlagSeeder)
		l.Put(testSeed, k, 2, 0)
	})
	if allocs != 0 {
		t.Fatalf("Put on a listed peer allocates %v times", allocs)
	}
}

func BenchmarkPut(b *testing.B) {
	for _, size := range []int{10, 1000, 100000} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			l := New(modes.Record4)
			keys := make([][]byte, size)
			for i := range keys {
				keys[i] = key4(i)
				l.Put(testSeed, keys[i], 0, 0)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				l.Put(testSeed, keys[i%size], uint8(i), uint8(i&1))
			}
		})
	}
}

// TestBigListGrowsAndShrinks fills a list well past several bucket splits,
// flips peers between leeching and seeding, then sweeps it back down.
func TestBigListGrowsAndShrinks(t *testing.T) {
	l := New(modes.Record4)
	model := map[string]modelPeer{}
	const n = 40000
	key := func(i int) []byte {
		k := make([]byte, 6)
		binary.BigEndian.PutUint32(k, uint32(0x0b000000+i))
		binary.BigEndian.PutUint16(k[4:], 6881)
		return k
	}
	for i := range n {
		flags := uint8(0)
		if i%3 == 0 {
			flags = modes.FlagSeeder
		}
		stamp := uint8(i % 100)
		if _, added := l.Put(testSeed, key(i), stamp, flags); !added {
			t.Fatalf("peer %d not added", i)
		}
		model[string(key(i))] = modelPeer{stamp, flags}
	}
	check(t, &l, model)
	if l.lbits == 0 || l.sbits == 0 {
		t.Fatalf("a list of %d has bucket bits %d/%d", n, l.lbits, l.sbits)
	}
	for i := 0; i < n; i += 2 {
		p := model[string(key(i))]
		p.flags ^= modes.FlagSeeder
		l.Put(testSeed, key(i), p.stamp, p.flags)
		model[string(key(i))] = p
	}
	check(t, &l, model)
	// Stamps run 0..99; at now=99 with maxAge 9 only 90..99 stay.
	removed := l.Sweep(99, 9)
	for k, p := range model {
		if modes.Age(99, p.stamp) > 9 {
			delete(model, k)
		}
	}
	if removed != n-len(model) {
		t.Fatalf("Sweep removed %d, want %d", removed, n-len(model))
	}
	check(t, &l, model)
	if int(l.cap) > 2*l.Len()+8 {
		t.Fatalf("capacity %d kept for %d peers", l.cap, l.Len())
	}
	for k := range model {
		if !l.Remove(testSeed, []byte(k)) {
			t.Fatalf("Remove(%x) found nothing", k)
		}
		delete(model, k)
		if len(model)%997 == 0 {
			check(t, &l, model)
		}
	}
	check(t, &l, model)
	if l.bucketed() {
		t.Fatalf("an empty list keeps bucket bits %d/%d", l.lbits, l.sbits)
	}
}

func TestLoadIPv6(t *testing.T) {
	var recs []byte
	for i := range 500 {
		rec := make([]byte, modes.Record6)
		rec[0], rec[14], rec[15], rec[17] = 0x20, byte(i>>8), byte(i), 1
		rec[19] = uint8(i % 2) // every other one seeds
		recs = append(recs, rec...)
	}
	l := New(modes.Record6)
	if got := l.Load(testSeed, append([]byte(nil), recs...)); got != 500 {
		t.Fatalf("Load = %d, want 500", got)
	}
	if l.Seeders() != 250 || l.Leechers() != 250 {
		t.Fatalf("seeders %d leechers %d, want 250 each", l.Seeders(), l.Leechers())
	}
	checkBuckets(t, &l)
	for off := 0; off < len(recs); off += modes.Record6 {
		if l.Find(testSeed, recs[off:off+modes.Record6-2]) < 0 {
			t.Fatalf("record %d not found after Load", off/modes.Record6)
		}
	}
}

func BenchmarkJoinLeave(b *testing.B) {
	for _, size := range []int{1000, 100000, 1000000} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			l := New(modes.Record4)
			k := make([]byte, 6)
			for i := range size {
				binary.BigEndian.PutUint32(k, uint32(i))
				l.Put(testSeed, k, 0, uint8(i&1))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				binary.BigEndian.PutUint32(k, uint32(size+i%2))
				l.Put(testSeed, k, 0, 0)
				l.Remove(testSeed, k)
			}
		})
	}
}

func BenchmarkLoad(b *testing.B) {
	const size = 100000
	l := New(modes.Record4)
	k := make([]byte, 6)
	for i := range size {
		binary.BigEndian.PutUint32(k, uint32(i))
		l.Put(testSeed, k, 0, uint8(i&1))
	}
	recs := append([]byte(nil), l.Records()...)
	scratch := make([]byte, len(recs))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		copy(scratch, recs)
		m := New(modes.Record4)
		m.Load(testSeed, scratch)
	}
}
