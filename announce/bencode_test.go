package announce

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"reflect"
	"testing"

	"github.com/jackpal/bencode-go"

	"johnlocke/store"
)

// decodeDict decodes b with jackpal/bencode-go, requires it to be a
// dictionary and that nothing follows it.
func decodeDict(t testing.TB, b []byte) map[string]any {
	t.Helper()
	r := bytes.NewReader(b)
	v, err := bencode.Decode(r)
	if err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	if r.Len() != 0 {
		t.Fatalf("%d trailing bytes after the dictionary in %q", r.Len(), b)
	}
	d, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("decoded a %T, want a dictionary", v)
	}
	return d
}

// keysInOrder returns the top-level keys of a bencoded dictionary in the
// order they were written.
func keysInOrder(t testing.TB, b []byte) []string {
	t.Helper()
	var keys []string
	if len(b) == 0 || b[0] != 'd' {
		t.Fatalf("not a dictionary: %q", b)
	}
	i := 1
	readString := func() string {
		n := 0
		for b[i] != ':' {
			n = n*10 + int(b[i]-'0')
			i++
		}
		i++
		s := string(b[i : i+n])
		i += n
		return s
	}
	var skip func()
	skip = func() {
		switch c := b[i]; {
		case c == 'i':
			i = i + bytes.IndexByte(b[i:], 'e') + 1
		case c == 'l' || c == 'd':
			i++
			for b[i] != 'e' {
				skip()
			}
			i++
		default:
			readString()
		}
	}
	for b[i] != 'e' {
		keys = append(keys, readString())
		skip()
	}
	return keys
}

func compactPeer4(a string, port uint16) []byte {
	ap := netip.MustParseAddr(a).As4()
	return binary.BigEndian.AppendUint16(ap[:], port)
}

func compactPeer6(a string, port uint16) []byte {
	ap := netip.MustParseAddr(a).As16()
	return binary.BigEndian.AppendUint16(ap[:], port)
}

func testResponse() *store.Response {
	var p4, p6 []byte
	p4 = append(p4, compactPeer4("192.0.2.1", 6881)...)
	p4 = append(p4, compactPeer4("198.51.100.255", 65535)...)
	p6 = append(p6, compactPeer6("2001:db8::1", 51413)...)
	return &store.Response{
		Peers4: p4, Peers6: p6,
		Interval: 1800, MinInterval: 900,
		Complete: 5, Incomplete: 7, Downloaded: 42,
	}
}

func TestAppendAnnounceCompact(t *testing.T) {
	resp := testResponse()
	b := AppendAnnounce(nil, resp, true)
	d := decodeDict(t, b)
	want := map[string]any{
		"complete":     int64(5),
		"incomplete":   int64(7),
		"downloaded":   int64(42),
		"interval":     int64(1800),
		"min interval": int64(900),
		"peers":        string(resp.Peers4),
		"peers6":       string(resp.Peers6),
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("got %#v\nwant %#v", d, want)
	}
	gotKeys := keysInOrder(t, b)
	wantKeys := []string{"complete", "downloaded", "incomplete", "interval", "min interval", "peers", "peers6"}
	if !reflect.DeepEqual(gotKeys, wantKeys) {
		t.Errorf("keys %q, want %q", gotKeys, wantKeys)
	}
}

func TestAppendAnnounceSeen(t *testing.T) {
	for _, tc := range []struct {
		seen netip.Addr
		want string
	}{
		{netip.MustParseAddr("192.0.2.7"), "\xc0\x00\x02\x07"},
		{netip.MustParseAddr("::ffff:192.0.2.7"), "\xc0\x00\x02\x07"},
		{netip.MustParseAddr("2001:db8::1"), string(netip.MustParseAddr("2001:db8::1").AsSlice())},
	} {
		for _, compact := range []bool{true, false} {
			b := AppendAnnounceSeen(nil, testResponse(), compact, tc.seen)
			d := decodeDict(t, b)
			if got := d["external ip"]; got != tc.want {
				t.Errorf("seen %v compact=%v: external ip %q, want %q", tc.seen, compact, got, tc.want)
			}
			keys := keysInOrder(t, b)
			if len(keys) < 4 || keys[2] != "external ip" || keys[3] != "incomplete" {
				t.Errorf("keys %q: want external ip between downloaded and incomplete", keys)
			}
		}
	}
	if _, ok := decodeDict(t, AppendAnnounceSeen(nil, testResponse(), true, netip.Addr{}))["external ip"]; ok {
		t.Error("an invalid address wrote external ip")
	}
}

func TestAppendAnnounceCompactEmpty(t *testing.T) {
	b := AppendAnnounce([]byte("prefix"), &store.Response{Interval: 60}, true)
	if !bytes.HasPrefix(b, []byte("prefix")) {
		t.Fatalf("dst's contents lost: %q", b)
	}
	d := decodeDict(t, b[len("prefix"):])
	want := map[string]any{
		"complete": int64(0), "incomplete": int64(0), "downloaded": int64(0),
		"interval": int64(60), "peers": "",
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("got %#v, want %#v (no min interval, no peers6)", d, want)
	}
}

func TestAppendAnnounceDict(t *testing.T) {
	resp := testResponse()
	resp.Peers4 = append(resp.Peers4, 1, 2, 3) // a partial entry is ignored
	b := AppendAnnounce(nil, resp, false)
	d := decodeDict(t, b)
	peers, ok := d["peers"].([]any)
	if !ok {
		t.Fatalf("peers is a %T", d["peers"])
	}
	want := []any{
		map[string]any{"ip": "192.0.2.1", "port": int64(6881)},
		map[string]any{"ip": "198.51.100.255", "port": int64(65535)},
		map[string]any{"ip": "2001:db8::1", "port": int64(51413)},
	}
	if !reflect.DeepEqual(peers, want) {
		t.Errorf("peers = %#v\nwant %#v", peers, want)
	}
	if _, ok := d["peers6"]; ok {
		t.Error("the dictionary model lists IPv6 peers in peers, not peers6")
	}
	if d["interval"] != int64(1800) || d["complete"] != int64(5) {
		t.Errorf("got %#v", d)
	}
}

func TestAppendFailure(t *testing.T) {
	for _, reason := range []string{string(ErrMissingInfoHash), string(store.ErrUnregistered), ""} {
		b := AppendFailure(nil, reason)
		d := decodeDict(t, b)
		if !reflect.DeepEqual(d, map[string]any{"failure reason": reason}) {
			t.Errorf("got %#v", d)
		}
	}
	if got, want := string(AppendFailure(nil, "x y")), "d14:failure reason3:x ye"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestAppendScrape(t *testing.T) {
	h1 := [20]byte{1, 2, 3}
	h2 := [20]byte{0xff, 'e', ':', 'd'}
	b := AppendScrapeStart(nil)
	b = AppendScrapeFile(b, h1, store.ScrapeCounts{Complete: 1, Incomplete: 2, Downloaded: 3})
	b = AppendScrapeFile(b, h2, store.ScrapeCounts{Complete: 4294967295})
	b = AppendScrapeEnd(b)
	d := decodeDict(t, b)
	want := map[string]any{"files": map[string]any{
		string(h1[:]): map[string]any{"complete": int64(1), "incomplete": int64(2), "downloaded": int64(3)},
		string(h2[:]): map[string]any{"complete": int64(4294967295), "incomplete": int64(0), "downloaded": int64(0)},
	}}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("got %#v\nwant %#v", d, want)
	}
	empty := decodeDict(t, AppendScrapeEnd(AppendScrapeStart(nil)))
	if !reflect.DeepEqual(empty, map[string]any{"files": map[string]any{}}) {
		t.Errorf("empty scrape: got %#v", empty)
	}
}

func TestEncodeAllocs(t *testing.T) {
	resp := testResponse()
	buf := make([]byte, 0, 4096)
	seen := netip.MustParseAddr("2001:db8::1")
	for _, compact := range []bool{true, false} {
		if got := testing.AllocsPerRun(1000, func() {
			buf = AppendAnnounceSeen(buf[:0], resp, compact, seen)
		}); got != 0 {
			t.Errorf("AppendAnnounce(compact=%v) allocates %v times, want 0", compact, got)
		}
	}
	if got := testing.AllocsPerRun(1000, func() {
		buf = AppendFailure(buf[:0], string(ErrInvalidPort))
		buf = AppendScrapeStart(buf[:0])
		buf = AppendScrapeFile(buf, ih, store.ScrapeCounts{Complete: 9})
		buf = AppendScrapeEnd(buf)
	}); got != 0 {
		t.Errorf("failure and scrape writers allocate %v times, want 0", got)
	}
}

// fiftyPeers is a full answer at the default --maxpeers.
func fiftyPeers() *store.Response {
	resp := &store.Response{Interval: 1800, MinInterval: 900, Complete: 40, Incomplete: 900, Downloaded: 12345}
	for i := range DefaultMaxPeers {
		resp.Peers4 = append(resp.Peers4, compactPeer4("10.0.0.1", uint16(1000+i))...)
		resp.Peers4[len(resp.Peers4)-3] = byte(i)
	}
	return resp
}

func BenchmarkAppendAnnounceCompact(b *testing.B) {
	resp := fiftyPeers()
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendAnnounce(buf[:0], resp, true)
	}
}

func BenchmarkAppendAnnounceDict(b *testing.B) {
	resp := fiftyPeers()
	buf := make([]byte, 0, 8192)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendAnnounce(buf[:0], resp, false)
	}
}
