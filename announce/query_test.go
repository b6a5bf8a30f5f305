package announce

import (
	"bytes"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"johnlocke/store"
)

// requestsDir holds recorded real-world announce queries, one per file.
const requestsDir = "../testdata/requests"

// escapeAll percent-encodes every byte of b, as a client may.
func escapeAll(b []byte) string {
	const hexdigits = "0123456789ABCDEF"
	var sb strings.Builder
	for _, c := range b {
		sb.WriteByte('%')
		sb.WriteByte(hexdigits[c>>4])
		sb.WriteByte(hexdigits[c&15])
	}
	return sb.String()
}

func mustHex(t testing.TB, s string) [20]byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 20 {
		t.Fatalf("bad test hash %q", s)
	}
	return [20]byte(b)
}

// ih and pid are the 20-byte values the base query below carries.
var (
	ih  = [20]byte{0x00, 0x01, 0x7f, 0x80, 0xff, 'a', 'Z', '%', '&', '+', '=', ' ', 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x90}
	pid = [20]byte([]byte("-qB4620-abcdefghijkl"))
)

// base is a complete, valid announce; cases add to or replace parts of it.
var base = "info_hash=" + escapeAll(ih[:]) + "&peer_id=" + string(pid[:]) + "&port=6881&left=100"

func TestParseAnnounceQueryGood(t *testing.T) {
	tests := []struct {
		name  string
		query string
		check func(t *testing.T, req *store.Request, opts AnnounceOptions)
	}{
		{"defaults", base, func(t *testing.T, r *store.Request, o AnnounceOptions) {
			if r.InfoHash != ih || r.PeerID != pid || r.Port != 6881 || r.Left != 100 {
				t.Errorf("got %+v", r)
			}
			if r.NumWant != -1 || r.Event != store.EventNone || r.Uploaded != 0 || r.Downloaded != 0 {
				t.Errorf("defaults: got %+v", r)
			}
			if !o.Compact || o.NoPeerID {
				t.Errorf("opts = %+v, want compact", o)
			}
			if r.Addr != ([16]byte{}) || r.Is6 || r.BothFamilies {
				t.Errorf("parser must not set address fields: %+v", r)
			}
		}},
		{"lowercase hex escapes", "info_hash=" + strings.ToLower(escapeAll(ih[:])) + "&peer_id=" + escapeAll(pid[:]) + "&port=1&left=0", func(t *testing.T, r *store.Request, o AnnounceOptions) {
			if r.InfoHash != ih || r.PeerID != pid {
				t.Errorf("got %x %q", r.InfoHash, r.PeerID)
			}
		}},
		{"mixed raw and escaped", "info_hash=abcdefghij%00%01%02%03%04%05%06%07%08%09&peer_id=" + string(pid[:]) + "&port=1&left=0", func(t *testing.T, r *store.Request, o AnnounceOptions) {
			want := [20]byte([]byte("abcdefghij\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09"))
			if r.InfoHash != want {
				t.Errorf("got %x, want %x", r.InfoHash, want)
			}
		}},
		{"plus is a space", "info_hash=++++++++++aaaaaaaaaa&peer_id=" + string(pid[:]) + "&port=1&left=0", func(t *testing.T, r *store.Request, o AnnounceOptions) {
			want := [20]byte([]byte("          aaaaaaaaaa"))
			if r.InfoHash != want {
				t.Errorf("got %q, want %q", r.InfoHash, want)
			}
		}},
		{"escaped key", strings.Replace(base, "info_hash", "info%5Fhash", 1), func(t *testing.T, r *store.Request, o AnnounceOptions) {
			if r.InfoHash != ih {
				t.Errorf("got %x", r.InfoHash)
			}
		}},
		{"all numbers", base + "&uploaded=123&downloaded=9223372036854775807&numwant=50", func(t *testing.T, r *store.Request, o AnnounceOptions) {
			if r.Uploaded != 123 || r.Downloaded != math.MaxInt64 || r.NumWant != 50 {
				t.Errorf("got %+v", r)
			}
		}},
		{"leading zeros", strings.Replace(base, "left=100", "left=000100", 1), func(t *testing.T, r *store.Request, o AnnounceOptions) {
			if r.Left != 100 {
				t.Errorf("left = %d", r.Left)
			}
		}},
		{"port 65535", strings.Replace(base, "port=6881", "port=65535", 1), func(t *testing.T, r *store.Request, o AnnounceOptions) {
			if r.Port != 65535 {
				t.Errorf("port = %d", r.Port)
			}
		}},
		{"escaped number", strings.Replace(base, "port=6881", "port=%36881", 1), func(t *testing.T, r *store.Request, o AnnounceOptions) {
			if r.Port != 6881 {
				t.Errorf("port = %d", r.Port)
			}
		}},
		{"started", base + "&event=started", eventIs(store.EventStarted)},
		{"completed", base + "&event=completed", eventIs(store.EventCompleted)},
		{"stopped", base + "&event=stopped", eventIs(store.EventStopped)},
		{"empty event", base + "&event=", eventIs(store.EventNone)},
		{"event=empty", base + "&event=empty", eventIs(store.EventNone)},
		{"paused", base + "&event=paused", eventIs(store.EventNone)},
		{"numwant negative", base + "&numwant=-5", numWantIs(-1)},
		{"numwant -1", base + "&numwant=-1", numWantIs(-1)},
		{"numwant empty", base + "&numwant=", numWantIs(-1)},
		{"numwant zero", base + "&numwant=0", numWantIs(0)},
		{"numwant clamped", base + "&numwant=70000", numWantIs(MaxNumWant)},
		{"numwant overflowing clamped", base + "&numwant=99999999999999999999", numWantIs(MaxNumWant)},
		{"compact=0", base + "&compact=0", func(t *testing.T, r *store.Request, o AnnounceOptions) {
			if o.Compact {
				t.Error("compact=0 gave compact")
			}
		}},
		{"compact=1 no_peer_id=1", base + "&compact=1&no_peer_id=1", func(t *testing.T, r *store.Request, o AnnounceOptions) {
			if !o.Compact || !o.NoPeerID {
				t.Errorf("opts = %+v", o)
			}
		}},
		{"ip ignored", base + "&ip=192.0.2.7&ipv6=2001%3Adb8%3A%3A1&ipv4=192.0.2.7", func(t *testing.T, r *store.Request, o AnnounceOptions) {
			if r.Addr != ([16]byte{}) || r.Is6 {
				t.Errorf("ip= reached the request: %+v", r)
			}
		}},
		{"unknown and empty params", "&&x=%zz&" + base + "&key=ABCD&trackerid=7&supportcrypto=1&averyveryverylongparametername=1&novalue&", func(t *testing.T, r *store.Request, o AnnounceOptions) {
			if r.InfoHash != ih || r.Port != 6881 {
				t.Errorf("got %+v", r)
			}
		}},
		{"agreeing duplicates", base + "&port=6881&info_hash=" + escapeAll(ih[:]) + "&event=started&event=started", func(t *testing.T, r *store.Request, o AnnounceOptions) {
			if r.Port != 6881 || r.Event != store.EventStarted {
				t.Errorf("got %+v", r)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req store.Request
			opts, err := ParseAnnounceQuery([]byte(tt.query), &req)
			if err != nil {
				t.Fatalf("ParseAnnounceQuery(%q): %v", tt.query, err)
			}
			tt.check(t, &req, opts)
		})
	}
}

func eventIs(want store.Event) func(*testing.T, *store.Request, AnnounceOptions) {
	return func(t *testing.T, r *store.Request, _ AnnounceOptions) {
		if r.Event != want {
			t.Errorf("event = %d, want %d", r.Event, want)
		}
	}
}

func numWantIs(want int32) func(*testing.T, *store.Request, AnnounceOptions) {
	return func(t *testing.T, r *store.Request, _ AnnounceOptions) {
		if r.NumWant != want {
			t.Errorf("numwant = %d, want %d", r.NumWant, want)
		}
	}
}

func TestParseAnnounceQueryBad(t *testing.T) {
	ihq := "info_hash=" + escapeAll(ih[:])
	pidq := "&peer_id=" + string(pid[:])
	tests := []struct {
		name  string
		query string
		want  error
	}{
		{"empty", "", ErrMissingInfoHash},
		{"missing info_hash", pidq + "&port=1&left=0", ErrMissingInfoHash},
		{"missing peer_id", ihq + "&port=1&left=0", ErrMissingPeerID},
		{"missing port", ihq + pidq + "&left=0", ErrMissingPort},
		{"missing left", ihq + pidq + "&port=1", ErrMissingLeft},
		{"info_hash empty", "info_hash=" + pidq + "&port=1&left=0", ErrInvalidInfoHash},
		{"info_hash 19 bytes", "info_hash=" + escapeAll(ih[:19]) + pidq + "&port=1&left=0", ErrInvalidInfoHash},
		{"info_hash 21 bytes", ihq + "%00" + pidq + "&port=1&left=0", ErrInvalidInfoHash},
		{"info_hash 40 hex chars", "info_hash=" + hex.EncodeToString(ih[:]) + pidq + "&port=1&left=0", ErrInvalidInfoHash},
		{"info_hash bad escape", "info_hash=%zz" + escapeAll(ih[:19]) + pidq + "&port=1&left=0", ErrBadEscape},
		{"info_hash truncated escape at end", pidq[1:] + "&port=1&left=0&info_hash=" + escapeAll(ih[:19]) + "%4", ErrBadEscape},
		{"info_hash lone percent at end", pidq[1:] + "&port=1&left=0&info_hash=" + escapeAll(ih[:19]) + "%", ErrBadEscape},
		{"conflicting info_hash", ihq + "&info_hash=" + escapeAll(make([]byte, 20)) + pidq + "&port=1&left=0", ErrConflictingInfoHash},
		{"peer_id 19 bytes", ihq + "&peer_id=" + string(pid[:19]) + "&port=1&left=0", ErrInvalidPeerID},
		{"peer_id bad escape", ihq + "&peer_id=%G0" + string(pid[:19]) + "&port=1&left=0", ErrBadEscape},
		{"conflicting peer_id", ihq + pidq + "&peer_id=aaaaaaaaaaaaaaaaaaaa&port=1&left=0", ErrDuplicateParam},
		{"port zero", ihq + pidq + "&port=0&left=0", ErrInvalidPort},
		{"port too big", ihq + pidq + "&port=65536&left=0", ErrInvalidPort},
		{"port negative", ihq + pidq + "&port=-1&left=0", ErrInvalidPort},
		{"port empty", ihq + pidq + "&port=&left=0", ErrInvalidPort},
		{"port not a number", ihq + pidq + "&port=http&left=0", ErrInvalidPort},
		{"port with space", ihq + pidq + "&port=+80&left=0", ErrInvalidPort},
		{"conflicting port", ihq + pidq + "&port=1&port=2&left=0", ErrDuplicateParam},
		{"uploaded overflows uint64", base + "&uploaded=18446744073709551616", ErrInvalidUploaded},
		{"uploaded above int64", base + "&uploaded=9223372036854775808", ErrInvalidUploaded},
		{"uploaded very long", base + "&uploaded=" + strings.Repeat("9", 40), ErrInvalidUploaded},
		{"uploaded negative", base + "&uploaded=-1", ErrInvalidUploaded},
		{"uploaded float", base + "&uploaded=1e9", ErrInvalidUploaded},
		{"downloaded bad", base + "&downloaded=12x", ErrInvalidDownloaded},
		{"left negative", ihq + pidq + "&port=1&left=-1", ErrInvalidLeft},
		{"left empty", ihq + pidq + "&port=1&left=", ErrInvalidLeft},
		{"conflicting left", base + "&left=5", ErrDuplicateParam},
		{"number bad escape", base + "&uploaded=1%2", ErrBadEscape},
		{"event unknown", base + "&event=bogus", ErrInvalidEvent},
		{"event upper case", base + "&event=STARTED", ErrInvalidEvent},
		{"event too long", base + "&event=" + strings.Repeat("s", 40), ErrInvalidEvent},
		{"event bad escape", base + "&event=st%rted", ErrBadEscape},
		{"conflicting event", base + "&event=started&event=stopped", ErrDuplicateParam},
		{"numwant not a number", base + "&numwant=abc", ErrInvalidNumWant},
		{"numwant lone minus", base + "&numwant=-", ErrInvalidNumWant},
		{"numwant fraction", base + "&numwant=1.5", ErrInvalidNumWant},
		{"numwant far too long", base + "&numwant=" + strings.Repeat("9", 40), ErrInvalidNumWant},
		{"compact 2", base + "&compact=2", ErrInvalidCompact},
		{"compact yes", base + "&compact=yes", ErrInvalidCompact},
		{"conflicting compact", base + "&compact=1&compact=0", ErrDuplicateParam},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req store.Request
			_, err := ParseAnnounceQuery([]byte(tt.query), &req)
			if err != tt.want {
				t.Errorf("ParseAnnounceQuery(%q) = %v, want %v", tt.query, err, tt.want)
			}
			if _, ok := err.(store.Failure); !ok {
				t.Errorf("error %v is a %T, not a store.Failure", err, err)
			}
		})
	}
}

// TestRecordedRequests parses the recorded client queries in
// testdata/requests.
func TestRecordedRequests(t *testing.T) {
	tests := []struct {
		file     string
		infoHash string
		port     uint16
		event    store.Event
		left     uint64
		numWant  int32
	}{
		{"qbittorrent-started.txt", "d8ab2bf19ec14e0fa53ebc081d5cb9e901a73c2a", 6881, store.EventStarted, 4781506560, 200},
		{"transmission-periodic.txt", "5a8ce26e8a19a877d8ccc927fcc18e34e1f5ff67", 51413, store.EventNone, 536870912, 80},
		{"libtorrent-stopped.txt", "08ada5a7a6183aae1e09d831df6748d566095a10", 58946, store.EventStopped, 0, 0},
		{"aria2-completed.txt", "c9e15763f722f23e98a29decdfae341b98d53056", 6882, store.EventCompleted, 0, 50},
		{"utorrent-started.txt", "2d66f8a4e4c9a9bd3f0b7e41c2b5f51e7d0c8a93", 24513, store.EventStarted, 1849688064, 200},
	}
	files, err := filepath.Glob(filepath.Join(requestsDir, "*.txt"))
	if err != nil || len(files) < len(tests) {
		t.Fatalf("recorded requests: %d files, %v", len(files), err)
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			q := readRequest(t, filepath.Join(requestsDir, tt.file))
			var req store.Request
			opts, err := ParseAnnounceQuery(q, &req)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if got, want := req.InfoHash, mustHex(t, tt.infoHash); got != want {
				t.Errorf("info_hash = %x, want %x", got, want)
			}
			if req.Port != tt.port || req.Event != tt.event || req.Left != tt.left || req.NumWant != tt.numWant {
				t.Errorf("got port %d event %d left %d numwant %d, want %d %d %d %d",
					req.Port, req.Event, req.Left, req.NumWant, tt.port, tt.event, tt.left, tt.numWant)
			}
			if !opts.Compact {
				t.Error("every recorded client asks for compact peers")
			}
			if req.Addr != ([16]byte{}) {
				t.Error("address taken from the query")
			}
		})
	}
}

func readRequest(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(b)
}

func TestParseScrapeQuery(t *testing.T) {
	a := mustHex(t, "0101010101010101010101010101010101010101")
	b := mustHex(t, "0202020202020202020202020202020202020202")
	c := mustHex(t, "ff00000000000000000000000000000000000000")
	q := func(hs ...[20]byte) string {
		var parts []string
		for _, h := range hs {
			parts = append(parts, "info_hash="+escapeAll(h[:]))
		}
		return strings.Join(parts, "&")
	}
	many := make([][20]byte, MaxScrapeHashes+1)
	for i := range many {
		many[i][0] = byte(i)
	}
	tests := []struct {
		name  string
		query string
		want  [][20]byte
		err   error
	}{
		{"one", q(a), [][20]byte{a}, nil},
		{"sorted and deduplicated", q(c, a, b, a, c) + "&passkey=x", [][20]byte{a, b, c}, nil},
		{"lower-case escapes", strings.ToLower(q(b)), [][20]byte{b}, nil},
		{"max", q(many[:MaxScrapeHashes]...), many[:MaxScrapeHashes], nil},
		{"too many", q(many...), nil, ErrTooManyInfoHashes},
		{"full scrape", "", nil, ErrFullScrape},
		{"full scrape with other params", "passkey=abc", nil, ErrFullScrape},
		{"short hash", q(a) + "&info_hash=abc", nil, ErrInvalidInfoHash},
		{"bad escape", q(a) + "&info_hash=%", nil, ErrBadEscape},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dst [MaxScrapeHashes][20]byte
			n, err := ParseScrapeQuery([]byte(tt.query), &dst)
			if err != tt.err {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if got := dst[:n]; !equalHashes(got, tt.want) {
				t.Errorf("got %x, want %x", got, tt.want)
			}
		})
	}
}

func equalHashes(a, b [][20]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestParseAllocs(t *testing.T) {
	q := readRequest(t, filepath.Join(requestsDir, "qbittorrent-started.txt"))
	var req store.Request
	if got := testing.AllocsPerRun(1000, func() {
		if _, err := ParseAnnounceQuery(q, &req); err != nil {
			t.Fatal(err)
		}
	}); got != 0 {
		t.Errorf("ParseAnnounceQuery allocates %v times, want 0", got)
	}
	bad := []byte(base + "&port=2")
	if got := testing.AllocsPerRun(1000, func() {
		if _, err := ParseAnnounceQuery(bad, &req); err == nil {
			t.Fatal("no error")
		}
	}); got != 0 {
		t.Errorf("a failing ParseAnnounceQuery allocates %v times, want 0", got)
	}
	sq := []byte("info_hash=" + escapeAll(ih[:]) + "&info_hash=" + escapeAll(pid[:]))
	var hs [MaxScrapeHashes][20]byte
	if got := testing.AllocsPerRun(1000, func() {
		if _, err := ParseScrapeQuery(sq, &hs); err != nil {
			t.Fatal(err)
		}
	}); got != 0 {
		t.Errorf("ParseScrapeQuery allocates %v times, want 0", got)
	}
}

func BenchmarkParseAnnounceQuery(b *testing.B) {
	q := readRequest(b, filepath.Join(requestsDir, "qbittorrent-started.txt"))
	var req store.Request
	b.SetBytes(int64(len(q)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseAnnounceQuery(q, &req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseScrapeQuery(b *testing.B) {
	var parts []string
	for i := range 8 {
		h := ih
		h[0] = byte(8 - i)
		parts = append(parts, "info_hash="+escapeAll(h[:]))
	}
	q := []byte(strings.Join(parts, "&"))
	var hs [MaxScrapeHashes][20]byte
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseScrapeQuery(q, &hs); err != nil {
			b.Fatal(err)
		}
	}
}

// seedQueries are the fuzz targets' seeds beyond the recorded requests.
var seedQueries = []string{
	base,
	base + "&event=started&numwant=50&compact=0&no_peer_id=1",
	base + "&uploaded=18446744073709551616",
	"info_hash=%zz&port=0",
	"info_hash=" + strings.Repeat("+", 20) + "&peer_id=" + strings.Repeat("%41", 20) + "&port=1&left=0&info%5fhash=%",
	"&&=&==&%&%%&",
}

func addSeeds(f *testing.F) {
	for _, s := range seedQueries {
		f.Add([]byte(s))
	}
	files, _ := filepath.Glob(filepath.Join(requestsDir, "*.txt"))
	if len(files) == 0 {
		f.Fatal("no recorded requests")
	}
	for _, file := range files {
		f.Add(readRequest(f, file))
	}
}

func FuzzParseAnnounceQuery(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, q []byte) {
		var req store.Request
		_, err := ParseAnnounceQuery(q, &req)
		if err != nil {
			if _, ok := err.(store.Failure); !ok {
				t.Fatalf("error %v is a %T, not a store.Failure", err, err)
			}
			return
		}
		if req.Port == 0 {
			t.Fatalf("parsed %q with port 0", q)
		}
		if req.NumWant < -1 || req.NumWant > MaxNumWant {
			t.Fatalf("numwant %d out of range", req.NumWant)
		}
		again := "info_hash=" + escapeAll(req.InfoHash[:]) + "&peer_id=" + escapeAll(req.PeerID[:]) + "&port=1&left=0"
		var req2 store.Request
		if _, err := ParseAnnounceQuery([]byte(again), &req2); err != nil {
			t.Fatalf("re-encoded %q: %v", again, err)
		}
		if req2.InfoHash != req.InfoHash || req2.PeerID != req.PeerID {
			t.Fatalf("round trip: info_hash %x became %x, peer_id %x became %x", req.InfoHash, req2.InfoHash, req.PeerID, req2.PeerID)
		}
	})
}

func FuzzParseScrapeQuery(f *testing.F) {
	addSeeds(f)
	f.Add([]byte("info_hash=" + escapeAll(ih[:]) + "&info_hash=" + escapeAll(pid[:]) + "&info_hash=" + escapeAll(ih[:])))
	f.Fuzz(func(t *testing.T, q []byte) {
		var hs [MaxScrapeHashes][20]byte
		n, err := ParseScrapeQuery(q, &hs)
		if err != nil {
			if _, ok := err.(store.Failure); !ok {
				t.Fatalf("error %v is a %T, not a store.Failure", err, err)
			}
			return
		}
		if n < 1 || n > MaxScrapeHashes {
			t.Fatalf("n = %d", n)
		}
		for i := 1; i < n; i++ {
			if bytes.Compare(hs[i-1][:], hs[i][:]) >= 0 {
				t.Fatalf("hashes not sorted and unique: %x", hs[:n])
			}
		}
		var parts []string
		for i := n - 1; i >= 0; i-- {
			parts = append(parts, "info_hash="+escapeAll(hs[i][:]))
		}
		var hs2 [MaxScrapeHashes][20]byte
		n2, err := ParseScrapeQuery([]byte(strings.Join(parts, "&")), &hs2)
		if err != nil || !equalHashes(hs[:n], hs2[:n2]) {
			t.Fatalf("round trip: %x became %x (%v)", hs[:n], hs2[:n2], err)
		}
	})
}
