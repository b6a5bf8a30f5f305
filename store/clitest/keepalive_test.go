package clitest

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"
)

// TestDefaultKeepAliveIsForProxies: serve with no --http-keepalive answers a
// client that asks for keep-alive (as aria2 and Transmission do) with
// Connection: close and closes, since a client announcing minutes later
// would only leave the connection idle, and keeps a --trusted-proxy's
// connection open for its next request.
func TestDefaultKeepAliveIsForProxies(t *testing.T) {
	db := filepath.Join(t.TempDir(), "j.db")
	s := startServer(t, "--db", db, "--locked=false", "--trusted-proxy", "127.0.0.2")
	for _, from := range []struct {
		addr string
		keep bool
	}{
		{"127.0.0.2", true},  // the trusted proxy
		{"127.0.0.3", false}, // a client
	} {
		c, err := dialerFrom(from.addr).Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(c)
		resp := keepAliveAnnounce(t, c, r, from.addr)
		if resp.Close == from.keep {
			t.Fatalf("from %s: answer says Connection: close %v, want %v", from.addr, resp.Close, !from.keep)
		}
		if !from.keep {
			if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
				t.Fatalf("from %s: after the answer read %d bytes, %v; want the tracker to have closed", from.addr, n, err)
			}
			continue
		}
		// The proxy's connection serves a second request.
		keepAliveAnnounce(t, c, r, from.addr)
	}
}

// keepAliveAnnounce sends an HTTP/1.1 announce with no Connection header on
// c and reads its answer whole.
func keepAliveAnnounce(t *testing.T, c net.Conn, r *bufio.Reader, from string) *http.Response {
	t.Helper()
	q := url.Values{
		"info_hash": {hexBytes("5f3c8a9d2e1b4c6a7f8e9d0c1b2a3f4e5d6c7b8a")}, "peer_id": {"-XX0001-keepalivetst"},
		"port": {"6881"}, "uploaded": {"0"}, "downloaded": {"0"}, "left": {"100"}, "compact": {"1"},
	}
	if _, err := io.WriteString(c, "GET /announce?"+q.Encode()+" HTTP/1.1\r\nHost: tracker\r\n\r\n"); err != nil {
		t.Fatalf("from %s: %v", from, err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("from %s: %v", from, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 || len(body) == 0 || body[0] != 'd' {
		t.Fatalf("from %s: status %d, body %q, %v; want 200 and a dictionary", from, resp.StatusCode, body, err)
	}
	return resp
}
