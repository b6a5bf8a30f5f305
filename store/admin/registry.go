package admin

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"johnlocke/modes"
	"johnlocke/store"
	"johnlocke/store/clusterview"
)

// Registry is what import, stats and purge work on: the running server
// through its admin socket, or the database file when no server holds it.
// Both give the same values, so store/report prints the same either way,
// and both fail with a *RegistryError.
type Registry interface {
	Register(ts []store.Torrent) ([]store.RegisterResult, error)
	Torrent(hash [20]byte) (store.Torrent, bool, error)
	Torrents(fn func(*store.Torrent) error) error
	Purge(o store.PurgeOptions) (store.PurgeReport, error)
	// Info says where the figures come from.
	Info() Info
	Banlist
	Close() error
}

// Info says where a Registry's figures come from, for the operator.
type Info struct {
	// Live is set when a running server answers: seeders, leechers and
	// last activity are its live figures. Unset, they are those of the
	// server's last flush to the file.
	Live bool
	// ServeMode is the mode torrents of mode Default follow: the running
	// server's --mode, or the last server's as recorded in the file.
	// ServeModeKnown is false when no server has run on the file yet.
	ServeMode      modes.Mode
	ServeModeKnown bool
	// Created is set when opening made a new database file.
	Created bool
	// Cluster is the running server's cluster figures, nil when it runs
	// no cluster (or none runs).
	Cluster *clusterview.View
}

// RegistryError is how OpenRegistry, DialServer and a Registry fail. Its
// message is its cause's.
type RegistryError struct {
	// Database is set when the database is at fault: the file could not be
	// opened or read (missing, locked, corrupt, from a newer johnlocke),
	// the server's store failed, or the socket answers for another
	// database. Unset, the server refused the request or the socket
	// stopped answering.
	Database bool
	Err      error
}

// Error returns the cause's message.
func (e *RegistryError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *RegistryError) Unwrap() error { return e.Err }

// dbError marks a failure of the database; nil stays nil.
func dbError(err error) error {
	if err == nil {
		return nil
	}
	return &RegistryError{Database: true, Err: err}
}

// liveError classifies a server's answer: the server's store failing is a
// database problem, like the same failure on the file; a request it
// refused, or a socket that stopped answering, is not. nil stays nil.
func liveError(err error) error {
	if err == nil {
		return nil
	}
	var re *RemoteError
	return &RegistryError{Database: errors.As(err, &re) && re.Code >= 500, Err: err}
}

// SocketPath is the admin socket of the database at dbPath: socketPath
// when set, else dbPath with ".sock" appended, beside the database.
func SocketPath(dbPath, socketPath string) string {
	if socketPath != "" {
		return socketPath
	}
	return dbPath + ".sock"
}

// OpenRegistry reaches the server that serves dbPath on socketPath ("":
// SocketPath's default), or, when none answers there, opens dbPath itself
// as o says (a missing file is an error unless o.Create).
func OpenRegistry(dbPath, socketPath string, o store.OpenOptions) (Registry, error) {
	cl, err := DialServer(dbPath, socketPath)
	if err != nil {
		return nil, err
	}
	if cl != nil {
		info := Info{Live: true, Cluster: cl.Status().Cluster}
		info.ServeMode, err = modes.Parse(cl.Status().Mode)
		info.ServeModeKnown = err == nil && info.ServeMode != modes.Default
		return liveRegistry{cl: cl, info: info}, nil
	}
	db, err := store.OpenDB(dbPath, o)
	if err != nil {
		return nil, dbError(err)
	}
	info := Info{Created: db.Created()}
	if info.ServeMode, info.ServeModeKnown, err = db.ServeMode(); err != nil {
		_ = db.Close()
		return nil, dbError(err)
	}
	return fileRegistry{db: db, info: info, now: time.Now(), timeout: modes.DefaultTiming(modes.Large).PeerTimeout}, nil
}

// DialServer returns a client of the server that serves dbPath on
// socketPath ("": SocketPath's default), or nil when no server answers
// there. A server serving another database is an error.
func DialServer(dbPath, socketPath string) (*Client, error) {
	socketPath = SocketPath(dbPath, socketPath)
	cl, err := Dial(socketPath)
	switch {
	case errors.Is(err, ErrNoServer):
		return nil, nil
	case err != nil:
		return nil, dbError(err)
	}
	if st := cl.Status(); !sameFile(st.DB, dbPath) {
		cl.Close()
		return nil, dbError(fmt.Errorf("admin socket %s belongs to johnlocke pid %d serving %s, not %s; check --db and --admin",
			socketPath, st.PID, st.DB, dbPath))
	}
	return cl, nil
}

// sameFile reports whether two paths name one file (or, when either is
// missing, the same absolute path).
func sameFile(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(fa, fb)
	}
	absA, errA := filepath.Abs(a)
	absB, errB := filepath.Abs(b)
	return errA == nil && errB == nil && absA == absB
}

// liveRegistry goes through the admin socket.
type liveRegistry struct {
	cl   *Client
	info Info
}

func (r liveRegistry) Info() Info { return r.info }

func (r liveRegistry) Register(ts []store.Torrent) ([]store.RegisterResult, error) {
	res, err := r.cl.Register(ts)
	return res, liveError(err)
}

func (r liveRegistry) Torrent(hash [20]byte) (store.Torrent, bool, error) {
	t, ok, err := r.cl.Torrent(hash)
	return t, ok, liveError(err)
}

func (r liveRegistry) Torrents(fn func(*store.Torrent) error) error {
	return liveError(r.cl.Torrents(fn))
}

func (r liveRegistry) Purge(o store.PurgeOptions) (store.PurgeReport, error) {
	rep, err := r.cl.Purge(o)
	return rep, liveError(err)
}

func (r liveRegistry) Close() error { r.cl.Close(); return nil }

// fileRegistry works on the database file; seeders and leechers are those
// of the last flush.
type fileRegistry struct {
	db      *store.DB
	info    Info
	now     time.Time
	timeout time.Duration
}

func (r fileRegistry) Register(ts []store.Torrent) ([]store.RegisterResult, error) {
	res, err := r.db.Register(ts, r.now)
	return res, dbError(err)
}

func (r fileRegistry) Torrent(hash [20]byte) (store.Torrent, bool, error) {
	t, ok, err := r.db.Torrent(hash, r.now, r.timeout)
	return t, ok, dbError(err)
}

func (r fileRegistry) Torrents(fn func(*store.Torrent) error) error {
	return dbError(r.db.Torrents(r.now, r.timeout, fn))
}

func (r fileRegistry) Purge(o store.PurgeOptions) (store.PurgeReport, error) {
	if o.Now.IsZero() {
		o.Now = r.now
	}
	if o.PeerTimeout <= 0 {
		o.PeerTimeout = r.timeout
	}
	rep, err := r.db.Purge(o)
	return rep, dbError(err)
}

func (r fileRegistry) Info() Info { return r.info }

func (r fileRegistry) Close() error { return dbError(r.db.Close()) }
