package admin

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rs/zerolog"

	"johnlocke/modes"
	"johnlocke/store"
)

// fakeEnv names the socket TestFakeServerProcess serves on; fakeDBEnv the
// database it claims to serve.
const (
	fakeEnv   = "JOHNLOCKE_TEST_FAKE_ADMIN"
	fakeDBEnv = "JOHNLOCKE_TEST_FAKE_ADMIN_DB"
	// nobody is the uid and gid the fake server runs as.
	nobody = 65534
)

// TestFakeServerProcess is not a test: run by TestUntrustedSocket in a
// child process as another user, it plays a planted admin server that
// answers like johnlocke and claims every torrent was added.
func TestFakeServerProcess(t *testing.T) {
	sock := os.Getenv(fakeEnv)
	if sock == "" {
		t.Skip("only runs as TestUntrustedSocket's child")
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	if err := os.Chmod(sock, 0o777); err != nil {
		fmt.Println("chmod:", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+pathStatus, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, Status{PID: os.Getpid(), DB: os.Getenv(fakeDBEnv), Socket: sock, Version: "fake"})
	})
	mux.HandleFunc("POST "+pathRegister, func(w http.ResponseWriter, r *http.Request) {
		var req registerRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		resp := registerResponse{}
		for _, wt := range req.Torrents {
			resp.Results = append(resp.Results, wireResult{InfoHash: wt.InfoHash, Added: true})
		}
		writeJSON(w, http.StatusOK, resp)
	})
	fmt.Println("ready")
	_ = http.Serve(ln, mux)
	os.Exit(0)
}

// TestUntrustedSocket plants a fake server, run by another user, at the
// database's socket path, in a directory anyone may write. The client must
// refuse it and say why, instead of reporting imports it never stored; a
// server must refuse to start beside it; a server of the client's own user
// still works.
func TestUntrustedSocket(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run the fake server as another user")
	}
	// A world-writable directory, as a careless deployment might have,
	// holding a copy of this test binary the other user may run.
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	shared := filepath.Join(dir, "shared")
	if err := os.Mkdir(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "admin.test")
	copyFile(t, self, bin, 0o755)

	db := filepath.Join(shared, "j.db")
	sock := db + ".sock"
	cmd := exec.Command(bin, "-test.run=^TestFakeServerProcess$")
	cmd.Env = append(os.Environ(), fakeEnv+"="+sock, fakeDBEnv+"="+db)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("fake server: %q, %v", line, err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()

	// The client refuses, naming the server's user and its own.
	_, err = Dial(sock)
	var untrusted *UntrustedError
	if !errors.As(err, &untrusted) || untrusted.PeerUID != nobody || untrusted.PeerPID != cmd.Process.Pid {
		t.Fatalf("Dial of a socket served by uid %d: %v; want an *UntrustedError naming uid %d pid %d", nobody, err, nobody, cmd.Process.Pid)
	}
	for _, want := range []string{sock, "uid 65534", "SO_PEERCRED", "neither this user (uid 0) nor root"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, _, err := Probe(sock); !errors.As(err, &untrusted) {
		t.Errorf("Probe: %v, want an *UntrustedError", err)
	}

	// import's path: the registry refuses instead of "adding" through the
	// fake, and the database was not created behind its back either.
	if reg, err := OpenRegistry(db, "", store.OpenOptions{Create: true}); !errors.As(err, &untrusted) {
		if reg != nil {
			reg.Close()
		}
		t.Fatalf("OpenRegistry beside a fake server: %v, want an *UntrustedError", err)
	}

	// serve's path: Listen refuses with the same reason.
	st, err := store.Open(filepath.Join(dir, "own.db"), store.Config{Mode: modes.Large})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if srv, err := Listen(st, Config{Path: sock, DB: db, Log: zerolog.Nop()}); !errors.As(err, &untrusted) {
		if srv != nil {
			srv.Close()
		}
		t.Fatalf("Listen beside a fake server: %v, want an *UntrustedError", err)
	}

	// A server run by this user (root here) is trusted.
	own := filepath.Join(dir, "own.db.sock")
	srv, err := Listen(st, Config{Path: own, DB: filepath.Join(dir, "own.db"), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := dial(t, own)
	if c.Status().PID != os.Getpid() {
		t.Fatalf("own server's status %+v", c.Status())
	}
	if _, err := c.Register([]store.Torrent{{InfoHash: hash(5), Name: "five"}}); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
