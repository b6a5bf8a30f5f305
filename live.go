package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"johnlocke/modes"
	"johnlocke/store"
	"johnlocke/store/admin"
)

// registry is what import, stats and purge work on: the running server
// through its admin socket, or the database file when no server holds it.
// Both give the same values, so store/report prints the same either way,
// and both return errors already marked with their exit code.
type registry interface {
	Register(ts []store.Torrent) ([]store.RegisterResult, error)
	Torrent(hash [20]byte) (store.Torrent, bool, error)
	Torrents(fn func(*store.Torrent) error) error
	Purge(o store.PurgeOptions) (store.PurgeReport, error)
	Close() error
}

// adminPath is the admin socket of the database: --admin, or the
// database's path with ".sock" appended.
func adminPath(c *cli.Context) string {
	if p := globalString(c, "admin"); p != "" {
		return p
	}
	return globalString(c, "db") + ".sock"
}

// openRegistry reaches the server that holds the database, or, when none
// answers on the admin socket, opens the file (read-only when readOnly).
func openRegistry(c *cli.Context, readOnly bool) (registry, error) {
	cl, err := liveServer(c)
	if err != nil {
		return nil, err
	}
	if cl != nil {
		return liveRegistry{cl}, nil
	}
	db, err := store.OpenDB(globalString(c, "db"), readOnly)
	if err != nil {
		return nil, dbError(err)
	}
	return fileRegistry{db: db, now: time.Now(), timeout: modes.DefaultTiming(modes.Large).PeerTimeout}, nil
}

// liveServer returns a client of the server holding the database, or nil
// when no server answers on its admin socket.
func liveServer(c *cli.Context) (*admin.Client, error) {
	db, sock := globalString(c, "db"), adminPath(c)
	cl, err := admin.Dial(sock)
	switch {
	case errors.Is(err, admin.ErrNoServer):
		return nil, nil
	case err != nil:
		return nil, dbError(err)
	}
	if st := cl.Status(); !sameFile(st.DB, db) {
		cl.Close()
		return nil, dbError(fmt.Errorf("admin socket %s belongs to johnlocke pid %d serving %s, not %s; check --db and --admin",
			sock, st.PID, st.DB, db))
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
type liveRegistry struct{ cl *admin.Client }

// liveError gives a server's answer its exit code: the server's store
// failing is a database problem (3), like the same failure on the file; a
// request it refused, or a socket that stopped answering, is a failure (1).
func liveError(err error) error {
	if err == nil {
		return nil
	}
	var re *admin.RemoteError
	if errors.As(err, &re) && re.Code >= 500 {
		return dbError(err)
	}
	return &exitError{code: exitFailed, err: err}
}

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

func (r fileRegistry) Close() error { return dbError(r.db.Close()) }
