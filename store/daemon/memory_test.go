package daemon

import (
	"context"
	"runtime/metrics"
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

// TestReturnMemoryWaitsForQuiet: a heap kept busy is not trimmed until it
// has been busy for busyTrims looks; once it goes quiet it is trimmed at
// the next look.
func TestReturnMemoryWaitsForQuiet(t *testing.T) {
	const interval = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		returnMemory(ctx, interval, 1000) // busy: never within this test
	}()
	defer func() {
		cancel()
		<-done
	}()

	before := forcedGCs()
	stop := make(chan struct{})
	churned := make(chan struct{})
	go func() {
		defer close(churned)
		churn(stop)
	}()
	time.Sleep(30 * interval)
	close(stop)
	<-churned
	if n := forcedGCs() - before; n != 0 {
		t.Fatalf("%d forced collections while the heap was busy, want none", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for forcedGCs() == before {
		if time.Now().After(deadline) {
			t.Fatal("no trim within 5 s of the heap going quiet")
		}
		time.Sleep(interval)
	}
}

// TestReturnMemoryBoundsBusy: a heap that stays busy is still trimmed
// every busyTrims looks.
func TestReturnMemoryBoundsBusy(t *testing.T) {
	const interval = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		returnMemory(ctx, interval, 5)
	}()
	stop := make(chan struct{})
	churned := make(chan struct{})
	go func() {
		defer close(churned)
		churn(stop)
	}()
	defer func() {
		close(stop)
		<-churned
		cancel()
		<-done
	}()
	before := forcedGCs()
	deadline := time.Now().Add(5 * time.Second)
	for forcedGCs() == before {
		if time.Now().After(deadline) {
			t.Fatal("a heap busy for 5 s was never trimmed")
		}
		time.Sleep(interval)
	}
}
