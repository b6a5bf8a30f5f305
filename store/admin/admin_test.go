package admin

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"johnlocke/modes"
	"johnlocke/store"
)

func hash(b byte) [20]byte {
	var h [20]byte
	for i := range h {
		h[i] = b
	}
	return h
}

// serve opens a store on a temp database and its admin socket.
func serve(t *testing.T) (*store.Store, *Server, string) {
	t.Helper()
	dir := t.TempDir()
	db := filepath.Join(dir, "j.db")
	st, err := store.Open(db, store.Config{Mode: modes.Large})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	sock := filepath.Join(dir, "j.db.sock")
	srv, err := Listen(st, Config{Path: sock, DB: db, Version: "test", Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return st, srv, sock
}

func dial(t *testing.T, sock string) *Client {
	t.Helper()
	c, err := Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestOperationsThroughTheSocket(t *testing.T) {
	st, _, sock := serve(t)
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != socketMode {
		t.Errorf("socket mode %o, want %o", got, socketMode)
	}
	c := dial(t, sock)
	if s := c.Status(); s.PID != os.Getpid() || s.Version != "test" || s.Schema == 0 || s.Mode != "large" {
		t.Errorf("status %+v", s)
	}

	ts := []store.Torrent{
		{InfoHash: hash(1), Name: "one", Size: 10, Mode: modes.Small, Source: store.SourceImport, Origin: "/x/one.torrent"},
		{InfoHash: hash(2), Name: "two", Alias: hash(9), HasAlias: true, Source: store.SourceImport},
	}
	res, err := c.Register(ts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || !res[0].Added || !res[1].Added || res[1].InfoHash != hash(2) {
		t.Fatalf("register results %+v", res)
	}
	if res, err = c.Register(ts[:1]); err != nil || res[0].Added || res[0].ModeChanged {
		t.Fatalf("register again: %+v, %v", res, err)
	}
	// Registered through the socket means announceable at once.
	var resp store.Response
	req := store.Request{InfoHash: hash(2), Addr: [16]byte{127, 0, 0, 1}, Port: 6881, Left: 1, Event: store.EventStarted, NumWant: -1}
	if err := st.Announce(&req, &resp); err != nil {
		t.Fatalf("announce after register: %v", err)
	}

	got, ok, err := c.Torrent(hash(9)) // by the hybrid alias
	if err != nil || !ok {
		t.Fatalf("torrent by alias: %v, %v", ok, err)
	}
	if got.InfoHash != hash(2) || got.Leechers != 1 || got.Alias != hash(9) || !got.HasAlias || got.Added.IsZero() {
		t.Fatalf("torrent = %+v", got)
	}
	if _, ok, err := c.Torrent(hash(7)); ok || err != nil {
		t.Fatalf("unknown torrent: ok %v, err %v", ok, err)
	}

	var names []string
	if err := c.Torrents(func(t *store.Torrent) error {
		names = append(names, t.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "one,two" {
		t.Fatalf("torrents %v", names)
	}

	rep, err := c.Purge(store.PurgeOptions{OlderThan: time.Nanosecond, DryRun: true})
	if err != nil || len(rep.Torrents) != 2 {
		t.Fatalf("purge dry run: %+v, %v", rep, err)
	}
	if rep, err = c.Purge(store.PurgeOptions{OlderThan: time.Nanosecond}); err != nil || len(rep.Torrents) != 2 {
		t.Fatalf("purge: %+v, %v", rep, err)
	}
	if n, _ := st.Counts(); n != 0 {
		t.Fatalf("%d torrents in memory after purging all", n)
	}
}

// raw sends one request over the socket and returns the status and body.
func raw(t *testing.T, sock, method, path string, body io.Reader) (int, string) {
	t.Helper()
	hc := http.Client{Transport: &http.Transport{Dial: func(string, string) (net.Conn, error) {
		return net.Dial("unix", sock)
	}}, Timeout: 5 * time.Second}
	req, _ := http.NewRequest(method, "http://x"+path, body)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestGarbageIsRefused(t *testing.T) {
	_, _, sock := serve(t)
	many := `{"torrents":[` + strings.Repeat(`{"infohash":"`+strings.Repeat("ab", 20)+`"},`, maxRegisterBatch) +
		`{"infohash":"` + strings.Repeat("ab", 20) + `"}]}`
	for _, tc := range []struct {
		name, method, path, body string
		want                     int
	}{
		{"not json", "POST", pathRegister, "{{{", http.StatusBadRequest},
		{"trailing data", "POST", pathPurge, `{} {}`, http.StatusBadRequest},
		{"short infohash", "POST", pathRegister, `{"torrents":[{"infohash":"abcd"}]}`, http.StatusBadRequest},
		{"bad mode", "POST", pathRegister, `{"torrents":[{"infohash":"` + strings.Repeat("ab", 20) + `","mode":"huge"}]}`, http.StatusBadRequest},
		{"mode as a number", "POST", pathRegister, `{"torrents":[{"infohash":"` + strings.Repeat("ab", 20) + `","mode":1}]}`, http.StatusBadRequest},
		{"bad source", "POST", pathRegister, `{"torrents":[{"infohash":"` + strings.Repeat("ab", 20) + `","source":"web"}]}`, http.StatusBadRequest},
		{"too many torrents", "POST", pathRegister, many, http.StatusRequestEntityTooLarge},
		{"huge purge body", "POST", pathPurge, `{"dry_run":true,"x":"` + strings.Repeat("a", maxSmallBody) + `"}`, http.StatusRequestEntityTooLarge},
		{"negative age", "POST", pathPurge, `{"older_than":-1}`, http.StatusBadRequest},
		{"bad hash in path", "GET", pathTorrents + "/zz", "", http.StatusBadRequest},
		{"unknown path", "GET", "/v1/nope", "", http.StatusNotFound},
		{"wrong method", "GET", pathPurge, "", http.StatusMethodNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := raw(t, sock, tc.method, tc.path, strings.NewReader(tc.body))
			if code != tc.want {
				t.Fatalf("status %d, want %d: %s", code, tc.want, body)
			}
		})
	}

	// Bytes that are not HTTP at all: the server drops the connection and
	// keeps answering others.
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = conn.Write(bytes.Repeat([]byte{0xff, 0x00, '\n'}, 10000))
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.Copy(io.Discard, conn)
	conn.Close()
	if code, _ := raw(t, sock, "GET", pathStatus, nil); code != http.StatusOK {
		t.Fatalf("status after garbage: %d", code)
	}
}

func TestProbe(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "none.sock")
	if _, state, err := Probe(missing); state != None || err != nil {
		t.Fatalf("missing socket: %v, %v", state, err)
	}
	if _, err := Dial(missing); !errors.Is(err, ErrNoServer) {
		t.Fatalf("Dial of a missing socket: %v, want ErrNoServer", err)
	}

	// A regular file where the socket should be is not ours to remove.
	plain := filepath.Join(dir, "plain.sock")
	if err := os.WriteFile(plain, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Probe(plain); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("probe of a regular file: %v", err)
	}
	st, err := store.Open(filepath.Join(dir, "j.db"), store.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := Listen(st, Config{Path: plain, Log: zerolog.Nop()}); err == nil {
		t.Fatal("Listen replaced a regular file")
	}
	if b, _ := os.ReadFile(plain); string(b) != "keep me" {
		t.Fatal("the regular file changed")
	}

	// A stale socket: the file of a listener that is gone.
	stale := filepath.Join(dir, "stale.sock")
	makeStale(t, stale)
	if _, state, err := Probe(stale); state != Stale || err != nil {
		t.Fatalf("stale socket: %v, %v", state, err)
	}
	srv, err := Listen(st, Config{Path: stale, DB: "j.db", Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if !srv.ReplacedStale() {
		t.Error("ReplacedStale is false")
	}
	status, state, err := Probe(stale)
	if state != Live || err != nil || status.PID != os.Getpid() {
		t.Fatalf("after Listen: %+v, %v, %v", status, state, err)
	}
	// A second server on a live socket is refused, naming the first.
	_, err = Listen(st, Config{Path: stale, Log: zerolog.Nop()})
	var running *RunningError
	if !errors.As(err, &running) || running.Status.PID != os.Getpid() || !strings.Contains(err.Error(), "already served") {
		t.Fatalf("second Listen: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket left after Close: %v", err)
	}
}

// makeStale leaves a socket file nobody listens on, as a crash does.
func makeStale(t *testing.T, path string) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
}

// TestTorrentsNameModeAndSource pins the API's shape: modes and sources by
// name, as `stats --json` prints them, not as their stored numbers.
func TestTorrentsNameModeAndSource(t *testing.T) {
	st, _, sock := serve(t)
	if _, err := st.Register([]store.Torrent{{InfoHash: hash(5), Name: "five", Mode: modes.Small, Source: store.SourceImport}}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{pathTorrents, pathTorrents + "/" + strings.Repeat("05", 20)} {
		code, body := raw(t, sock, "GET", path, http.NoBody)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
		for _, want := range []string{`"mode":"small"`, `"source":"import"`} {
			if !strings.Contains(body, want) {
				t.Errorf("GET %s lacks %s:\n%s", path, want, body)
			}
		}
	}
}

func TestWireRoundTrip(t *testing.T) {
	in := store.Torrent{
		InfoHash: hash(3), Alias: hash(4), HasAlias: true, Name: "ünï", Size: 1 << 40, Private: true,
		Mode: modes.Surge, Source: store.SourceDir, Origin: "/o", Added: time.Unix(100, 0).UTC(),
		LastActive: time.Unix(200, 0).UTC(), Completed: 7, Seeders: 2, Leechers: 3,
	}
	w := toWire(&in)
	out, err := w.toStore()
	if err != nil {
		t.Fatal(err)
	}
	if !out.Added.Equal(in.Added) || !out.LastActive.Equal(in.LastActive) {
		t.Fatalf("times %v %v", out.Added, out.LastActive)
	}
	out.Added, out.LastActive, in.Added, in.LastActive = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if out != in {
		t.Fatalf("round trip\n got %+v\nwant %+v", out, in)
	}
}
