package daemon

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// DefaultGCPercent is serve's --gc-percent. The tracker's heap is almost
// all pointer-free peer records, which the collector marks without
// scanning, and announces allocate nothing, so collections are cheap and
// rare: a heap allowed to grow only a fifth past its live data before the
// next one costs little CPU, where Go's default (100) would let memory per
// peer double.
const DefaultGCPercent = 20

// ReturnMemory keeps the process's memory close to its live data until ctx
// is done. Every interval it reads the heap's figures (without stopping the
// program) and trims (collects twice, then hands every free page back to
// the system at once with debug.FreeOSMemory) once the heap has gone quiet
// (less than busyBytes allocated since the last look) after being busy
// (peers arrived, a flush wrote), or, quiet, when it holds more than a
// tenth and at least a MiB of garbage and free pages beyond its live data.
// Announces themselves allocate nothing, so a tracker under steady load
// with no new peers is quiet. The
// runtime would give memory back on its own, but slowly, and once a burst
// is over nothing allocates to trigger the collection that would free its
// garbage; the second collection also empties the caches that survive one
// (sync.Pool, where bbolt keeps the pages of its last write).
//
// While the heap stays busy the collector runs anyway, and a trim is
// latency: the marking of each of its two collections took up to 20 ms
// of a one-CPU tracker under load (gctrace), and one trim a second took
// johnlocke's p99 at 10,000 HTTP announces/s from 479-778 µs to
// 680-877 µs (four runs each, December 2026). So a busy heap is trimmed only every busyTrims intervals, which
// bounds how far a long burst can leave memory above the live data. A trim
// is also skipped until a hundred times its own duration has passed, so
// trimming never takes more than about one percent of a CPU.
func ReturnMemory(ctx context.Context, interval time.Duration) {
	returnMemory(ctx, interval, defaultBusyTrims)
}

// defaultBusyTrims is ReturnMemory's busyTrims: at one look a second, a
// heap that stays busy is trimmed every half minute.
const defaultBusyTrims = 30

// busyBytes is how much a look must find allocated since the last one for
// the heap to count as busy.
const busyBytes = 256 << 10

func returnMemory(ctx context.Context, interval time.Duration, busyTrims int) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	samples := []metrics.Sample{
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
	}
	// What a trim costs is the CPU time the collector and the scavenger
	// spend, not the wall time, which a busy CPU stretches.
	cpu := []metrics.Sample{
		{Name: "/cpu/classes/gc/total:cpu-seconds"},
		{Name: "/cpu/classes/scavenge/total:cpu-seconds"},
	}
	cpuSeconds := func() float64 {
		metrics.Read(cpu)
		total := 0.0
		for i := range cpu {
			if cpu[i].Value.Kind() == metrics.KindFloat64 {
				total += cpu[i].Value.Float64()
			}
		}
		return total
	}
	var (
		next       time.Time
		lastAllocs uint64
		rule       = trimRule{busyTrims: busyTrims}
		v          [4]uint64
		read       = func() {
			metrics.Read(samples)
			for i := range samples {
				v[i] = 0
				if samples[i].Value.Kind() == metrics.KindUint64 {
					v[i] = samples[i].Value.Uint64()
				}
			}
		}
	)
	read()
	lastAllocs = v[0]
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if now.Before(next) {
				continue
			}
			read()
			allocated := v[0] - lastAllocs
			lastAllocs = v[0]
			// Objects (live, or garbage not collected yet) and free pages
			// not given back; space lost inside the allocator's spans is
			// not something a trim can return.
			if !rule.look(allocated, v[1], v[2]+v[3]) {
				continue
			}
			before := cpuSeconds()
			runtime.GC()
			debug.FreeOSMemory()
			spent := time.Duration((cpuSeconds() - before) * float64(time.Second))
			next = time.Now().Add(100 * spent)
			read()
			lastAllocs = v[0]
		}
	}
}

// trimRule decides, look by look, when ReturnMemory trims.
type trimRule struct {
	busyTrims int
	// pending: the heap was busy since the last trim; busyFor: looks in a
	// row that found it busy since then.
	pending bool
	busyFor int
}

// look reports whether to trim now, given what was allocated since the
// last look, the heap's live bytes, and what it holds: objects, live or
// garbage not yet collected, and free pages not given back.
func (r *trimRule) look(allocated, live, held uint64) bool {
	if allocated >= busyBytes {
		r.pending = true
		r.busyFor++
		if r.busyFor < r.busyTrims {
			return false
		}
	} else if !r.pending && (held <= live || held-live < max(1<<20, live/10)) {
		return false
	}
	r.pending, r.busyFor = false, 0
	return true
}
