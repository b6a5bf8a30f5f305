package daemon

import (
	"context"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// forcedGCs is how many collections the program asked for (runtime.GC,
// debug.FreeOSMemory): only a trim does, in this package's tests.
func forcedGCs() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/forced:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// sink keeps allocations reachable long enough to make garbage.
var sink atomic.Pointer[[]byte]

// churn allocates garbage until stop is closed, enough for several
// collections every millisecond on a small heap.
func churn(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		for range 64 {
			b := make([]byte, 16<<10)
			sink.Store(&b)
		}
	}
}

// TestTrimRule walks the trim's decision through the looks of a busy
// spell, a quiet one, a bloated quiet heap and a long busy spell.
func TestTrimRule(t *testing.T) {
	const mib = 1 << 20
	r := trimRule{busyTrims: 3}
	steps := []struct {
		what                  string
		allocated, live, held uint64
		want                  bool
	}{
		{"quiet from the start, nothing held", 0, 10 * mib, 10 * mib, false},
		{"busy", busyBytes, 10 * mib, 12 * mib, false},
		{"busy again", 4 * mib, 10 * mib, 14 * mib, false},
		{"quiet after busy", busyBytes - 1, 10 * mib, 14 * mib, true},
		{"quiet, little held", 0, 10 * mib, 10*mib + mib/2, false},
		{"quiet, bloated", 0, 10 * mib, 12 * mib, true},
		{"quiet, bloated but under a MiB", 0, 2 * mib, 2*mib + mib/2, false},
		{"busy 1", mib, 10 * mib, 12 * mib, false},
		{"busy 2", mib, 10 * mib, 12 * mib, false},
		{"busy 3: the bound", mib, 10 * mib, 12 * mib, true},
		{"busy 1 after the bound", mib, 10 * mib, 12 * mib, false},
		{"quiet", 0, 10 * mib, 10 * mib, true},
	}
	for _, st := range steps {
		if got := r.look(st.allocated, st.live, st.held); got != st.want {
			t.Fatalf("%s: trim %v, want %v", st.what, got, st.want)
		}
	}
}

// trimInterval is how often the tests' trimmer looks.
const trimInterval = 20 * time.Millisecond

// startTrimmer runs returnMemory until the test ends.
func startTrimmer(t *testing.T, busyTrims int) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		returnMemory(ctx, trimInterval, busyTrims)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// startChurn allocates garbage on a goroutine of its own until the
// returned function is called (or the test ends).
func startChurn(t *testing.T) (stop func()) {
	quit := make(chan struct{})
	churned := make(chan struct{})
	go func() {
		defer close(churned)
		churn(quit)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			close(quit)
			<-churned
		})
	}
	t.Cleanup(stop)
	return stop
}

// awaitTrim waits up to 5 s for a trim after before forced collections.
func awaitTrim(t *testing.T, before uint64, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for forcedGCs() == before {
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
		time.Sleep(trimInterval)
	}
}

// TestReturnMemoryTrimsOnceQuiet: on the running program, a trim follows
// a burst of allocations soon after it ends.
func TestReturnMemoryTrimsOnceQuiet(t *testing.T) {
	startTrimmer(t, 1000)
	stop := startChurn(t)
	time.Sleep(10 * trimInterval)
	stop()
	awaitTrim(t, forcedGCs(), "no trim within 5 s of the heap going quiet")
}

// TestReturnMemoryBoundsBusy: a heap that stays busy is still trimmed
// every busyTrims looks.
func TestReturnMemoryBoundsBusy(t *testing.T) {
	startTrimmer(t, 5)
	startChurn(t)
	awaitTrim(t, forcedGCs(), "a heap busy for 5 s was never trimmed")
}
