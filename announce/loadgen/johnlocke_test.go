package loadgen

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"johnlocke/announce"
	"johnlocke/announce/udp"
	"johnlocke/modes"
	"johnlocke/store"
)

// startStore opens a real johnlocke store (large mode, persistence on,
// open registration) and runs it until the test ends.
func startStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "x.db"), store.Config{Locked: false, Mode: modes.Large, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Store.Run: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("Store.Close: %v", err)
		}
	})
	return st
}

// TestJohnlockeHTTP drives a real johnlocke HTTP server in-process.
func TestJohnlockeHTTP(t *testing.T) {
	st := startStore(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := announce.NewHTTPServer(st, announce.HTTPConfig{}, zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	r, err := Run(context.Background(), Config{
		Addr: ln.Addr().String(), Protocol: "http", Concurrency: 8, Duration: 1500 * time.Millisecond,
		Torrents: 200, Peers: 5000, Seed: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkClean(t, r)
	if r.Reconnects != 0 {
		t.Errorf("reconnects %d: johnlocke should keep connections alive", r.Reconnects)
	}
}

// TestJohnlockeUDP drives a real johnlocke UDP server in-process.
func TestJohnlockeUDP(t *testing.T) {
	st := startStore(t)
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	srv := udp.NewServer(st, udp.Config{Key: []byte("loadgen test key"), MaxPeers: 50}, zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, conn) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	r, err := Run(context.Background(), Config{
		Addr: conn.LocalAddr().String(), Protocol: "udp", Concurrency: 8, Duration: 1500 * time.Millisecond,
		Torrents: 200, Peers: 5000, Seed: 4,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkClean(t, r)
	if r.Connects != 8 {
		t.Errorf("connects %d, want 8 (one per worker, ids honoured)", r.Connects)
	}
}
