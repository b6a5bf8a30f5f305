//go:build linux

package pace

import (
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// socketWaiter makes a Waiter for a fresh loopback UDP socket whose try
// reads one datagram, and returns it with the address to send to and the
// count of datagrams read.
func socketWaiter(t *testing.T, window time.Duration) (*Waiter, *net.UDPAddr, *int) {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := conn.LocalAddr().(*net.UDPAddr)
	rc, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	read := new(int)
	buf := make([]byte, 64)
	try := func(sock uintptr) bool {
		_, _, err := unix.Recvfrom(int(sock), buf, unix.MSG_DONTWAIT)
		if err != nil {
			return false
		}
		*read++
		return true
	}
	var w *Waiter
	var werr error
	if err := rc.Control(func(fd uintptr) { w, werr = New(fd, window, try) }); err != nil {
		t.Fatal(err)
	}
	if werr != nil {
		t.Fatal(werr)
	}
	conn.Close()
	t.Cleanup(w.Release)
	return w, addr, read
}

func sendTo(t *testing.T, addr *net.UDPAddr, n int) {
	t.Helper()
	c, err := net.DialUDP("udp4", nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range n {
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWaiterPacesOnRateAndStops walks a Waiter through its states: it
// waits for the socket while quiet, starts pacing once Count has seen
// more than EnterPerWindow per window over a judgement, waits for the
// window then, stops pacing after empty rounds, and fails every Wait after
// Stop in either state.
func TestWaiterPacesOnRateAndStops(t *testing.T) {
	w, addr, read := socketWaiter(t, 5*time.Millisecond)

	// Quiet: Wait returns when a datagram has come.
	sendTo(t, addr, 1)
	if err := w.Wait(); err != nil || *read != 1 {
		t.Fatalf("Wait: %v, %d read", err, *read)
	}
	// Ten arrivals within a judgement of 1 ms, far over 2 per 5 ms window.
	time.Sleep(judgeEvery)
	if err := w.Count(10, false); err != nil {
		t.Fatal(err)
	}
	if !w.Paced() {
		t.Fatal("not pacing after 10 arrivals in a millisecond")
	}
	// Paced: Wait returns after the window, having tried once, with or
	// without anything to read.
	sendTo(t, addr, 3)
	if err := w.Wait(); err != nil || *read != 2 {
		t.Fatalf("paced Wait: %v, %d read", err, *read)
	}
	// more (see TestMoreSkipsTheWindow): the next Wait reads at once.
	if err := w.Count(1, true); err != nil {
		t.Fatal(err)
	}
	if err := w.Wait(); err != nil || *read != 3 {
		t.Fatalf("Wait after a full round: %v, %d read", err, *read)
	}
	// Empty rounds end pacing.
	for i := 0; i < emptyLeave && w.Paced(); i++ {
		if err := w.Count(0, false); err != nil {
			t.Fatal(err)
		}
	}
	if w.Paced() {
		t.Fatalf("still pacing after %d empty rounds", emptyLeave)
	}
	// Quiet again: the datagram left from the burst is read at once.
	if err := w.Wait(); err != nil || *read != 4 {
		t.Fatalf("Wait after pacing: %v, %d read", err, *read)
	}

	// Stop wakes a Wait blocked in either state.
	for _, paced := range []bool{false, true} {
		w, _, _ := socketWaiter(t, time.Hour)
		if err := w.SetPaced(paced); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- w.Wait() }()
		time.Sleep(10 * time.Millisecond)
		w.Stop()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("paced=%v: Wait woken by Stop returned no error", paced)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("paced=%v: Stop did not wake Wait", paced)
		}
		if err := w.Wait(); err == nil {
			t.Errorf("paced=%v: a Wait after Stop succeeded", paced)
		}
	}
}

// TestReleaseFreesThePort: once the caller has closed its descriptor and
// the Waiter is released, nothing holds the socket.
func TestReleaseFreesThePort(t *testing.T) {
	w, addr, _ := socketWaiter(t, time.Millisecond)
	if err := w.SetPaced(true); err != nil {
		t.Fatal(err)
	}
	w.Release()
	c, err := net.ListenUDP("udp4", addr)
	if err != nil {
		t.Fatalf("the port is still held after Release: %v", err)
	}
	c.Close()
}

// TestMoreSkipsTheWindow: after a round that left work waiting (a full
// batch), Wait reads at once instead of waiting for the window. The window
// is an hour, so without the skip Wait would not return within the bound.
func TestMoreSkipsTheWindow(t *testing.T) {
	w, addr, read := socketWaiter(t, time.Hour)
	if err := w.SetPaced(true); err != nil {
		t.Fatal(err)
	}
	if err := w.Count(1, true); err != nil {
		t.Fatal(err)
	}
	if !w.Paced() {
		t.Fatal("the Waiter stopped pacing")
	}
	sendTo(t, addr, 1)
	done := make(chan error, 1)
	go func() { done <- w.Wait() }()
	select {
	case err := <-done:
		if err != nil || *read != 1 {
			t.Fatalf("Wait: %v, %d read", err, *read)
		}
	case <-time.After(5 * time.Second):
		w.Stop()
		<-done
		t.Fatal("Wait waited for the window after a full round")
	}
}
