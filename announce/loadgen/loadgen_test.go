package loadgen

import (
	"context"
	"encoding/binary"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// checkClean fails the test unless r has answers, no errors and peers.
func checkClean(t *testing.T, r Report) {
	t.Helper()
	t.Logf("%s\n%s", r.Line(), r)
	if r.Responses == 0 || r.Errors != 0 || r.AvgPeers <= 0 {
		t.Errorf("responses %d, errors %d (%v, %v), avg peers %.2f; want > 0, 0, > 0",
			r.Responses, r.Errors, r.ErrorKinds, r.Reasons, r.AvgPeers)
	}
}

func TestHTTPFakeValid(t *testing.T) {
	f := startFakeHTTP(t, httpBehaviour{})
	r, err := Run(context.Background(), Config{
		Addr: f.addr, Protocol: "http", Concurrency: 4, Duration: 300 * time.Millisecond,
		Torrents: 20, Peers: 400, Seed: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkClean(t, r)
	if got := f.bad.Load(); got != 0 {
		t.Errorf("tracker saw %d malformed requests: %q", got, f.badReasons[:min(len(f.badReasons), 5)])
	}
	if got, want := r.AvgPeers, 3.0; got != want {
		t.Errorf("avg peers %v, want %v", got, want)
	}
	if got, want := f.conns.Load(), int64(4+1); got != want { // one probe, one per worker
		t.Errorf("connections %d, want %d (keep-alive)", got, want)
	}
	if r.Reconnects != 0 {
		t.Errorf("reconnects %d, want 0", r.Reconnects)
	}
	if r.Responses >= 400 {
		f.mu.Lock()
		ids, hashes := len(f.identities), len(f.hashes)
		f.mu.Unlock()
		// Every peer announced (the first pass goes through them all), each
		// with its own identity, and nothing beyond the 400 peers exists.
		if ids != 400 {
			t.Errorf("distinct address:port identities %d, want 400", ids)
		}
		if hashes > 20 || hashes < 5 {
			t.Errorf("distinct infohashes %d, want 5..20", hashes)
		}
	}
	if r.Started < 400 || r.Periodic == 0 {
		t.Errorf("events: %d started, %d periodic; want >= 400 and > 0", r.Started, r.Periodic)
	}
}

func TestHTTPFakeBad(t *testing.T) {
	tests := []struct {
		name string
		b    httpBehaviour
		kind string
	}{
		{"failure reason", httpBehaviour{body: func(int64) string { return "d14:failure reason9:not todaye" }}, "failure"},
		{"garbage", httpBehaviour{body: func(int64) string { return "<html>nope</html>" }}, "bencode"},
		{"truncated", httpBehaviour{body: func(int64) string { return "d8:intervali1800e5:peers6:abce" }}, "bencode"},
		{"trailing", httpBehaviour{body: func(int64) string { return compactBody(1) + "x" }}, "bencode"},
		{"peers length", httpBehaviour{body: func(int64) string { return "d8:intervali1800e5:peers7:abcdefge" }}, "peers"},
		{"no interval", httpBehaviour{body: func(int64) string { return "d5:peers0:e" }}, "fields"},
		{"status", httpBehaviour{status: 500}, "status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFakeHTTP(t, tt.b)
			r, err := Run(context.Background(), Config{
				Addr: f.addr, Protocol: "http", Concurrency: 2, Duration: 150 * time.Millisecond,
				Torrents: 5, Peers: 50,
			})
			if err != nil {
				t.Fatal(err)
			}
			if r.Responses != 0 || r.Errors == 0 || r.ErrorKinds[tt.kind] != r.Errors {
				t.Errorf("responses %d, errors %d %v; want 0 and all %s", r.Responses, r.Errors, r.ErrorKinds, tt.kind)
			}
			if tt.kind == "failure" && r.Reasons["not today"] != r.Errors {
				t.Errorf("reasons %v, want every error as %q", r.Reasons, "not today")
			}
		})
	}
}

// TestHTTPCloseEach: a tracker that closes the connection after every
// answer, unannounced (opentracker) or with "Connection: close", is
// followed with reconnects, not errors.
func TestHTTPCloseEach(t *testing.T) {
	for _, b := range []httpBehaviour{{closeEach: true}, {connClose: true}} {
		f := startFakeHTTP(t, b)
		r, err := Run(context.Background(), Config{
			Addr: f.addr, Protocol: "http", Concurrency: 3, Duration: 300 * time.Millisecond,
			Torrents: 5, Peers: 100,
		})
		if err != nil {
			t.Fatal(err)
		}
		checkClean(t, r)
		if r.Reconnects < r.Responses-3-closeAfter*3 {
			t.Errorf("%+v: %d reconnects for %d responses; want one per answer", b, r.Reconnects, r.Responses)
		}
	}
}

func TestUDPFakeValid(t *testing.T) {
	f := startFakeUDP(t, udpBehaviour{})
	r, err := Run(context.Background(), Config{
		Addr: f.addr, Protocol: "udp", Concurrency: 4, Duration: 300 * time.Millisecond,
		Torrents: 20, Peers: 400, Seed: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkClean(t, r)
	if got := f.bad.Load(); got != 0 {
		t.Errorf("tracker saw %d malformed packets", got)
	}
	if r.Connects != 4 {
		t.Errorf("connects %d, want 4 (one per worker)", r.Connects)
	}
	f.mu.Lock()
	ids := len(f.identities)
	f.mu.Unlock()
	if r.Responses >= 400 && ids != 400 {
		t.Errorf("distinct identities %d, want 400", ids)
	}
}

func TestUDPFakeBad(t *testing.T) {
	tests := []struct {
		name  string
		b     udpBehaviour
		kinds []string
	}{
		{"length", udpBehaviour{reply: func(_ int64, b []byte) int { return 21 }}, []string{"peers"}},
		{"short", udpBehaviour{reply: func(_ int64, b []byte) int { return 12 }}, []string{"udp_packet"}},
		{"action", udpBehaviour{reply: func(_ int64, b []byte) int {
			binary.BigEndian.PutUint32(b, 2)
			return 20
		}}, []string{"udp_packet"}},
		{"error", udpBehaviour{reply: func(_ int64, b []byte) int {
			binary.BigEndian.PutUint32(b, 3)
			return 8 + copy(b[8:], "go away")
		}}, []string{"udp_error"}},
		{"silent", udpBehaviour{drop: func(int64) bool { return true }}, []string{"timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFakeUDP(t, tt.b)
			r, err := Run(context.Background(), Config{
				Addr: f.addr, Protocol: "udp", Concurrency: 2, Duration: 150 * time.Millisecond,
				Torrents: 5, Peers: 50, Timeout: 50 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			var sum int64
			for _, k := range tt.kinds {
				sum += r.ErrorKinds[k]
			}
			// A busy machine can stretch one answer past the 50 ms timeout;
			// such timeouts are tolerated beside the expected kind.
			late := r.ErrorKinds["timeout"]
			if slices.Contains(tt.kinds, "timeout") {
				late = 0
			}
			if r.Responses != 0 || sum == 0 || sum+late != r.Errors {
				t.Errorf("responses %d, errors %d %v; want 0 and all %v", r.Responses, r.Errors, r.ErrorKinds, tt.kinds)
			}
		})
	}
}

// TestUDPRenewal: a tracker that stops honouring a connection id answers
// an error about it; the generator counts it and gets a new id.
func TestUDPRenewal(t *testing.T) {
	f := startFakeUDP(t, udpBehaviour{idUses: 50})
	r, err := Run(context.Background(), Config{
		Addr: f.addr, Protocol: "udp", Concurrency: 2, Duration: 300 * time.Millisecond, Peers: 100,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(r.Line())
	if r.Responses < 200 || r.Connects < 4 || r.Errors != r.ErrorKinds["udp_error"] || r.Reasons["Connection ID missmatch."] != r.Errors {
		t.Errorf("responses %d, connects %d, errors %v %v; want renewals after each error", r.Responses, r.Connects, r.ErrorKinds, r.Reasons)
	}
	// Each id is good for 50 announces; the error renews it at once, so
	// at most the rest of a window fails with it.
	if r.Connects < r.Responses/50 || r.Errors > r.Connects*udpWindow {
		t.Errorf("%d connects, %d errors for %d answers; renewal does not happen", r.Connects, r.Errors, r.Responses)
	}
}

// TestUDPTimeoutRetry: lost answers are retried and counted once each;
// late duplicates are skipped as stale.
func TestUDPTimeoutRetry(t *testing.T) {
	f := startFakeUDP(t, udpBehaviour{drop: func(n int64) bool { return n%10 == 0 }, twice: true})
	const workers = 2
	r, err := Run(context.Background(), Config{
		Addr: f.addr, Protocol: "udp", Concurrency: workers, Duration: 400 * time.Millisecond,
		Peers: 100, Timeout: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s\n%s", r.Line(), r)
	if r.Responses == 0 || r.Errors == 0 || r.Errors != r.ErrorKinds["timeout"] {
		t.Errorf("responses %d, errors %v; want answers and only timeouts", r.Responses, r.ErrorKinds)
	}
	if r.Stale == 0 {
		t.Errorf("stale %d, want > 0 (every answer is sent twice)", r.Stale)
	}
	// Requests still in flight when the run ends are neither answered nor
	// failed: at most one window per worker.
	if done := r.Responses + r.Errors; done > r.Requests || r.Requests-done > workers*udpWindow {
		t.Errorf("requests %d, responses %d + errors %d", r.Requests, r.Responses, r.Errors)
	}
}

// TestBounded: a tracker that never answers cannot hold a run past its
// duration by more than one timeout, and cancelling ends it early without
// counting the interrupted requests.
func TestBounded(t *testing.T) {
	for _, proto := range []string{"http", "udp"} {
		t.Run(proto, func(t *testing.T) {
			var addr string
			if proto == "http" {
				addr = startFakeHTTP(t, httpBehaviour{silent: true}).addr
			} else {
				// Answers connects, drops every announce.
				addr = startFakeUDP(t, udpBehaviour{drop: func(int64) bool { return true }}).addr
			}
			start := time.Now()
			r, err := Run(context.Background(), Config{
				Addr: addr, Protocol: proto, Concurrency: 3, Duration: 200 * time.Millisecond,
				Peers: 10, Timeout: 150 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			if el := time.Since(start); el > 200*time.Millisecond+3*150*time.Millisecond+200*time.Millisecond {
				t.Errorf("run took %v", el)
			}
			if r.Responses != 0 || r.ErrorKinds["timeout"] == 0 {
				t.Errorf("responses %d, errors %v; want timeouts", r.Responses, r.ErrorKinds)
			}

			checkCancelledRun(t, Config{
				Addr: addr, Protocol: proto, Concurrency: 3, Duration: time.Minute,
				Peers: 10, Timeout: 10 * time.Second,
			})
		})
	}
}

// checkCancelledRun runs cfg against a tracker that never answers and
// cancels it after 100 ms: the run must end at once and count nothing it
// cut short as an error.
func checkCancelledRun(t *testing.T, cfg Config) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	r, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("cancelled run took %v", el)
	}
	if r.Errors != 0 {
		t.Errorf("cancelled run counted errors %v", r.ErrorKinds)
	}
}

func TestRunErrors(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no duration", Config{Addr: "127.0.0.1:1", Protocol: "http"}, "duration"},
		{"protocol", Config{Addr: "127.0.0.1:1", Protocol: "ftp", Duration: time.Second}, "protocol"},
		{"no addr", Config{Protocol: "udp", Duration: time.Second}, "addr"},
		{"skew", Config{Addr: "127.0.0.1:1", Duration: time.Second, Skew: 0.5}, "skew"},
		{"refused", Config{Addr: closed, Protocol: "http", Duration: time.Second}, "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run: %v, want an error about %q", err, tt.want)
			}
		})
	}
}

// TestRate: a paced run sends about the rate asked for.
func TestRate(t *testing.T) {
	f := startFakeUDP(t, udpBehaviour{})
	r, err := Run(context.Background(), Config{
		Addr: f.addr, Protocol: "udp", Concurrency: 4, Duration: 500 * time.Millisecond, Rate: 2000, Peers: 100,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.PerSecond < 1200 || r.PerSecond > 2300 {
		t.Errorf("paced at 2000/s: %.0f/s", r.PerSecond)
	}
}

// TestGeneratorThroughput measures what the generator itself can drive
// against trackers that do no work, so a comparison knows it is not the
// bottleneck. It only logs; run with -v to see the figures.
func TestGeneratorThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("measures for a second per protocol")
	}
	for _, proto := range []string{"http", "udp"} {
		var addr string
		if proto == "http" {
			addr = startFakeHTTP(t, httpBehaviour{fast: true}).addr
		} else {
			addr = startFakeUDP(t, udpBehaviour{fast: true}).addr
		}
		r, err := Run(context.Background(), Config{
			Addr: addr, Protocol: proto, Concurrency: 16, Duration: time.Second, Peers: 100000, Torrents: 1000,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("trivial %s responder: %s", proto, r.Line())
		if r.Errors != 0 {
			t.Errorf("errors %v", r.ErrorKinds)
		}
	}
}

// TestRequests: a run bounded by count ends when every worker has done its
// share, and Requests == Peers starts every peer exactly once.
func TestRequests(t *testing.T) {
	f := startFakeUDP(t, udpBehaviour{})
	start := time.Now()
	r, err := Run(context.Background(), Config{
		Addr: f.addr, Protocol: "udp", Concurrency: 7, Duration: time.Minute, Peers: 300, Requests: 300,
	})
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("run took %v", el)
	}
	f.mu.Lock()
	ids := len(f.identities)
	f.mu.Unlock()
	if r.Responses != 300 || r.Started != 300 || ids != 300 {
		t.Errorf("responses %d, started %d, identities %d; want 300 each", r.Responses, r.Started, ids)
	}
}

// TestConnectionPerAnnounce: --no-keepalive and --client-closes open a
// connection per announce; only the first asks the tracker to close it.
func TestConnectionPerAnnounce(t *testing.T) {
	for _, noKeepAlive := range []bool{true, false} {
		f := startFakeHTTP(t, httpBehaviour{})
		r, err := Run(context.Background(), Config{
			Addr: f.addr, Protocol: "http", Concurrency: 2, Duration: 200 * time.Millisecond, Peers: 100,
			NoKeepAlive: noKeepAlive, ClientCloses: !noKeepAlive,
		})
		if err != nil {
			t.Fatal(err)
		}
		checkClean(t, r)
		if r.Reconnects < r.Responses-2 || f.conns.Load() < r.Responses {
			t.Errorf("no-keepalive %v: %d reconnects, %d connections for %d answers; want one each", noKeepAlive, r.Reconnects, f.conns.Load(), r.Responses)
		}
		want := int64(0)
		if noKeepAlive {
			want = f.requests.Load()
		}
		if asked := f.closeAsked.Load(); asked != want || f.requests.Load() == 0 {
			t.Errorf("no-keepalive %v: %d of %d requests asked for Connection: close, want %d", noKeepAlive, asked, f.requests.Load(), want)
		}
	}
}

// TestSingleSource: with one source address, the peers still have
// distinct identities, told apart by port alone.
func TestSingleSource(t *testing.T) {
	f := startFakeUDP(t, udpBehaviour{})
	r, err := Run(context.Background(), Config{
		Addr: f.addr, Protocol: "udp", Concurrency: 5, Duration: time.Minute, Peers: 300, Requests: 300,
		Torrents: 1, SingleSource: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Responses != 300 || len(f.identities) != 300 || r.Sources != 1 {
		t.Errorf("responses %d, identities %d, sources %d; want 300, 300, 1", r.Responses, len(f.identities), r.Sources)
	}
	for id := range f.identities {
		if id.Addr().String() != "127.0.0.1" {
			t.Fatalf("identity %v: want 127.0.0.1", id)
		}
	}
}
