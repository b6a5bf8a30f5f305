package store

import (
	"path/filepath"
	"testing"

	"johnlocke/modes"
)

// TestRemoveDropsTorrentAndSwarm: a removed torrent is gone from memory
// and file, its swarm with it; an unknown infohash is reported so.
func TestRemoveDropsTorrentAndSwarm(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	clk := newClock()
	st := openStore(t, path, Config{Locked: true, Now: clk.Now})
	if _, err := st.Register([]Torrent{{InfoHash: hash(1), Mode: modes.Large}, {InfoHash: hash(2), Mode: modes.Large}}); err != nil {
		t.Fatal(err)
	}
	announce(t, st, hash(1), 6881, 0, EventStarted)
	res, err := st.Remove([][20]byte{hash(1), hash(9)}, false, "")
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Removed || res[0].Banned || res[1].Removed || res[1].Banned {
		t.Fatalf("results %+v, want the first removed, the second unknown, none banned", res)
	}
	req := Request{InfoHash: hash(1), Port: 1, NumWant: -1}
	if err := st.Announce(&req, &Response{}); err != ErrUnregistered {
		t.Fatalf("announce after remove = %v, want %v", err, ErrUnregistered)
	}
	if n, p := st.Counts(); n != 1 || p != 0 {
		t.Fatalf("counts %d torrents %d peers, want 1 and 0", n, p)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// Nothing comes back from the file, and removal was no ban.
	st = openStore(t, path, Config{Locked: true, Now: clk.Now})
	defer st.Close()
	if _, ok, _ := st.Torrent(hash(1)); ok {
		t.Fatal("the removed torrent is back after a restart")
	}
	if _, ok := st.Scrape(hash(2)); !ok {
		t.Fatal("the other torrent is gone")
	}
	if r, err := st.Register([]Torrent{{InfoHash: hash(1)}}); err != nil || !r[0].Added {
		t.Fatalf("register after a plain remove: %+v, %v; want added", r, err)
	}
}

// TestBanSticks: a banned infohash is refused with "torrent removed" on
// announce (locked or not), by registration, and after a restart, until
// it is unbanned; both names of a hybrid torrent go together.
func TestBanSticks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	clk := newClock()
	st := openStore(t, path, Config{Locked: false, Now: clk.Now})
	hyb := hybrids(0, 1)[0]
	if _, err := st.Register([]Torrent{{InfoHash: hash(1)}, hyb}); err != nil {
		t.Fatal(err)
	}
	// hash(5) was never registered: a ban ahead of any registration.
	res, err := st.Remove([][20]byte{hash(1), hyb.Alias, hash(5)}, true, "court order")
	if err != nil {
		t.Fatal(err)
	}
	want := []RemoveResult{{hash(1), true, true}, {hyb.Alias, true, true}, {hash(5), false, true}}
	for i := range want {
		if res[i] != want[i] {
			t.Errorf("result %d: %+v, want %+v", i, res[i], want[i])
		}
	}
	for _, h := range [][20]byte{hash(1), hyb.InfoHash, hyb.Alias, hash(5)} {
		req := Request{InfoHash: h, Port: 1, NumWant: -1}
		if err := st.Announce(&req, &Response{}); err != ErrBanned {
			t.Errorf("announce %x on an unlocked tracker = %v, want %v", h, err, ErrBanned)
		}
	}
	if n, _ := st.Counts(); n != 0 {
		t.Fatalf("%d torrents after banning all, want 0", n)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = openStore(t, path, Config{Locked: true, Now: clk.Now})
	defer st.Close()
	req := Request{InfoHash: hash(1), Port: 1, NumWant: -1}
	if err := st.Announce(&req, &Response{}); err != ErrBanned {
		t.Fatalf("announce after restart = %v, want %v", err, ErrBanned)
	}
	r, err := st.Register([]Torrent{{InfoHash: hash(1)}, hyb, {InfoHash: hash(2)}})
	if err != nil {
		t.Fatal(err)
	}
	if !r[0].Banned || r[0].Added || !r[1].Banned || r[1].Added || r[2].Banned || !r[2].Added {
		t.Fatalf("register of banned torrents: %+v", r)
	}
	bans, err := st.Banned()
	if err != nil || len(bans) != 4 {
		t.Fatalf("Banned() = %d entries, %v; want 4 (hash 1, both names of the hybrid, hash 5)", len(bans), err)
	}
	for _, b := range bans {
		if b.Reason != "court order" || !b.At.Equal(clk.Now()) {
			t.Errorf("ban %+v: want reason and time kept", b)
		}
	}

	// Lifting the primary's ban lifts the alias's too.
	was, err := st.Unban([][20]byte{hyb.InfoHash, hash(7)})
	if err != nil || !was[0] || was[1] {
		t.Fatalf("Unban = %v, %v; want [true false]", was, err)
	}
	req = Request{InfoHash: hyb.Alias, Port: 1, NumWant: -1}
	if err := st.Announce(&req, &Response{}); err != ErrUnregistered {
		t.Fatalf("announce of an unbanned alias = %v, want %v", err, ErrUnregistered)
	}
	if r, err := st.Register([]Torrent{hyb}); err != nil || !r[0].Added {
		t.Fatalf("register after unban: %+v, %v", r, err)
	}
}
