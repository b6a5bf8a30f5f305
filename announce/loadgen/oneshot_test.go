package loadgen

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// oneShotClients are the two ways a connection-per-announce run can drive
// its connections: the epoll loop (on Linux; elsewhere the same as Go's
// net package) and Go's net package.
var oneShotClients = []struct {
	name  string
	goNet bool
}{{"loop", false}, {"go-net", true}}

// TestOneShotValid: both clients, both ways of closing, against a tracker
// that checks every request: every peer announces with its own identity,
// a connection each, and every answer counts.
func TestOneShotValid(t *testing.T) {
	for _, cl := range oneShotClients {
		for _, noKeepAlive := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/no-keepalive=%v", cl.name, noKeepAlive), func(t *testing.T) {
				f := startFakeHTTP(t, httpBehaviour{})
				r, err := Run(context.Background(), Config{
					Addr: f.addr, Protocol: "http", Concurrency: 4, Duration: time.Minute,
					Torrents: 20, Peers: 400, Requests: 600, Seed: 1,
					NoKeepAlive: noKeepAlive, ClientCloses: !noKeepAlive, GoNet: cl.goNet,
				})
				if err != nil {
					t.Fatal(err)
				}
				checkClean(t, r)
				if got := f.bad.Load(); got != 0 {
					t.Errorf("tracker saw %d malformed requests: %q", got, f.badReasons[:min(len(f.badReasons), 5)])
				}
				f.mu.Lock()
				ids := len(f.identities)
				f.mu.Unlock()
				// Every peer starts once in the first pass; a few that stop
				// later start again.
				if r.Responses != 600 || r.Started < 400 || ids != 400 || r.AvgPeers != 3 {
					t.Errorf("responses %d, started %d, identities %d, avg peers %v; want 600, >= 400, 400, 3",
						r.Responses, r.Started, ids, r.AvgPeers)
				}
				// The probe's connection, then one per announce.
				if got := f.conns.Load(); got != 601 {
					t.Errorf("%d connections for 600 announces and the probe, want 601", got)
				}
				if r.Reconnects != 600-4 {
					t.Errorf("reconnects %d, want %d (every connection after each worker's first)", r.Reconnects, 600-4)
				}
				want := int64(0)
				if noKeepAlive {
					want = 600
				}
				if asked := f.closeAsked.Load(); asked != want {
					t.Errorf("%d requests asked for Connection: close, want %d", asked, want)
				}
			})
		}
	}
}

// TestOneShotBad: every malformed answer is counted by its kind, with
// either client.
func TestOneShotBad(t *testing.T) {
	tests := []struct {
		name string
		b    httpBehaviour
		kind string
	}{
		{"failure reason", httpBehaviour{connClose: true, body: func(int64) string { return "d14:failure reason9:not todaye" }}, "failure"},
		{"garbage", httpBehaviour{connClose: true, body: func(int64) string { return "<html>nope</html>" }}, "bencode"},
		{"peers length", httpBehaviour{connClose: true, body: func(int64) string { return "d8:intervali1800e5:peers7:abcdefge" }}, "peers"},
		{"status", httpBehaviour{connClose: true, status: 500}, "status"},
	}
	for _, cl := range oneShotClients {
		for _, tt := range tests {
			t.Run(cl.name+"/"+tt.name, func(t *testing.T) {
				f := startFakeHTTP(t, tt.b)
				r, err := Run(context.Background(), Config{
					Addr: f.addr, Protocol: "http", Concurrency: 2, Duration: time.Minute, Requests: 40,
					Torrents: 5, Peers: 50, NoKeepAlive: true, GoNet: cl.goNet,
				})
				if err != nil {
					t.Fatal(err)
				}
				if r.Responses != 0 || r.Errors != 40 || r.ErrorKinds[tt.kind] != r.Errors {
					t.Errorf("responses %d, errors %d %v; want 0 and 40 %s", r.Responses, r.Errors, r.ErrorKinds, tt.kind)
				}
				if tt.kind == "failure" && r.Reasons["not today"] != r.Errors {
					t.Errorf("reasons %v, want every error as %q", r.Reasons, "not today")
				}
			})
		}
	}
}

// rawTracker answers each connection with what answer returns for its
// request, written as it is, then closes; it counts the connections.
func rawTracker(t *testing.T, answer func(n int) string) (addr string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ln.Close()
			wg.Wait()
		})
	}
	t.Cleanup(stop)
	wg.Go(func() {
		for n := 1; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				buf := make([]byte, 4096)
				got := 0
				for !strings.Contains(string(buf[:got]), "\r\n\r\n") {
					m, err := c.Read(buf[got:])
					if err != nil {
						return
					}
					got += m
				}
				c.Write([]byte(answer(n)))
			})
		}
	})
	return ln.Addr().String(), stop
}

// TestOneShotFraming: answers framed by Content-Length or by the end of
// the connection are read whole; one that ends early, carries more than
// its length, or comes chunked is an error of its kind. n is 1 for the
// load generator's probe, which reads nothing.
func TestOneShotFraming(t *testing.T) {
	body := compactBody(2)
	tests := []struct {
		name   string
		answer string
		kind   string // "" for a valid answer
	}{
		{"length", fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body), ""},
		{"to the end", "HTTP/1.0 200 OK\r\n\r\n" + body, ""},
		{"short", fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body)+5, body), "read"},
		{"extra", fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%sxx", len(body), body), "http"},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "http"},
		{"no head end", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n", "read"},
		{"nothing", "", "read"},
		{"too large", fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", httpBufferSize+1) + strings.Repeat("x", httpBufferSize+1), "too_large"},
	}
	for _, cl := range oneShotClients {
		for _, tt := range tests {
			t.Run(cl.name+"/"+tt.name, func(t *testing.T) {
				addr, _ := rawTracker(t, func(int) string { return tt.answer })
				r, err := Run(context.Background(), Config{
					Addr: addr, Protocol: "http", Concurrency: 2, Duration: time.Minute, Requests: 20,
					Peers: 50, NoKeepAlive: true, GoNet: cl.goNet, Timeout: 2 * time.Second,
				})
				if err != nil {
					t.Fatal(err)
				}
				if tt.kind == "" {
					if r.Responses != 20 || r.Errors != 0 || r.AvgPeers != 2 {
						t.Errorf("responses %d, errors %v, avg peers %v; want 20, none, 2", r.Responses, r.ErrorKinds, r.AvgPeers)
					}
					return
				}
				if r.Responses != 0 || r.Errors != 20 || r.ErrorKinds[tt.kind] != 20 {
					t.Errorf("responses %d, errors %v; want 20 %s", r.Responses, r.ErrorKinds, tt.kind)
				}
			})
		}
	}
}

// TestOneShotBounded: a tracker that never answers costs timeouts and a
// run no longer than its duration and one timeout; a cancelled run ends at
// once and counts nothing it cut short as an error. A tracker that goes
// away during a run is counted as dial errors, not spun on.
func TestOneShotBounded(t *testing.T) {
	for _, cl := range oneShotClients {
		t.Run(cl.name, func(t *testing.T) {
			addr := startFakeHTTP(t, httpBehaviour{silent: true}).addr
			start := time.Now()
			r, err := Run(context.Background(), Config{
				Addr: addr, Protocol: "http", Concurrency: 3, Duration: 200 * time.Millisecond,
				Peers: 10, Timeout: 150 * time.Millisecond, NoKeepAlive: true, GoNet: cl.goNet,
			})
			if err != nil {
				t.Fatal(err)
			}
			if el := time.Since(start); el > 200*time.Millisecond+2*150*time.Millisecond+300*time.Millisecond {
				t.Errorf("run took %v", el)
			}
			if r.Responses != 0 || r.ErrorKinds["timeout"] == 0 || r.ErrorKinds["timeout"] != r.Errors {
				t.Errorf("responses %d, errors %v; want only timeouts", r.Responses, r.ErrorKinds)
			}

			checkCancelledRun(t, Config{
				Addr: addr, Protocol: "http", Concurrency: 3, Duration: time.Minute,
				Peers: 10, Timeout: 10 * time.Second, NoKeepAlive: true, GoNet: cl.goNet,
			})

			body := compactBody(1)
			gone, stop := rawTracker(t, func(int) string {
				return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
			})
			time.AfterFunc(100*time.Millisecond, stop)
			r, err = Run(context.Background(), Config{
				Addr: gone, Protocol: "http", Concurrency: 2, Duration: 400 * time.Millisecond,
				Peers: 10, NoKeepAlive: true, GoNet: cl.goNet,
			})
			if err != nil {
				t.Fatal(err)
			}
			dials := r.ErrorKinds["dial"]
			// With a 10 ms back-off, two workers over the last 300 ms try
			// at most about 60 times.
			if r.Responses == 0 || dials == 0 || dials > 100 {
				t.Errorf("responses %d, errors %v; want answers, then some dial errors, backed off", r.Responses, r.ErrorKinds)
			}
		})
	}
}

// TestOneShotRate: a paced run keeps its rate.
func TestOneShotRate(t *testing.T) {
	for _, cl := range oneShotClients {
		t.Run(cl.name, func(t *testing.T) {
			f := startFakeHTTP(t, httpBehaviour{connClose: true})
			r, err := Run(context.Background(), Config{
				Addr: f.addr, Protocol: "http", Concurrency: 4, Duration: 500 * time.Millisecond, Rate: 1000,
				Peers: 100, NoKeepAlive: true, GoNet: cl.goNet,
			})
			if err != nil {
				t.Fatal(err)
			}
			checkClean(t, r)
			if r.PerSecond < 600 || r.PerSecond > 1150 {
				t.Errorf("paced at 1000/s: %.0f/s", r.PerSecond)
			}
		})
	}
}
