package clitest

import (
	be "encoding/binary"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackpal/bencode-go"
	"go.etcd.io/bbolt"
)

// TestSIGKILLUnderLoad kills a server with SIGKILL while a client keeps
// announcing new peers to it, then checks what the write-behind promises: a
// file bbolt finds consistent, and every peer announced more than one
// flush interval before the kill back after a restart.
func TestSIGKILLUnderLoad(t *testing.T) {
	const (
		flush = 200 * time.Millisecond
		// margin covers the flush transaction itself (fsync included)
		// under the race detector on a busy machine.
		margin   = 500 * time.Millisecond
		loadTime = 1500 * time.Millisecond
		basePort = 10000
		maxPeers = 20000
	)
	dir := t.TempDir()
	db := filepath.Join(dir, "j.db")
	hashes := []string{v1Single, "736605ab15899c93d8532788f63cf1b9fbebc1fb"} // v1-multi
	if r := run(t, nil, "import", "--db", db, filepath.Join(torrentsDir, "v1-single.torrent"),
		filepath.Join(torrentsDir, "v1-multi.torrent")); r.code != 0 {
		t.Fatalf("import: exit %d\n%s", r.code, r.stderr)
	}
	args := []string{"--db", db, "--mode", "large", "--flush-interval", flush.String(), "--maxpeers", "20000"}
	s := startServer(t, args...)

	// One client announces new leechers, alternating between the two
	// torrents, and notes when each answer came back.
	var (
		mu       sync.Mutex
		answered []time.Time
		stop     = make(chan struct{})
		loadDone = make(chan struct{})
	)
	go func() {
		defer close(loadDone)
		hc := &http.Client{Timeout: 2 * time.Second}
		for i := 0; i < maxPeers; i++ {
			select {
			case <-stop:
				return
			default:
			}
			q := announceQuery(hashes[i%2], basePort+i, 100, "started")
			resp, err := hc.Get("http://" + s.addr + "/announce?" + q.Encode())
			if err != nil {
				return // the server is gone
			}
			v, err := bencode.Decode(resp.Body)
			resp.Body.Close()
			if m, ok := v.(map[string]any); err != nil || !ok || m["failure reason"] != nil {
				return
			}
			mu.Lock()
			answered = append(answered, time.Now())
			mu.Unlock()
		}
	}()
	time.Sleep(loadTime) // the load runs this long; nothing waits on readiness here
	killedAt := time.Now()
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-s.done
	s.done <- nil
	close(stop)
	<-loadDone

	// bbolt's own consistency check, on a read-only open.
	bdb, err := bbolt.Open(db, 0o600, &bbolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.View(func(tx *bbolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("bbolt check: %v", err)
		}
		return nil
	})
	if cerr := bdb.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	// Every peer answered before the last flush that surely ran is back.
	mu.Lock()
	cutoff := killedAt.Add(-flush - margin)
	mustHave := 0
	for mustHave < len(answered) && answered[mustHave].Before(cutoff) {
		mustHave++
	}
	total := len(answered)
	mu.Unlock()
	if mustHave < 100 {
		t.Fatalf("only %d announces (of %d) before the cutoff: too little load to judge", mustHave, total)
	}
	s = startServer(t, args...)
	seen := map[int]bool{}
	for _, h := range hashes {
		// A seeder is given leechers only: with numwant above the swarm's
		// size, all of them.
		m := s.get(t, "/announce", announceQuery(h, 1, 0, ""))
		peers, _ := m["peers"].(string)
		if len(peers)%6 != 0 {
			t.Fatalf("compact peers of %d bytes", len(peers))
		}
		for off := 0; off < len(peers); off += 6 {
			seen[int(be.BigEndian.Uint16([]byte(peers[off+4:off+6])))] = true
		}
	}
	missing := 0
	for i := 0; i < mustHave; i++ {
		if !seen[basePort+i] {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of the %d peers announced before %v (one flush interval and a margin before the kill) are missing after the restart; %d came back of %d announced",
			missing, mustHave, cutoff.Format("15:04:05.000"), len(seen), total)
	}
	if len(seen) > total {
		t.Fatalf("%d peers after the restart, only %d were announced", len(seen), total)
	}
	t.Logf("%d announced, %d before the cutoff, %d back after SIGKILL and restart", total, mustHave, len(seen))
	s.stop(t)
}
