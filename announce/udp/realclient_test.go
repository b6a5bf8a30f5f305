package udp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackpal/bencode-go"

	"johnlocke/store"
)

// TestRealClientAria2 has aria2c seed a file and another aria2c download it,
// finding each other only through a udp:// announce to this server. It
// needs aria2c and runs only when JOHNLOCKE_REAL_CLIENT is set:
//
//	JOHNLOCKE_REAL_CLIENT=1 go test -run RealClient -v ./announce/udp
func TestRealClientAria2(t *testing.T) {
	if os.Getenv("JOHNLOCKE_REAL_CLIENT") == "" {
		t.Skip("set JOHNLOCKE_REAL_CLIENT=1 to run aria2c against the server")
	}
	aria, err := exec.LookPath("aria2c")
	if err != nil {
		t.Skip("no aria2c")
	}
	dir := t.TempDir()
	seedDir, leechDir := filepath.Join(dir, "seed"), filepath.Join(dir, "leech")
	for _, d := range []string{seedDir, leechDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	content := make([]byte, 3<<20+12345)
	rand.Read(content)
	if err := os.WriteFile(filepath.Join(seedDir, "payload.bin"), content, 0o644); err != nil {
		t.Fatal(err)
	}

	st := openStore(t, store.Config{Locked: true})
	rec := &recordingTracker{Tracker: st}
	_, srv := newTestServer(t, rec, Config{Key: testKey}, "udp4", "127.0.0.1:0")

	// aria2c speaks to UDP trackers from its DHT socket, hence DHT on;
	// with no entry point and fresh DHT files it finds nobody through DHT.

	// A single-file v1 torrent announcing only to our UDP tracker.
	const pieceLen = 256 << 10
	var pieces bytes.Buffer
	for off := 0; off < len(content); off += pieceLen {
		sum := sha1.Sum(content[off:min(off+pieceLen, len(content))])
		pieces.Write(sum[:])
	}
	type info struct {
		Length      int    `bencode:"length"`
		Name        string `bencode:"name"`
		PieceLength int    `bencode:"piece length"`
		Pieces      string `bencode:"pieces"`
	}
	inf := info{Length: len(content), Name: "payload.bin", PieceLength: pieceLen, Pieces: pieces.String()}
	var infoBuf bytes.Buffer
	if err := bencode.Marshal(&infoBuf, inf); err != nil {
		t.Fatal(err)
	}
	hash := sha1.Sum(infoBuf.Bytes())
	register(t, st, hash)
	var torrent bytes.Buffer
	if err := bencode.Marshal(&torrent, struct {
		Announce string `bencode:"announce"`
		Info     info   `bencode:"info"`
	}{fmt.Sprintf("udp://%s/announce", srv), inf}); err != nil {
		t.Fatal(err)
	}
	torrentPath := filepath.Join(dir, "payload.torrent")
	if err := os.WriteFile(torrentPath, torrent.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	common := []string{
		"--enable-dht=true", "--bt-enable-lpd=false", "--enable-peer-exchange=false",
		"--bt-tracker-connect-timeout=5", "--bt-tracker-timeout=5", "--summary-interval=0",
		"--console-log-level=warn", "--file-allocation=none", "--bt-max-peers=10", "--bt-stop-timeout=0",
	}
	seedArgs := append([]string{"--dir=" + seedDir, "--check-integrity=true", "--seed-ratio=0.0",
		"--listen-port=46881", "--dht-listen-port=46891", "--dht-file-path=" + filepath.Join(dir, "dht-seed.dat")}, common...)
	var seedOut bytes.Buffer
	seeder := exec.CommandContext(ctx, aria, append(seedArgs, torrentPath)...)
	seeder.Stdout, seeder.Stderr = &seedOut, &seedOut
	if err := seeder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		seeder.Process.Kill()
		seeder.Wait()
		if t.Failed() {
			t.Logf("seeder output:\n%s", seedOut.String())
		}
	}()

	leechArgs := append([]string{"--dir=" + leechDir, "--seed-time=0",
		"--listen-port=46882", "--dht-listen-port=46892", "--dht-file-path=" + filepath.Join(dir, "dht-leech.dat")}, common...)
	leech := exec.CommandContext(ctx, aria, append(leechArgs, torrentPath)...)
	start := time.Now()
	out, err := leech.CombinedOutput()
	if err != nil {
		t.Fatalf("leecher: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(leechDir, "payload.bin"))
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("downloaded file differs (err %v, %d bytes of %d)", err, len(got), len(content))
	}
	counts, _ := st.Scrape(hash)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	t.Logf("aria2c downloaded %d bytes through udp://%s in %v; announces by (port, event): %v; scrape %+v",
		len(got), srv, time.Since(start).Round(time.Millisecond), rec.events, counts)
	if rec.events[portEvent{46882, store.EventStarted}] == 0 {
		t.Errorf("the leecher never announced started")
	}
}

type portEvent struct {
	port  uint16
	event store.Event
}

// recordingTracker counts announces by port and event.
type recordingTracker struct {
	Tracker
	mu     sync.Mutex
	events map[portEvent]int
}

func (r *recordingTracker) Announce(req *store.Request, resp *store.Response) error {
	r.mu.Lock()
	if r.events == nil {
		r.events = make(map[portEvent]int)
	}
	r.events[portEvent{req.Port, req.Event}]++
	r.mu.Unlock()
	return r.Tracker.Announce(req, resp)
}
