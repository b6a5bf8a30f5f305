package announce

import "testing"

func TestParseHeadFraming(t *testing.T) {
	const line = "GET /announce HTTP/1.1\r\n"
	tests := []struct {
		head string
		want int
	}{
		{line + "Host: x\r\n\r\n", 0},
		{line + "X-!#$%&'*+-.^_`|~09AZaz: v\r\n\r\n", 0},
		{line + "X-A:\t v \t\r\n\r\n", 0},
		{line + "X-A: v\n\n", 0},
		{line + "Content-Length : 1\r\n\r\n", 400},
		{line + "Content-Length\t: 1\r\n\r\n", 400},
		{line + "Con tent: 1\r\n\r\n", 400},
		{line + "X\x00: 1\r\n\r\n", 400},
		{line + "X-A: b\x00\r\n\r\n", 400},
		{line + "X(A): 1\r\n\r\n", 400},
		{line + "X-A: b\rX-B: c\r\n\r\n", 400},
		{"GET /announce\r HTTP/1.1\r\n\r\n", 400},
		{line + ": empty name\r\n\r\n", 400},
		{line + "\xffname: 1\r\n\r\n", 400},
	}
	for _, tt := range tests {
		var h httpHead
		if got := parseHead([]byte(tt.head), &h, "x-forwarded-for"); got != tt.want {
			t.Errorf("parseHead(%q) = %d, want %d", tt.head, got, tt.want)
		}
	}
}

func TestParseHeadKeepsLastNamedHeader(t *testing.T) {
	head := "GET / HTTP/1.1\r\nX-Real-IP: 192.0.2.1\r\nX-Forwarded-For: 6.6.6.6\r\nx-real-ip:  192.0.2.2 \r\n\r\n"
	var h httpHead
	if st := parseHead([]byte(head), &h, "x-real-ip"); st != 0 || !h.hasFwd || string(h.fwd) != "192.0.2.2" {
		t.Errorf("status %d, header %v %q; want the last X-Real-IP", st, h.hasFwd, h.fwd)
	}
	h = httpHead{}
	if parseHead([]byte("GET / HTTP/1.1\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n"), &h, "x-real-ip"); h.hasFwd {
		t.Error("a header other than the named one was read")
	}
}

// BenchmarkParseHeadQBittorrent parses the head a qBittorrent announce
// carries, token and CR checks included.
func BenchmarkParseHeadQBittorrent(b *testing.B) {
	head := []byte(get(announceTarget("")))
	b.ReportAllocs()
	for b.Loop() {
		var h httpHead
		if parseHead(head, &h, "x-forwarded-for") != 0 {
			b.Fatal("refused")
		}
	}
}
