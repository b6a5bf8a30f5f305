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
// the system at once with debug.FreeOSMemory) when the heap has been busy
// since the last look (a collection ran: peers arrived, a flush wrote) or
// holds more than a tenth and at least a MiB of garbage and free pages
// beyond its live data. The
// runtime would give memory back on its own, but slowly, and once a burst
// is over nothing allocates to trigger the collection that would free its
// garbage; the second collection also empties the caches that survive one
// (sync.Pool, where bbolt keeps the pages of its last write). A trim is
// skipped until a hundred times its own duration has passed, so trimming
// never takes more than about one percent of a CPU.
func ReturnMemory(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	samples := []metrics.Sample{
		{Name: "/gc/cycles/total:gc-cycles"},
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
		next    time.Time
		lastGCs uint64
		v       [4]uint64
		read    = func() {
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
	lastGCs = v[0]
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if now.Before(next) {
				continue
			}
			read()
			busy := v[0] != lastGCs
			// Garbage not collected yet and free pages not given back;
			// space lost inside the allocator's spans is not something a
			// trim can return.
			live, held := v[1], v[2]+v[3]
			bloated := held > live && held-live >= max(1<<20, live/10)
			if !busy && !bloated {
				continue
			}
			before := cpuSeconds()
			runtime.GC()
			debug.FreeOSMemory()
			spent := time.Duration((cpuSeconds() - before) * float64(time.Second))
			next = time.Now().Add(100 * spent)
			read()
			lastGCs = v[0]
		}
	}
}
