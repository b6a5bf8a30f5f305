package udp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"johnlocke/store"
)

// peerSet turns peers into sorted strings for comparison.
func peerSet(peers []netip.AddrPort) []string {
	s := make([]string, len(peers))
	for i, p := range peers {
		s[i] = p.String()
	}
	slices.Sort(s)
	return s
}

func TestConnectAnnounceScrape(t *testing.T) {
	st := openStore(t, store.Config{})
	h, unknown := hashOf("registered torrent 1"), hashOf("never heard of it...")
	register(t, st, h)
	_, srv := newTestServer(t, st, Config{Key: testKey}, "udp4", "127.0.0.1:0")

	// Four peers on distinct ports: two seeders, two leechers.
	clients := make([]*client, 4)
	ids := make([]uint64, 4)
	for i := range clients {
		clients[i] = newClient(t, "udp4", "127.0.0.1:0")
		ids[i] = clients[i].connect(srv)
	}
	announce := func(i int, event uint32, left uint64) announceReply {
		t.Helper()
		tx := uint32(100 + i)
		pkt := announcePacket(ann{
			connID: ids[i], tx: tx, hash: h, peerID: hashOf("peer " + string(rune('a'+i))),
			left: left, event: event, numWant: -1, port: uint16(7001 + i), ip: 0x01020304,
		})
		return parseAnnounce(t, clients[i].roundTrip(srv, pkt), tx, peer4Len)
	}
	for i := range clients {
		left := uint64(1000)
		if i < 2 {
			left = 0
		}
		announce(i, uint32(store.EventStarted), left)
	}

	last := announce(3, uint32(store.EventNone), 1000)
	if got, want := peerSet(last.peers), []string{"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"}; !slices.Equal(got, want) {
		t.Errorf("peers for the fourth peer = %v, want %v (itself excluded)", got, want)
	}
	if last.seeders != 2 || last.leechers != 2 {
		t.Errorf("seeders, leechers = %d, %d; want 2, 2", last.seeders, last.leechers)
	}
	if last.interval == 0 {
		t.Errorf("interval is 0")
	}
	// A seeder is given leechers only, and never itself.
	first := announce(0, uint32(store.EventNone), 0)
	if got, want := peerSet(first.peers), []string{"127.0.0.1:7003", "127.0.0.1:7004"}; !slices.Equal(got, want) {
		t.Errorf("peers for the first peer (a seeder) = %v, want %v", got, want)
	}

	// The third peer completes: one more seeder, one more download.
	done := announce(2, uint32(store.EventCompleted), 0)
	if done.seeders != 3 || done.leechers != 1 {
		t.Errorf("after completed: seeders, leechers = %d, %d; want 3, 1", done.seeders, done.leechers)
	}

	const tx = 0xfeedf00d
	counts := parseScrape(t, clients[0].roundTrip(srv, scrapePacket(ids[0], tx, h, unknown, h)), tx)
	want := []store.ScrapeCounts{{Complete: 3, Incomplete: 1, Downloaded: 1}, {}, {Complete: 3, Incomplete: 1, Downloaded: 1}}
	if !slices.Equal(counts, want) {
		t.Errorf("scrape = %+v, want %+v", counts, want)
	}
	// The store (which the HTTP scrape reads too) agrees.
	if got, ok := st.Scrape(h); !ok || got != counts[0] {
		t.Errorf("store scrape = %+v, %v; UDP said %+v", got, ok, counts[0])
	}

	// Stopped removes the peer.
	stopped := announce(3, uint32(store.EventStopped), 1000)
	if stopped.seeders != 3 || stopped.leechers != 0 {
		t.Errorf("after stopped: seeders, leechers = %d, %d; want 3, 0", stopped.seeders, stopped.leechers)
	}
}

func TestAnnounceIPv6(t *testing.T) {
	if !hasIPv6Loopback() {
		t.Skip("no IPv6 loopback")
	}
	st := openStore(t, store.Config{})
	h := hashOf("an ipv6 torrent.....")
	_, srv := newTestServer(t, st, Config{Key: testKey}, "udp6", "[::1]:0")

	a, b := newClient(t, "udp6", "[::1]:0"), newClient(t, "udp6", "[::1]:0")
	idA, idB := a.connect(srv), b.connect(srv)
	parseAnnounce(t, a.roundTrip(srv, announcePacket(ann{connID: idA, tx: 1, hash: h, left: 5, port: 6881, numWant: -1})), 1, peer6Len)
	reply := b.roundTrip(srv, announcePacket(ann{connID: idB, tx: 2, hash: h, left: 0, port: 6882, numWant: -1}))
	if got, want := len(reply), announceReplyHeaderLen+peer6Len; got != want {
		t.Fatalf("reply is %d bytes, want %d (one 18-byte peer)", got, want)
	}
	r := parseAnnounce(t, reply, 2, peer6Len)
	if got, want := peerSet(r.peers), []string{"[::1]:6881"}; !slices.Equal(got, want) {
		t.Errorf("peers = %v, want %v", got, want)
	}
	if r.seeders != 1 || r.leechers != 1 {
		t.Errorf("seeders, leechers = %d, %d; want 1, 1", r.seeders, r.leechers)
	}
}

// TestMixedFamilies puts IPv4 and IPv6 peers in one swarm: each UDP client
// gets peers of its own family only, and the counts cover both.
func TestMixedFamilies(t *testing.T) {
	if !hasIPv6Loopback() {
		t.Skip("no IPv6 loopback")
	}
	st := openStore(t, store.Config{})
	h := hashOf("a dual-stack swarm..")
	s, srv4 := newTestServer(t, st, Config{Key: testKey}, "udp4", "127.0.0.1:0")
	srv6 := startServer(t, s, listen(t, "udp6", "[::1]:0"))

	type peer struct {
		c      *client
		srv    netip.AddrPort
		id     uint64
		port   uint16
		stride int
	}
	var peers []*peer
	for i, fam := range []string{"4", "4", "6", "6"} {
		p := &peer{port: uint16(9001 + i)}
		if fam == "4" {
			p.c, p.srv, p.stride = newClient(t, "udp4", "127.0.0.1:0"), srv4, peer4Len
		} else {
			p.c, p.srv, p.stride = newClient(t, "udp6", "[::1]:0"), srv6, peer6Len
		}
		p.id = p.c.connect(p.srv)
		peers = append(peers, p)
	}
	ask := func(p *peer) announceReply {
		t.Helper()
		pkt := announcePacket(ann{connID: p.id, tx: uint32(p.port), hash: h, left: 1, port: p.port, numWant: 50})
		return parseAnnounce(t, p.c.roundTrip(p.srv, pkt), uint32(p.port), p.stride)
	}
	for _, p := range peers {
		ask(p)
	}
	for i, want := range [][]string{
		{"127.0.0.1:9002"}, {"127.0.0.1:9001"}, {"[::1]:9004"}, {"[::1]:9003"},
	} {
		r := ask(peers[i])
		if got := peerSet(r.peers); !slices.Equal(got, want) {
			t.Errorf("peer %d got peers %v, want %v", i, got, want)
		}
		if r.leechers != 4 {
			t.Errorf("peer %d: leechers = %d, want 4 (both families)", i, r.leechers)
		}
	}
}

// TestDualStackSocket serves one IPv6 socket that also takes IPv4: an
// IPv4 client, seen as an IPv4-mapped address, is an IPv4 client.
func TestDualStackSocket(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv6unspecified})
	if err != nil {
		t.Skipf("no dual-stack socket: %v", err)
	}
	st := openStore(t, store.Config{})
	h := hashOf("dual-stack socket...")
	srv := startServer(t, NewServer(st, Config{Key: testKey}, zerolog.Nop()), conn)
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), srv.Port())

	a, b := newClient(t, "udp4", "127.0.0.1:0"), newClient(t, "udp4", "127.0.0.1:0")
	idA, idB := a.connect(to), b.connect(to)
	parseAnnounce(t, a.roundTrip(to, announcePacket(ann{connID: idA, tx: 1, hash: h, left: 1, port: 1111, numWant: -1})), 1, peer4Len)
	r := parseAnnounce(t, b.roundTrip(to, announcePacket(ann{connID: idB, tx: 2, hash: h, left: 1, port: 2222, numWant: -1})), 2, peer4Len)
	if got, want := peerSet(r.peers), []string{"127.0.0.1:1111"}; !slices.Equal(got, want) {
		t.Errorf("peers = %v, want %v", got, want)
	}
}

func TestConnectionIDs(t *testing.T) {
	st := openStore(t, store.Config{})
	h := hashOf("connection id tests.")
	clock := newClock(clockStart)
	_, srv := newTestServer(t, st, Config{Key: testKey, Now: clock.Now}, "udp4", "127.0.0.1:0")
	// Another server with the same key, as after a restart, and one with
	// another key.
	_, restarted := newTestServer(t, st, Config{Key: testKey, Now: clock.Now}, "udp4", "127.0.0.1:0")
	_, stranger := newTestServer(t, st, Config{Key: []byte("another key entirely, 32 bytes!!"), Now: clock.Now}, "udp4", "127.0.0.1:0")

	c := newClient(t, "udp4", "127.0.0.1:0")
	other := newClient(t, "udp4", "127.0.0.1:0")

	// accepted sends an announce with id to to and reports whether it was
	// answered; a refusal must be an "invalid connection id" error no
	// larger than the request.
	accepted := func(from *client, to netip.AddrPort, id uint64) bool {
		t.Helper()
		const tx = 77
		pkt := announcePacket(ann{connID: id, tx: tx, hash: h, left: 1, port: 5555, numWant: 5})
		reply := from.roundTrip(to, pkt)
		if gotTx, msg, isErr := parseError(reply); isErr {
			if msg != string(ErrBadConnectionID) || gotTx != tx {
				t.Errorf("refusal is error %q tx %d, want %q tx %d", msg, gotTx, ErrBadConnectionID, tx)
			}
			if len(reply) > len(pkt) {
				t.Errorf("refusal of %d bytes answers a %d-byte request", len(reply), len(pkt))
			}
			return false
		}
		parseAnnounce(t, reply, tx, peer4Len)
		return true
	}

	id := c.connect(srv)
	if !accepted(c, srv, id) {
		t.Fatalf("a fresh id was refused")
	}
	if accepted(c, srv, id^1) {
		t.Errorf("a forged id (one bit off) was accepted")
	}
	if accepted(c, srv, 0x0123456789abcdef) {
		t.Errorf("a made-up id was accepted")
	}
	if accepted(other, srv, id) {
		t.Errorf("an id issued to another address was accepted")
	}
	if !accepted(c, restarted, id) {
		t.Errorf("an id from a server with the same key (a restart) was refused")
	}
	if accepted(c, stranger, id) {
		t.Errorf("a server with another key accepted the id")
	}

	// BEP 15: trackers accept an id until two minutes after sending it.
	clock.Advance(2 * time.Minute)
	if !accepted(c, srv, id) {
		t.Errorf("id refused two minutes after it was issued")
	}
	clock.Advance(time.Minute)
	if accepted(c, srv, id) {
		t.Errorf("id accepted three minutes after it was issued")
	}
	if accepted(c, restarted, id) {
		t.Errorf("the restarted server accepted an expired id")
	}
	// A fresh one works again.
	if !accepted(c, srv, c.connect(srv)) {
		t.Errorf("a new id was refused")
	}
}

// TestConnIDWindow checks the epoch arithmetic at every second of an
// epoch: an id is good for at least two minutes and at most three.
func TestConnIDWindow(t *testing.T) {
	k, _ := deriveKey(testKey)
	client := netip.MustParseAddrPort("192.0.2.7:51413")
	for sec := range 60 {
		issued := clockStart.Truncate(time.Minute).Add(time.Duration(sec) * time.Second)
		id := k.connID(epochOf(issued), client)
		for _, tc := range []struct {
			after time.Duration
			want  bool
		}{
			{0, true}, {time.Minute, true}, {2 * time.Minute, true}, {3 * time.Minute, false}, {time.Hour, false}, {-time.Minute, false},
		} {
			if got := k.validID(id, epochOf(issued.Add(tc.after)), client); got != tc.want {
				t.Errorf("id issued at :%02d, checked %v later: valid = %v, want %v", sec, tc.after, got, tc.want)
			}
		}
	}
	// IPv4 and IPv4-mapped IPv6 are the same client.
	mapped := netip.AddrPortFrom(netip.AddrFrom16(client.Addr().As16()), client.Port())
	if k.connID(5, client) != k.connID(5, mapped) {
		t.Errorf("IPv4 and IPv4-mapped addresses get different ids")
	}
	if k.connID(5, client) == k.connID(5, netip.AddrPortFrom(client.Addr(), client.Port()+1)) {
		t.Errorf("another port gets the same id")
	}
}

func TestConnectNeedsProtocolID(t *testing.T) {
	st := openStore(t, store.Config{})
	_, srv := newTestServer(t, st, Config{Key: testKey}, "udp4", "127.0.0.1:0")
	c := newClient(t, "udp4", "127.0.0.1:0")
	bad := connectPacket(1)
	bad[7] ^= 0xff
	c.send(srv, bad)
	// A good connect after the bad one: its answer must be the first.
	if reply := c.roundTrip(srv, connectPacket(2)); len(reply) != connectReplyLen || reply[7] != 2 {
		t.Errorf("first reply = %x; the connect without the protocol id was answered", reply)
	}
	// Trailing bytes after a connect are tolerated (BEP 15: do not assume
	// a packet's size).
	long := append(connectPacket(3), 0, 0, 0, 0)
	if reply := c.roundTrip(srv, long); len(reply) != connectReplyLen || reply[7] != 3 {
		t.Errorf("connect with trailing bytes answered %x", reply)
	}
}

func TestBEP41Options(t *testing.T) {
	st := openStore(t, store.Config{})
	h := hashOf("bep 41 options......")
	_, srv := newTestServer(t, st, Config{Key: testKey}, "udp4", "127.0.0.1:0")
	seed := newClient(t, "udp4", "127.0.0.1:0")
	parseAnnounce(t, seed.roundTrip(srv, announcePacket(ann{connID: seed.connect(srv), tx: 1, hash: h, port: 4000})), 1, peer4Len)

	urlData := func(s string) []byte { return append([]byte{optURLData, byte(len(s))}, s...) }
	cat := func(parts ...[]byte) []byte { return slices.Concat(parts...) }
	for _, tc := range []struct {
		name    string
		options []byte
	}{
		{"none", nil},
		{"path and query", cat([]byte{optNOP, optNOP}, urlData("/announce"), urlData("?passkey=0123&x=1"), []byte{optEndOfOptions})},
		{"end then junk", cat([]byte{optEndOfOptions}, []byte("anything at all"))},
		{"unknown option skipped", cat([]byte{0x7f, 3, 'a', 'b', 'c'}, urlData("/a"))},
		{"length past the end", cat(urlData("/ann"), []byte{optURLData, 200, 'x'})},
		{"type byte alone", []byte{optURLData}},
		{"zero padding", make([]byte, 40)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, "udp4", "127.0.0.1:0")
			pkt := announcePacket(ann{connID: c.connect(srv), tx: 9, hash: h, left: 1, port: 4001, numWant: -1, options: tc.options})
			r := parseAnnounce(t, c.roundTrip(srv, pkt), 9, peer4Len)
			if got, want := peerSet(r.peers), []string{"127.0.0.1:4000"}; !slices.Equal(got, want) {
				t.Errorf("peers = %v, want %v", got, want)
			}
		})
	}

	// The handler keeps the URL data of the last announce.
	s := NewServer(st, Config{Key: testKey}, zerolog.Nop())
	hd := s.newHandler()
	client := netip.MustParseAddrPort("192.0.2.9:4002")
	opts := cat([]byte{optNOP}, urlData("/announce"), []byte{optNOP}, urlData("?passkey=0123"), []byte{optEndOfOptions, optURLData, 2, 'n', 'o'})
	pkt := announcePacket(ann{connID: s.key.connID(epochOf(time.Now()), client), tx: 1, hash: h, port: 4002, options: opts})
	parseAnnounce(t, hd.handle(pkt, client), 1, peer4Len)
	if got, want := string(hd.url), "/announce?passkey=0123"; got != want {
		t.Errorf("URL data = %q, want %q", got, want)
	}
}

func TestParseOptions(t *testing.T) {
	long := make([]byte, 0, 1400)
	for len(long)+257 <= cap(long) {
		long = append(long, optURLData, 255)
		long = append(long, strings.Repeat("u", 255)...)
	}
	for _, tc := range []struct {
		name   string
		in     []byte
		url    string
		wantOK bool
	}{
		{"empty", nil, "", true},
		{"end only", []byte{0}, "", true},
		{"nops", []byte{1, 1, 1}, "", true},
		{"one url", []byte{2, 4, '/', 'a', '?', 'b'}, "/a?b", true},
		{"concatenated", []byte{2, 2, '/', 'a', 1, 2, 3, '?', 'k', '=', 0, 2, 1, 'z'}, "/a?k=", true},
		{"empty url data", []byte{2, 0, 2, 1, '/'}, "/", true},
		{"unknown skipped", []byte{9, 2, 'x', 'y', 2, 1, '/'}, "/", true},
		{"missing length", []byte{2, 1, '/', 2}, "/", false},
		{"short data", []byte{2, 1, '/', 2, 5, 'a'}, "/", false},
		{"unknown without length", []byte{9}, "", false},
		{"over MaxURLData", long, strings.Repeat("u", 255*(MaxURLData/255)), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseOptions(tc.in, make([]byte, 0, MaxURLData))
			if string(got) != tc.url || ok != tc.wantOK {
				t.Errorf("parseOptions(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.url, tc.wantOK)
			}
		})
	}
}

// TestTruncatedPackets sends every prefix of an announce and a connect,
// with a valid connection id: no reply may be larger than its request, and
// the server must live on. The replies are matched to requests by
// transaction id, and a final connect marks the end, so no reply is waited
// for by sleeping.
func TestTruncatedPackets(t *testing.T) {
	st := openStore(t, store.Config{})
	_, srv := newTestServer(t, st, Config{Key: testKey}, "udp4", "127.0.0.1:0")
	c := newClient(t, "udp4", "127.0.0.1:0")
	id := c.connect(srv)

	sent := map[uint32]int{} // tx -> request length
	const connectBase, sentinel = 1000, 0xffffffff
	for n := range announceLen {
		full := announcePacket(ann{connID: id, tx: uint32(n), hash: hashOf("truncated"), port: 1, numWant: -1})
		c.send(srv, full[:n])
		sent[uint32(n)] = n
	}
	for n := range headerLen {
		full := connectPacket(connectBase + uint32(n))
		c.send(srv, full[:n])
		sent[connectBase+uint32(n)] = n
	}
	c.send(srv, connectPacket(sentinel))
	answered := 0
	for {
		reply, ok := c.recv(replyTimeout)
		if !ok {
			t.Fatalf("the server stopped answering")
		}
		if len(reply) < 8 {
			t.Fatalf("reply of %d bytes: %x", len(reply), reply)
		}
		tx := uint32(reply[4])<<24 | uint32(reply[5])<<16 | uint32(reply[6])<<8 | uint32(reply[7])
		if tx == sentinel {
			break
		}
		n, known := sent[tx]
		if !known {
			t.Errorf("reply %x to no request sent", reply)
			continue
		}
		answered++
		if len(reply) > n {
			t.Errorf("a %d-byte request got a %d-byte reply %q", n, len(reply), reply)
		}
		if _, msg, isErr := parseError(reply); !isErr || msg != string(ErrMalformedAnnounce) {
			t.Errorf("a %d-byte announce got %q, want a %q error", n, reply, ErrMalformedAnnounce)
		}
	}
	// Prefixes from 8+len(message) bytes on get the error; shorter ones,
	// silence.
	if want := announceLen - (errorHeaderLen + len(ErrMalformedAnnounce)); answered != want {
		t.Errorf("%d truncated announces answered, want %d", answered, want)
	}
}

// TestReplySizes drives the handler directly with every prefix of every
// kind of request, valid connection id or not.
func TestReplySizes(t *testing.T) {
	st := openStore(t, store.Config{})
	s := NewServer(st, Config{Key: testKey}, zerolog.Nop())
	h := s.newHandler()
	be := binary.BigEndian
	client := netip.MustParseAddrPort("192.0.2.1:6881")
	good := s.key.connID(epochOf(time.Now()), client)
	packets := map[string][]byte{
		"connect":  connectPacket(1),
		"announce": announcePacket(ann{tx: 2, hash: hashOf("x"), port: 1, numWant: -1, options: []byte{2, 3, '/', 'a', 'b'}}),
		"scrape":   scrapePacket(0, 3, hashOf("a"), hashOf("b")),
		"error":    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 4, 'h', 'i'},
		"unknown":  {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30},
	}
	for name, full := range packets {
		for _, valid := range []bool{false, true} {
			for n := range len(full) + 1 {
				pkt := slices.Clone(full[:n])
				if name != "connect" && valid && n >= 8 {
					be.PutUint64(pkt, good)
				}
				reply := h.handlePacket(pkt, client)
				// Only a whole, authenticated announce may answer with more
				// bytes than it got.
				if len(reply) > len(pkt) && !(name == "announce" && valid && n == len(full)) {
					t.Errorf("%s prefix %d (valid id %v): %d-byte reply %q", name, n, valid, len(reply), reply)
				}
			}
		}
	}
	if n := s.panics.Load(); n != 0 {
		t.Errorf("%d panics", n)
	}
}

func TestAnnounceErrors(t *testing.T) {
	st := openStore(t, store.Config{Locked: true})
	known := hashOf("registered, locked..")
	register(t, st, known)
	_, srv := newTestServer(t, st, Config{Key: testKey}, "udp4", "127.0.0.1:0")
	c := newClient(t, "udp4", "127.0.0.1:0")
	id := c.connect(srv)

	for _, tc := range []struct {
		name string
		a    ann
		want store.Failure
	}{
		{"unregistered torrent", ann{hash: hashOf("not registered......"), port: 1}, store.ErrUnregistered},
		{"port 0", ann{hash: known, port: 0}, ErrInvalidPort},
		{"event 4", ann{hash: known, port: 1, event: 4}, ErrInvalidEvent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.a.connID, tc.a.tx = id, 4242
			reply := c.roundTrip(srv, announcePacket(tc.a))
			tx, msg, ok := parseError(reply)
			if !ok || tx != 4242 || msg != string(tc.want) {
				t.Errorf("reply %q, want error %q with tx 4242", reply, tc.want)
			}
		})
	}
	// A scrape of an unregistered torrent is answered with zeros.
	counts := parseScrape(t, c.roundTrip(srv, scrapePacket(id, 5, hashOf("not registered......"))), 5)
	if !slices.Equal(counts, []store.ScrapeCounts{{}}) {
		t.Errorf("scrape of an unknown torrent = %+v, want zeros", counts)
	}
	// Scrape limits.
	for _, tc := range []struct {
		name   string
		hashes int
		want   store.Failure
	}{
		{"no hashes", 0, ""}, // 16 bytes: too short for the error text, silence
		{"too many", MaxScrapeHashes + 1, ErrTooManyInfoHashes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hashes := make([][20]byte, tc.hashes)
			c.send(srv, scrapePacket(id, 6, hashes...))
			reply := c.roundTrip(srv, connectPacket(7)) // the marker
			if tc.want == "" {
				if reply[7] != 7 {
					t.Errorf("got %q, want silence", reply)
				}
				return
			}
			if _, msg, ok := parseError(reply); !ok || msg != string(tc.want) {
				t.Errorf("got %q, want error %q", reply, tc.want)
			}
			c.recv(replyTimeout) // the marker's answer
		})
	}
	counts = parseScrape(t, c.roundTrip(srv, scrapePacket(id, 8, make([][20]byte, MaxScrapeHashes)...)), 8)
	if len(counts) != MaxScrapeHashes {
		t.Errorf("a full scrape got %d counts, want %d", len(counts), MaxScrapeHashes)
	}
}

// TestNumWant checks num_want: its default, zero, and the caps of MaxPeers
// and of one datagram.
func TestNumWant(t *testing.T) {
	h := hashOf("numwant swarm.......")
	fill := func(st *store.Store, n int, is6 bool) {
		for i := range n {
			req := store.Request{InfoHash: h, Port: uint16(10000 + i), Left: 1, NumWant: 0, Is6: is6}
			req.Addr[0], req.Addr[1] = 10, 1
			var resp store.Response
			if err := st.Announce(&req, &resp); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name     string
		maxPeers int
		swarm    int
		is6      bool
		numWant  int32
		want     int
	}{
		{"default (0xFFFFFFFF)", 10, 20, false, -1, 10},
		{"other negative", 10, 20, false, -7, 10},
		{"zero", 10, 20, false, 0, 0},
		{"fewer", 10, 20, false, 3, 3},
		{"more than max", 10, 20, false, 1000, 10},
		{"IPv4 datagram cap", 500, 300, false, -1, maxFit4},
		{"IPv6 datagram cap", 500, 100, true, 400, maxFit6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t, store.Config{MaxPeers: tc.maxPeers})
			fill(st, tc.swarm, tc.is6)
			s := NewServer(st, Config{Key: testKey, MaxPeers: tc.maxPeers}, zerolog.Nop())
			client, stride := netip.MustParseAddrPort("192.0.2.1:1"), peer4Len
			if tc.is6 {
				client, stride = netip.MustParseAddrPort("[2001:db8::1]:1"), peer6Len
			}
			id := s.key.connID(epochOf(time.Now()), client)
			reply := s.newHandler().handle(announcePacket(ann{connID: id, tx: 1, hash: h, left: 1, port: 1, numWant: tc.numWant}), client)
			r := parseAnnounce(t, reply, 1, stride)
			if len(r.peers) != tc.want {
				t.Errorf("%d peers, want %d", len(r.peers), tc.want)
			}
			if len(reply) > MaxReplySize {
				t.Errorf("reply of %d bytes, over MaxReplySize", len(reply))
			}
		})
	}
}

// fakeTracker fails or panics on demand.
type fakeTracker struct {
	err    error
	panics bool
}

func (f *fakeTracker) Announce(*store.Request, *store.Response) error {
	if f.panics {
		panic("told to panic")
	}
	return f.err
}

func (f *fakeTracker) Scrape([20]byte) (store.ScrapeCounts, bool) { return store.ScrapeCounts{}, false }

func TestTrackerFailures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tracker *fakeTracker
		want    string // "" for silence
	}{
		{"internal error", &fakeTracker{err: context.DeadlineExceeded}, string(ErrInternal)},
		{"wrapped failure", &fakeTracker{err: wrapFailure(store.ErrTorrentLimit)}, string(store.ErrTorrentLimit)},
		{"panic", &fakeTracker{panics: true}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, srv := newTestServer(t, tc.tracker, Config{Key: testKey}, "udp4", "127.0.0.1:0")
			c := newClient(t, "udp4", "127.0.0.1:0")
			id := c.connect(srv)
			c.send(srv, announcePacket(ann{connID: id, tx: 3, hash: hashOf("h"), port: 1}))
			reply := c.roundTrip(srv, connectPacket(4)) // the server lives on
			if tc.want == "" {
				if reply[7] != 4 {
					t.Errorf("got %q, want silence", reply)
				}
				if n := s.panics.Load(); n != 1 {
					t.Errorf("%d panics counted, want 1", n)
				}
				return
			}
			if _, msg, ok := parseError(reply); !ok || msg != tc.want {
				t.Errorf("got %q, want error %q", reply, tc.want)
			}
		})
	}
}

func wrapFailure(f store.Failure) error { return &wrapped{f} }

type wrapped struct{ f store.Failure }

func (w *wrapped) Error() string { return "wrapped: " + w.f.Error() }
func (w *wrapped) Unwrap() error { return w.f }

func TestServeStops(t *testing.T) {
	st := openStore(t, store.Config{})
	s := NewServer(st, Config{Key: testKey}, zerolog.Nop())

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, listen(t, "udp4", "127.0.0.1:0")) }()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve after cancel = %v, want nil", err)
	}

	conn := listen(t, "udp4", "127.0.0.1:0")
	go func() { done <- s.Serve(context.Background(), conn) }()
	// Shutdown must see the reader, so wait for it to answer once.
	c := newClient(t, "udp4", "127.0.0.1:0")
	c.connect(conn.LocalAddr().(*net.UDPAddr).AddrPort())
	sctx, scancel := context.WithTimeout(context.Background(), replyTimeout)
	defer scancel()
	if err := s.Shutdown(sctx); err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve after Shutdown = %v, want nil", err)
	}
	// After Close, Serve returns at once and closes the socket.
	late := listen(t, "udp4", "127.0.0.1:0")
	if err := s.Serve(context.Background(), late); err != nil {
		t.Errorf("Serve after Shutdown = %v, want nil", err)
	}
	if _, err := late.WriteToUDPAddrPort([]byte{1}, c.addr()); err == nil {
		t.Errorf("Serve after Shutdown left its socket open")
	}
}

func TestListenReusePort(t *testing.T) {
	if reusePortControl == nil {
		t.Skip("no SO_REUSEPORT here")
	}
	conns, err := ListenReusePort(context.Background(), "udp4", "127.0.0.1:0", 3)
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t, store.Config{})
	s := NewServer(st, Config{Key: testKey}, zerolog.Nop())
	var addr netip.AddrPort
	for i, conn := range conns {
		a := startServer(t, s, conn)
		if i == 0 {
			addr = a
		} else if a != addr {
			t.Fatalf("socket %d on %v, want %v", i, a, addr)
		}
	}
	h := hashOf("reuseport...........")
	for i := range 8 {
		c := newClient(t, "udp4", "127.0.0.1:0")
		pkt := announcePacket(ann{connID: c.connect(addr), tx: 1, hash: h, left: 1, port: uint16(2000 + i), numWant: 50})
		if r := parseAnnounce(t, c.roundTrip(addr, pkt), 1, peer4Len); len(r.peers) != i {
			t.Errorf("announce %d got %d peers, want %d", i, len(r.peers), i)
		}
	}
}

// TestListenReusePortRefusesHeldPort checks that a second group cannot
// join a port a group holds (it would take a share of its clients), nor
// bind the port's wildcard, nor join a port a lone socket holds.
func TestListenReusePortRefusesHeldPort(t *testing.T) {
	if reusePortControl == nil {
		t.Skip("no SO_REUSEPORT here")
	}
	held, err := ListenReusePort(context.Background(), "udp4", "127.0.0.1:0", 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	port := held[0].LocalAddr().(*net.UDPAddr).Port
	lone := listen(t, "udp4", "127.0.0.1:0")
	tests := []struct {
		name, network, addr string
		n                   int
	}{
		{"one socket on a group's port", "udp4", fmt.Sprintf("127.0.0.1:%d", port), 1},
		{"a group on a group's port", "udp4", fmt.Sprintf("127.0.0.1:%d", port), 3},
		{"a group on the wildcard of a group's port", "udp", fmt.Sprintf(":%d", port), 3},
		{"a group on a lone socket's port", "udp4", lone.LocalAddr().String(), 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conns, err := ListenReusePort(context.Background(), tt.network, tt.addr, tt.n)
			for _, c := range conns {
				c.Close()
			}
			if !errors.Is(err, syscall.EADDRINUSE) {
				t.Fatalf("ListenReusePort(%s, %d) = %v, want EADDRINUSE", tt.addr, tt.n, err)
			}
			if !strings.Contains(err.Error(), tt.addr) {
				t.Errorf("error %q does not name %s", err, tt.addr)
			}
		})
	}
}

// TestListenReusePortSpreadsOverEverySocket checks that the first socket,
// bound alone and opened to the group afterwards, is in the group like the
// others: clients from many ports reach every socket.
func TestListenReusePortSpreadsOverEverySocket(t *testing.T) {
	if reusePortControl == nil {
		t.Skip("no SO_REUSEPORT here")
	}
	const sockets, clients = 4, 64 // a socket misses all 64 with odds (3/4)^64
	conns, err := ListenReusePort(context.Background(), "udp4", "127.0.0.1:0", sockets)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan int, clients)
	for i, c := range conns {
		t.Cleanup(func() { c.Close() })
		go func() {
			buf := make([]byte, 16)
			for {
				if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
					return
				}
				got <- i
			}
		}()
	}
	addr := conns[0].LocalAddr().(*net.UDPAddr).AddrPort()
	for range clients {
		c := listen(t, "udp4", "127.0.0.1:0")
		if _, err := c.WriteToUDPAddrPort([]byte("hello"), addr); err != nil {
			t.Fatal(err)
		}
	}
	per := make([]int, sockets)
	for range clients {
		per[<-got]++
	}
	for i, n := range per {
		if n == 0 {
			t.Errorf("socket %d got none of %d clients: %v", i, clients, per)
		}
	}
}
