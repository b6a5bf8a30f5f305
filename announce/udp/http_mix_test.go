package udp

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"testing"

	"github.com/jackpal/bencode-go"
	"github.com/rs/zerolog"

	"johnlocke/announce"
	"johnlocke/store"
)

// TestHTTPAndUDPShareSwarms serves one store over HTTP and UDP: each side
// sees the other's peers, and both report the same scrape counts.
func TestHTTPAndUDPShareSwarms(t *testing.T) {
	st := openStore(t, store.Config{})
	h := hashOf("shared by http + udp")

	httpSrv := announce.NewHTTPServer(st, announce.HTTPConfig{}, zerolog.Nop())
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- httpSrv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("HTTP Serve: %v", err)
		}
	})
	base := "http://" + ln.Addr().String()
	httpGet := func(path string, q url.Values) map[string]any {
		t.Helper()
		resp, err := http.Get(base + path + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		v, err := bencode.Decode(resp.Body)
		if err != nil {
			t.Fatalf("decode %s answer: %v", path, err)
		}
		d, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s answer is %T", path, v)
		}
		if f, ok := d["failure reason"]; ok {
			t.Fatalf("%s failed: %v", path, f)
		}
		return d
	}

	_, udpSrv := newTestServer(t, st, Config{Key: testKey}, "udp4", "127.0.0.1:0")
	c := newClient(t, "udp4", "127.0.0.1:0")
	id := c.connect(udpSrv)

	// An HTTP leecher, then a UDP one: UDP sees the HTTP peer.
	httpGet("/announce", url.Values{
		"info_hash": {string(h[:])}, "peer_id": {"-HT0001-httppeer0001"}, "port": {"7100"},
		"uploaded": {"0"}, "downloaded": {"0"}, "left": {"10"}, "compact": {"1"}, "event": {"started"},
	})
	r := parseAnnounce(t, c.roundTrip(udpSrv, announcePacket(ann{connID: id, tx: 1, hash: h, left: 10, port: 7200, numWant: -1})), 1, peer4Len)
	if got, want := peerSet(r.peers), []string{"127.0.0.1:7100"}; !slices.Equal(got, want) {
		t.Errorf("UDP peers = %v, want the HTTP peer %v", got, want)
	}

	// HTTP sees the UDP peer, which then completes.
	parseAnnounce(t, c.roundTrip(udpSrv, announcePacket(ann{connID: id, tx: 2, hash: h, left: 0, port: 7200, numWant: 0, event: uint32(store.EventCompleted)})), 2, peer4Len)
	d := httpGet("/announce", url.Values{
		"info_hash": {string(h[:])}, "peer_id": {"-HT0001-httppeer0001"}, "port": {"7100"},
		"uploaded": {"0"}, "downloaded": {"0"}, "left": {"10"}, "compact": {"1"},
	})
	peers, _ := d["peers"].(string)
	var got []netip.AddrPort
	for p := []byte(peers); len(p) >= peer4Len; p = p[peer4Len:] {
		addr, _ := netip.AddrFromSlice(p[:4])
		got = append(got, netip.AddrPortFrom(addr, uint16(p[4])<<8|uint16(p[5])))
	}
	if got, want := peerSet(got), []string{"127.0.0.1:7200"}; !slices.Equal(got, want) {
		t.Errorf("HTTP peers = %v, want the UDP peer %v", got, want)
	}

	// Both scrapes agree: one seeder, one leecher, one download.
	counts := parseScrape(t, c.roundTrip(udpSrv, scrapePacket(id, 3, h)), 3)
	want := store.ScrapeCounts{Complete: 1, Incomplete: 1, Downloaded: 1}
	if counts[0] != want {
		t.Errorf("UDP scrape = %+v, want %+v", counts[0], want)
	}
	files, _ := httpGet("/scrape", url.Values{"info_hash": {string(h[:])}})["files"].(map[string]any)
	file, _ := files[string(h[:])].(map[string]any)
	httpCounts := fmt.Sprint(file["complete"], file["incomplete"], file["downloaded"])
	if udpCounts := fmt.Sprint(counts[0].Complete, counts[0].Incomplete, counts[0].Downloaded); httpCounts != udpCounts {
		t.Errorf("HTTP scrape complete, incomplete, downloaded = %s; UDP said %s", httpCounts, udpCounts)
	}
}
