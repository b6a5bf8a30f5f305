package peerlist

import (
	"encoding/binary"
	"fmt"
	"testing"

	"johnlocke/modes"
)

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
		if got := l.Find([]byte(k)); got != i {
			t.Fatalf("Find(%x) = %d, want %d", k, got, i)
		}
	}
}

func TestListAgainstModel(t *testing.T) {
	for _, size := range []int{5, 40, 600} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			r := modes.NewRand(uint64(size))
			l := New(modes.Record4)
			model := map[string]modelPeer{}
			for step := range 20000 {
				k := key4(r.Intn(size))
				switch op := r.Intn(10); {
				case op < 6:
					flags := uint8(r.Intn(4))
					stamp := uint8(step)
					pos, added := l.Put(k, stamp, flags)
					_, existed := model[string(k)]
					if added == existed {
						t.Fatalf("step %d: Put added=%v but existed=%v", step, added, existed)
					}
					model[string(k)] = modelPeer{stamp, flags}
					if got := l.Find(k); got != pos {
						t.Fatalf("step %d: Put returned %d, Find says %d", step, pos, got)
					}
				case op < 9:
					_, existed := model[string(k)]
					if got := l.Remove(k); got != existed {
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
				if step%97 == 0 || size < 50 {
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
		l.Put(k, 1, modes.FlagSeeder)
	}
	if got, want := l.Len(), 100; got != want {
		t.Fatalf("Len = %d, want %d", got, want)
	}
	if got, want := l.Seeders(), 100; got != want {
		t.Fatalf("Seeders = %d, want %d", got, want)
	}
	k[15], k[17] = 42, 42>>3
	if l.Find(k) < 0 {
		t.Fatal("peer 42 not found")
	}
	if l.Find(k[:6]) >= 0 {
		t.Fatal("a key of the wrong length was found")
	}
}

func TestPutDoesNotAllocateWhenListed(t *testing.T) {
	l := New(modes.Record4)
	for i := range 1000 {
		l.Put(key4(i), 0, 0)
	}
	k := key4(500)
	allocs := testing.AllocsPerRun(1000, func() {
		l.Put(k, 1, modes.FlagSeeder)
		l.Put(k, 2, 0)
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
				l.Put(keys[i], 0, 0)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				l.Put(keys[i%size], uint8(i), uint8(i&1))
			}
		})
	}
}
