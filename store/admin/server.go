package admin

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"johnlocke/migrate"
	"johnlocke/store"
	"johnlocke/store/clusterview"
)

// Limits of the admin server. The socket is local and 0600, so its clients
// are the operator's own commands; the limits are there so that a bug, a
// stray `curl` or `socat` cannot pin memory or goroutines.
const (
	// maxRegisterBody bounds a register request: maxRegisterBatch torrents
	// whose names and origins the store truncates to 4 KiB anyway, with
	// room for JSON escaping.
	maxRegisterBody = 64 << 20
	// maxRegisterBatch is the most torrents one register request may carry.
	maxRegisterBatch = 4096
	// maxSmallBody bounds every other request body (purge's few fields).
	maxSmallBody = 4 << 10
	// maxHeaderBytes bounds a request head; ours are a few hundred bytes.
	maxHeaderBytes = 16 << 10
	// readHeaderTimeout and readTimeout bound a slow or silent client.
	readHeaderTimeout = 5 * time.Second
	readTimeout       = time.Minute
	// writeTimeout bounds one answer, long enough for a purge of a large
	// file or a register batch; the torrent stream extends it as it goes.
	writeTimeout = 10 * time.Minute
	// streamStall is how long the torrent stream waits for a reader that
	// stopped reading, while it holds a read transaction open.
	streamStall = 30 * time.Second
	// idleTimeout closes kept-alive connections nobody uses.
	idleTimeout = 30 * time.Second
	// maxConns bounds concurrent connections; the CLI uses one.
	maxConns = 32
	// socketMode: only the user running the server may connect.
	socketMode = 0o600
	// maxSocketPath is the longest path a Unix socket address holds
	// (sun_path is 108 bytes on Linux, with a terminating NUL).
	maxSocketPath = 107
)

// Config configures the admin server.
type Config struct {
	// Path is the socket's path.
	Path string
	// DB is the database path reported by the status endpoint; clients
	// check it is the file they were asked about.
	DB      string
	Version string
	// Started is when the process started; zero means now.
	Started time.Time
	Log     zerolog.Logger
	// Cluster reads the cluster figures /v1/status reports; nil without
	// cluster mode.
	Cluster *clusterview.Tracker
}

// Server answers on the admin socket for a running store.
type Server struct {
	st    *store.Store
	cfg   Config
	ln    net.Listener
	hs    *http.Server
	done  chan struct{}
	stale bool
}

// RunningError says another server already answers on the socket.
type RunningError struct {
	Socket string
	Status Status
}

func (e *RunningError) Error() string {
	return fmt.Sprintf("database %s is already served by johnlocke (pid %d, started %s, admin socket %s); stop it first",
		e.Status.DB, e.Status.PID, e.Status.Started.Local().Format(time.DateTime), e.Socket)
}

// Listen claims the socket at cfg.Path and serves st on it until Shutdown
// or Close. A stale socket (a socket file nobody answers on, left by a
// crash) is replaced; a live one yields a *RunningError naming its server;
// a path that is not a socket is left alone and refused.
//
// The caller should Probe the socket before opening the database (so a
// second serve reports the running one, not a lock timeout) and call Listen
// once it holds the database, which makes replacing a stale socket safe:
// no other server of that database can be starting at the same time.
func Listen(st *store.Store, cfg Config) (*Server, error) {
	if cfg.Started.IsZero() {
		cfg.Started = time.Now()
	}
	s := &Server{st: st, cfg: cfg, done: make(chan struct{})}
	status, state, err := Probe(cfg.Path)
	switch {
	case err != nil:
		return nil, err
	case state == Live:
		return nil, &RunningError{Socket: cfg.Path, Status: status}
	case state == Stale:
		if err := os.Remove(cfg.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("admin socket %s: removing a stale socket: %w", cfg.Path, err)
		}
		s.stale = true
	}
	ln, err := listenPrivate(cfg.Path)
	if err != nil {
		return nil, err
	}
	s.ln = &limitListener{Listener: ln, sem: make(chan struct{}, maxConns)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+pathStatus, s.handleStatus)
	mux.HandleFunc("POST "+pathRegister, s.handleRegister)
	mux.HandleFunc("GET "+pathTorrents, s.handleTorrents)
	mux.HandleFunc("GET "+pathTorrents+"/{hash}", s.handleTorrent)
	mux.HandleFunc("POST "+pathPurge, s.handlePurge)
	s.routeBanlist(mux)
	errLog := cfg.Log.With().Str("component", "admin").Logger()
	s.hs = &http.Server{
		Handler:           s.recoverer(mux),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          log.New(errLog, "", 0),
	}
	go func() {
		defer close(s.done)
		if err := s.hs.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Log.Error().Err(err).Str("socket", cfg.Path).Msg("admin socket stopped")
		}
	}()
	return s, nil
}

// listenPrivate creates the socket with mode 0600 from the start: the umask
// is narrowed around bind, so no other user can connect in the moment
// between bind and chmod. A socket file that exists makes it fail
// (EADDRINUSE) instead of replacing it.
func listenPrivate(path string) (net.Listener, error) {
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("admin socket path %s is %d bytes, longer than the %d a Unix socket allows; choose a shorter one with --admin",
			path, len(path), maxSocketPath)
	}
	old := syscall.Umask(0o777 &^ socketMode)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	if err := os.Chmod(path, socketMode); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	return ln, nil
}

// ReplacedStale reports whether Listen removed a stale socket.
func (s *Server) ReplacedStale() bool { return s.stale }

// Path returns the socket's path.
func (s *Server) Path() string { return s.cfg.Path }

// Shutdown stops accepting, waits for requests in flight (until ctx is
// done, then cuts them off) and removes the socket file. The store is not
// touched afterwards, so the caller may close it.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.hs.Shutdown(ctx)
	if err != nil {
		_ = s.hs.Close()
	}
	<-s.done
	return err
}

// Close stops at once and removes the socket file.
func (s *Server) Close() error {
	err := s.hs.Close()
	<-s.done
	return err
}

func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.cfg.Log.Error().Str("path", r.URL.Path).Interface("panic", v).Msg("admin request panicked")
				writeError(w, http.StatusInternalServerError, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func (s *Server) handleStatus(w http.ResponseWriter, _ *http.Request) {
	torrents, peers := s.st.Counts()
	var cluster *clusterview.View
	if s.cfg.Cluster != nil {
		v := s.cfg.Cluster.View()
		cluster = &v
	}
	writeJSON(w, http.StatusOK, Status{
		Cluster:  cluster,
		PID:      os.Getpid(),
		DB:       s.cfg.DB,
		Socket:   s.cfg.Path,
		Started:  s.cfg.Started,
		Version:  s.cfg.Version,
		Schema:   migrate.Current,
		Mode:     s.st.Mode().String(),
		Torrents: torrents,
		Peers:    peers,
	})
}

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	wts, err := decodeRegister(http.MaxBytesReader(w, r.Body, maxRegisterBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", int64(maxRegisterBody)))
		return
	case errors.Is(err, errTooManyTorrents):
		writeError(w, http.StatusRequestEntityTooLarge, err.Error())
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "request body: "+err.Error())
		return
	}
	ts := make([]store.Torrent, len(wts))
	for i := range wts {
		t, err := wts[i].toStore()
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("torrent %d: %v", i, err))
			return
		}
		// Counters and live figures belong to the server, not the client.
		t.Completed, t.LastActive, t.Seeders, t.Leechers = 0, time.Time{}, 0, 0
		ts[i] = t
	}
	results, err := s.st.Register(ts)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	resp := registerResponse{Results: make([]wireResult, len(results))}
	for i, res := range results {
		resp.Results[i] = wireResult{InfoHash: hex.EncodeToString(res.InfoHash[:]), Added: res.Added, ModeChanged: res.ModeChanged, Banned: res.Banned}
	}
	s.cfg.Log.Info().Int("torrents", len(ts)).Msg("admin: registered torrents")
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handleTorrent(w http.ResponseWriter, r *http.Request) {
	hash, err := parseHex(r.PathValue("hash"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "infohash: "+err.Error())
		return
	}
	t, ok, err := s.st.Torrent(hash)
	switch {
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
	case !ok:
		writeError(w, http.StatusNotFound, fmt.Sprintf("torrent %x is not registered", hash))
	default:
		writeJSON(w, http.StatusOK, toWire(&t))
	}
}

// handleTorrents streams every torrent as one JSON object a line, closed by
// an end (or error) line, so the server never builds the whole registry in
// memory and the client can tell a complete answer from a cut one.
func (s *Server) handleTorrents(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	n := 0
	err := s.st.Torrents(func(t *store.Torrent) error {
		if n%1024 == 0 {
			// The stream holds a read transaction: a reader that stops
			// reading must not hold it (and the flusher's file growth)
			// for the whole writeTimeout.
			_ = rc.SetWriteDeadline(time.Now().Add(streamStall))
		}
		n++
		wt := toWire(t)
		return enc.Encode(streamItem{Torrent: &wt})
	})
	if err != nil {
		_ = enc.Encode(streamItem{Error: err.Error()})
		return
	}
	_ = enc.Encode(streamItem{End: true, Count: n})
}

func (s *Server) handlePurge(w http.ResponseWriter, r *http.Request) {
	var req purgeRequest
	if !decodeBody(w, r, maxSmallBody, &req) {
		return
	}
	if req.OlderThan < 0 {
		writeError(w, http.StatusBadRequest, "older_than must not be negative")
		return
	}
	rep, err := s.st.Purge(store.PurgeOptions{OlderThan: req.OlderThan, DryRun: req.DryRun})
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	resp := purgeResponse{Torrents: make([]string, len(rep.Torrents)), Peers: rep.Peers, SwarmsDropped: rep.SwarmsDropped}
	for i, h := range rep.Torrents {
		resp.Torrents[i] = hex.EncodeToString(h[:])
	}
	for _, k := range rep.Kept {
		resp.Kept = append(resp.Kept, wireKept{InfoHash: hex.EncodeToString(k.InfoHash[:]), Reason: k.Reason})
	}
	if !req.DryRun {
		s.cfg.Log.Info().Int("torrents", len(rep.Torrents)).Int("peers", rep.Peers).
			Int("swarms", rep.SwarmsDropped).Msg("admin: purged")
	}
	writeJSON(w, http.StatusOK, resp)
}

// decodeBody reads one JSON value of at most limit bytes into v, answering
// the client itself when it cannot.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	err := dec.Decode(v)
	if err == nil {
		// More would miss a stray closing bracket; only the end will do.
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("trailing data after the JSON value")
		}
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", limit))
		return false
	case err != nil:
		writeError(w, http.StatusBadRequest, "request body: "+err.Error())
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}

// limitListener bounds concurrent connections: Accept waits for a slot.
type limitListener struct {
	net.Listener
	sem chan struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
