//go:build linux

package udp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"johnlocke/store"
)

// loadClient is a client socket with its connection id.
type loadClient struct {
	c  *client
	id uint64
}

// connectClients opens n clients and connects each to to.
func connectClients(t *testing.T, to netip.AddrPort, n int) []loadClient {
	t.Helper()
	cs := make([]loadClient, n)
	for i := range cs {
		cs[i].c = newClient(t, "udp4", "127.0.0.1:0")
		cs[i].id = cs[i].c.connect(to)
	}
	return cs
}

// closedLoop has each client announce to to, one announce in flight each
// and waiting up to wait for its answer, until stop is closed. Every
// answer must be an announce answer to the announce it answers; it returns
// the answers counted and the first thing that went wrong.
func closedLoop(to netip.AddrPort, hash [20]byte, clients []loadClient, wait time.Duration, stop <-chan struct{}) (int, error) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int
		first error
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if first == nil {
			first = err
		}
	}
	for i, lc := range clients {
		c, id := lc.c, lc.id
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 2048)
			for tx := uint32(1); ; tx++ {
				select {
				case <-stop:
					return
				default:
				}
				pkt := announcePacket(ann{connID: id, tx: tx, hash: hash, left: 1, port: uint16(1000 + i), numWant: 10})
				if _, err := c.conn.WriteToUDPAddrPort(pkt, to); err != nil {
					fail(fmt.Errorf("client %d: send: %w", i, err))
					return
				}
				c.conn.SetReadDeadline(time.Now().Add(wait))
				m, _, err := c.conn.ReadFromUDPAddrPort(buf)
				if err != nil {
					fail(fmt.Errorf("client %d: no answer to announce %d: %w", i, tx, err))
					return
				}
				be := binary.BigEndian
				if m < 20 || be.Uint32(buf) != actionAnnounce || be.Uint32(buf[4:]) != tx {
					fail(fmt.Errorf("client %d: announce %d answered with %x", i, tx, buf[:min(m, 24)]))
					return
				}
				mu.Lock()
				total++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return total, first
}

// runLoad runs closedLoop for d.
func runLoad(t *testing.T, to netip.AddrPort, hash [20]byte, clients int, d time.Duration) int {
	t.Helper()
	stop := make(chan struct{})
	timer := time.AfterFunc(d, func() { close(stop) })
	defer timer.Stop()
	n, err := closedLoop(to, hash, connectClients(t, to, clients), replyTimeout, stop)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func pacedServer(t *testing.T, window time.Duration) (*Server, netip.AddrPort, [20]byte) {
	t.Helper()
	st := openStore(t, store.Config{})
	hash := hashOf("paced")
	register(t, st, hash)
	s, to := newTestServer(t, st, Config{Key: testKey, Window: window}, "udp4", "127.0.0.1:0")
	return s, to, hash
}

// TestPacedReaderAnswersEveryAnnounce loads a reader with a 2 ms window
// from 16 clients: it must start pacing (16 announces in flight is 8 per
// millisecond, far over 2 per window), answer every announce, and go back
// to waiting for the socket once the load stops, still answering.
func TestPacedReaderAnswersEveryAnnounce(t *testing.T) {
	s, to, hash := pacedServer(t, 2*time.Millisecond)
	answered := runLoad(t, to, hash, 16, 300*time.Millisecond)
	paced := s.pacedReads.Load()
	if paced == 0 {
		t.Fatalf("%d announces answered, none of them after waiting for a window", answered)
	}
	t.Logf("%d announces answered, %d paced reads (%.1f answers a read)", answered, paced, float64(answered)/float64(paced))

	// Three empty windows end pacing; after that an idle reader makes no
	// paced reads.
	time.Sleep(50 * time.Millisecond)
	settled := s.pacedReads.Load()
	time.Sleep(50 * time.Millisecond)
	if now := s.pacedReads.Load(); now != settled {
		t.Errorf("the idle reader still waits on its window: %d paced reads in 50 ms", now-settled)
	}
	c := newClient(t, "udp4", "127.0.0.1:0")
	c.connect(to)
	if now := s.pacedReads.Load(); now != settled {
		t.Errorf("a single connect was read after a window (%d paced reads), want at once", now-settled)
	}

	// And the load starts pacing again.
	runLoad(t, to, hash, 16, 100*time.Millisecond)
	if s.pacedReads.Load() == settled {
		t.Errorf("no paced read under the second load")
	}
}

// TestNoWindowNeverPaces: a negative window reads each datagram as it
// comes, as --udp-window 0 asks.
func TestNoWindowNeverPaces(t *testing.T) {
	s, to, hash := pacedServer(t, -1)
	if n := runLoad(t, to, hash, 16, 150*time.Millisecond); n == 0 {
		t.Fatal("nothing answered")
	}
	if n := s.pacedReads.Load(); n != 0 {
		t.Errorf("%d paced reads with no window", n)
	}
}

// TestBurstWhilePacingIsAnswered: more datagrams than one read takes
// (three full batches and some), sent at once to a reader pacing on a long
// window, are all answered, once each. That the read after a full batch
// does not wait for the window is pace's TestMoreSkipsTheWindow.
func TestBurstWhilePacingIsAnswered(t *testing.T) {
	s, to, hash := pacedServer(t, 10*time.Millisecond)
	runLoad(t, to, hash, 32, 100*time.Millisecond) // start pacing
	if s.pacedReads.Load() == 0 {
		t.Fatal("the reader did not start pacing")
	}
	c := newClient(t, "udp4", "127.0.0.1:0")
	c.conn.SetReadBuffer(1 << 20)
	id := c.connect(to)
	const burst = 3*batchSize + 5
	for tx := range uint32(burst) {
		c.send(to, announcePacket(ann{connID: id, tx: tx, hash: hash, left: 1, port: 7000, numWant: 5}))
	}
	seen := make(map[uint32]bool)
	for len(seen) < burst {
		reply, ok := c.recv(replyTimeout)
		if !ok {
			t.Fatalf("%d of %d answers came", len(seen), burst)
		}
		tx := binary.BigEndian.Uint32(reply[4:])
		if seen[tx] || tx >= burst {
			t.Fatalf("answer to announce %d, repeated or never sent", tx)
		}
		seen[tx] = true
	}
}

// TestShutdownStopsAPacingReader closes the server while its reader paces
// under load, and with a context; Serve must return nil at once, and the
// socket's port must be free again.
func TestShutdownStopsAPacingReader(t *testing.T) {
	for _, how := range []string{"Shutdown", "context"} {
		t.Run(how, func(t *testing.T) {
			st := openStore(t, store.Config{})
			hash := hashOf("paced")
			register(t, st, hash)
			s := NewServer(st, Config{Key: testKey, Window: time.Millisecond}, zerolog.Nop())
			conn := listen(t, "udp4", "127.0.0.1:0")
			to := conn.LocalAddr().(*net.UDPAddr).AddrPort()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- s.Serve(ctx, conn) }()

			stop := make(chan struct{})
			loadDone := make(chan error, 1)
			clients := connectClients(t, to, 8)
			go func() {
				_, err := closedLoop(to, hash, clients, 200*time.Millisecond, stop)
				loadDone <- err
			}()
			deadline := time.Now().Add(replyTimeout)
			for s.pacedReads.Load() == 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if s.pacedReads.Load() == 0 {
				t.Fatal("the reader did not start pacing")
			}
			if how == "Shutdown" {
				sctx, scancel := context.WithTimeout(context.Background(), replyTimeout)
				defer scancel()
				if err := s.Shutdown(sctx); err != nil {
					t.Fatalf("Shutdown: %v", err)
				}
			} else {
				cancel()
			}
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Serve returned %v, want nil", err)
				}
			case <-time.After(replyTimeout):
				t.Fatal("Serve did not return")
			}
			close(stop)
			// The clients in flight time out: nobody answers any more.
			if err := <-loadDone; err != nil && !isTimeout(err) {
				t.Errorf("load: %v", err)
			}
			// Every descriptor of the socket is closed: its port can be
			// bound again.
			again, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(to))
			if err != nil {
				t.Fatalf("the port is still held after Serve returned: %v", err)
			}
			again.Close()
		})
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestPacedReadAllocs pins the paced path at zero allocations: waiting for
// the window, reading, answering and writing a batch.
func TestPacedReadAllocs(t *testing.T) {
	st := openStore(t, store.Config{})
	hash := hashOf("paced")
	register(t, st, hash)
	s := NewServer(st, Config{Key: testKey}, zerolog.Nop())
	conn := listen(t, "udp4", "127.0.0.1:0")
	to := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	b := newTestBatchConn(t, conn)
	w, err := b.waiter(time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Release()
	conn.Close()
	h := s.newHandler()
	c := newClient(t, "udp4", "127.0.0.1:0")
	id := s.key.connID(epochOf(time.Now()), c.addr())
	// A round's announces must keep the waiter's rate at or above
	// leavePerWindow (one a window) however slowly the round runs: with
	// a window of 1 ms, 32 of them stay paced through rounds of up to
	// 32 ms. A loaded machine under the race detector stretched rounds
	// past 0.8 ms, where 8 announces in 100 µs windows left pacing (about
	// one run in twenty, with every CPU busy).
	pkts := make([][]byte, 32)
	for i := range pkts {
		pkts[i] = announcePacket(ann{connID: id, tx: uint32(i), hash: hash, left: 1, port: 6881, numWant: 5})
	}
	buf := make([]byte, 2048)
	// Pacing starts once all else is set up, so that the setup's time
	// does not count in the waiter's first judgement of the rate.
	if err := w.SetPaced(true); err != nil {
		t.Fatal(err)
	}
	round := func() {
		for _, pkt := range pkts {
			c.conn.WriteToUDPAddrPort(pkt, to)
		}
		for got := 0; got < len(pkts); {
			b.got, b.err = 0, nil
			if err := w.Wait(); err != nil {
				t.Fatal(err)
			}
			if err := w.Count(b.got, false); err != nil {
				t.Fatal(err)
			}
			got += b.got
			b.answerAll(h, b.got, epochOf(s.now()))
			b.writeTo(w.Socket())
		}
		for range pkts {
			c.conn.ReadFromUDPAddrPort(buf)
		}
	}
	round()
	if !w.Paced() {
		t.Fatal("the waiter left pacing under load")
	}
	if n := testing.AllocsPerRun(200, round); n != 0 {
		t.Errorf("%v allocations per round of %d announces, want 0", n, len(pkts))
	}
}
