package udp

import (
	"fmt"
	"testing"

	"johnlocke/store"
)

// TestUDPOrganicBoundPerAddress: through the real listener, one source
// address (127.0.0.1) registers its share of organic torrents and is then
// refused, with an error packet, while a second one (127.0.0.2) still
// registers; a "stopped" for an unknown infohash is answered and creates
// nothing.
func TestUDPOrganicBoundPerAddress(t *testing.T) {
	st := openStore(t, store.Config{Locked: false, MaxTorrents: 500, Now: newClock(clockStart).Now})
	_, srv := newTestServer(t, st, Config{Key: testKey}, "udp4", "127.0.0.1:0")
	flooder, other := newClient(t, "udp4", "127.0.0.1:0"), newClient(t, "udp4", "127.0.0.2:0")
	id := flooder.connect(srv)

	stopped := ann{connID: id, tx: 1, hash: hashOf("never-seen-infohash!"), event: 3, numWant: -1, port: 6881, left: 1}
	parseAnnounce(t, flooder.roundTrip(srv, announcePacket(stopped)), 1, 6)
	if n, _ := st.Counts(); n != 0 {
		t.Fatalf("a stopped announce created %d torrents", n)
	}

	const share = 5 // 1% of 500
	for i := range share + 3 {
		a := ann{connID: id, tx: uint32(10 + i), hash: hashOf(fmt.Sprintf("flood-%014d", i)), event: 2, numWant: -1, port: 6881, left: 1}
		reply := flooder.roundTrip(srv, announcePacket(a))
		_, msg, isErr := parseError(reply)
		if i < share && isErr {
			t.Fatalf("torrent %d of the share: error %q", i, msg)
		}
		if i >= share && (!isErr || msg != string(store.ErrAddrTorrentLimit)) {
			t.Fatalf("torrent %d past the share: %x, want error %q", i, reply, store.ErrAddrTorrentLimit)
		}
	}
	a := ann{connID: other.connect(srv), tx: 99, hash: hashOf("a-real-new-torrent!!"), event: 2, numWant: -1, port: 6881, left: 1}
	parseAnnounce(t, other.roundTrip(srv, announcePacket(a)), 99, 6)
	if n, _ := st.Counts(); n != share+1 {
		t.Fatalf("%d torrents, want %d", n, share+1)
	}
}

// TestUDPCompletedRetryCountsOnce: a client that resends its "completed"
// (its answer was lost) raises downloaded by one.
func TestUDPCompletedRetryCountsOnce(t *testing.T) {
	st := openStore(t, store.Config{Locked: true, Now: newClock(clockStart).Now})
	h := hashOf("completed-twice-----")
	register(t, st, h)
	_, srv := newTestServer(t, st, Config{Key: testKey}, "udp4", "127.0.0.1:0")
	c := newClient(t, "udp4", "127.0.0.1:0")
	id := c.connect(srv)
	start := ann{connID: id, tx: 1, hash: h, event: 2, numWant: -1, port: 6881, left: 100}
	parseAnnounce(t, c.roundTrip(srv, announcePacket(start)), 1, 6)
	done := ann{connID: id, tx: 2, hash: h, event: 1, numWant: -1, port: 6881}
	for range 2 { // the same packet again, as a retry sends it
		parseAnnounce(t, c.roundTrip(srv, announcePacket(done)), 2, 6)
	}
	counts := parseScrape(t, c.roundTrip(srv, scrapePacket(id, 3, h)), 3)
	if counts[0].Downloaded != 1 {
		t.Fatalf("downloaded %d after a retried completed, want 1", counts[0].Downloaded)
	}
}
