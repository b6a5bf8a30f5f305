package migrate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"syscall"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// ErrLocked means another process holds the database file's lock.
var ErrLocked = errors.New("database is locked")

// ErrNoDatabase means the database file does not exist and the caller did
// not ask to create one. errors.Is(ErrNoDatabase, fs.ErrNotExist) holds.
var ErrNoDatabase error = noDatabase{}

type noDatabase struct{}

func (noDatabase) Error() string        { return "no database" }
func (noDatabase) Is(target error) bool { return target == fs.ErrNotExist }

// defaultTimeout is how long Open waits for the file lock when the caller
// passes no positive timeout: bbolt would otherwise wait forever.
const defaultTimeout = time.Second

// fileMode is the mode of a database Open creates: it holds tracker secrets.
const fileMode = 0o600

// Options says how OpenWith opens a database.
type Options struct {
	// ReadOnly opens the file without taking the write lock.
	ReadOnly bool
	// Create creates a missing file (read-write only). Without it a missing
	// file is ErrNoDatabase: a typo in --db must not pass silently as a
	// new, empty database.
	Create bool
	// Timeout is how long to wait for the file lock (a default when <= 0).
	Timeout time.Duration
}

// Open is OpenWith creating a missing file exactly when the open is
// read-write.
func Open(path string, readOnly bool, timeout time.Duration) (*bbolt.DB, error) {
	db, _, err := OpenWith(path, Options{ReadOnly: readOnly, Create: !readOnly, Timeout: timeout})
	return db, err
}

// OpenWith opens path with bbolt, read-only when o.ReadOnly, waiting at most
// o.Timeout (a default when <= 0) for the file lock; created tells that
// it made a new file. It turns bbolt's errors into messages an operator can
// act on:
//   - the lock is held: ErrLocked, naming the file and asking whether
//     `johnlocke serve` is running;
//   - the file is not a readable bbolt file (bad meta pages, checksum or
//     version mismatch, truncated, garbage): ErrCorrupt, naming the file
//     and suggesting restoring a backup;
//   - the file does not exist and o.Create is unset (or o.ReadOnly is set):
//     ErrNoDatabase, naming the file; nothing is created;
//   - readOnly and the file is empty: ErrNeedsMigration.
//
// With o.Create, a missing file is created (empty, at schema 0: Up
// initialises it). OpenWith does not look at the schema: callers follow it
// with Check or Up.
func OpenWith(path string, o Options) (db *bbolt.DB, created bool, err error) {
	readOnly, timeout := o.ReadOnly, o.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	fi, err := os.Stat(path)
	missing := errors.Is(err, fs.ErrNotExist)
	switch {
	case missing && (readOnly || !o.Create):
		return nil, false, fmt.Errorf("%w at %s (`johnlocke serve` or `johnlocke import` creates one; check --db)",
			ErrNoDatabase, path)
	case missing:
		// bbolt creates it below.
	case err != nil:
		return nil, false, fmt.Errorf("opening database: %w", err)
	case fi.IsDir():
		return nil, false, fmt.Errorf("database %s is a directory; --db must name a file", path)
	case !fi.Mode().IsRegular():
		return nil, false, fmt.Errorf("database %s is not a regular file", path)
	case fi.Size() == 0 && readOnly:
		// bbolt would try to initialise it and fail with "bad file
		// descriptor" on the read-only handle.
		return nil, false, fmt.Errorf("%w: %s is an empty file; run `johnlocke migrate` to initialise it, or restore a backup if it should hold data",
			ErrNeedsMigration, path)
	}
	existing := err == nil && fi.Size() > 0

	if existing {
		// Vet an existing file read-only first. A read-only open loads no
		// freelist, so it reaches the size check below on a truncated file
		// where a read-write open would already have crashed inside bbolt.
		db, err := openBolt(path, true, timeout)
		if err != nil {
			return nil, false, openError(path, err, true, timeout)
		}
		if err := checkSize(db); err != nil {
			_ = db.Close()
			return nil, false, err
		}
		if readOnly {
			return db, false, nil
		}
		if err := db.Close(); err != nil {
			return nil, false, fmt.Errorf("opening database %s: %w", path, err)
		}
	}
	db, err = openBolt(path, readOnly, timeout)
	if err != nil {
		return nil, false, openError(path, err, existing, timeout)
	}
	return db, missing, nil
}

// errPanic marks an error made from a panic inside bbolt.
var errPanic = errors.New("bbolt panicked")

// openBolt calls bbolt.Open, turning a panic into an error.
//
// bbolt validates only the meta pages when it opens a file. On a damaged
// file whose meta pages look fine (a truncated copy, say) it then reads
// pages that are not there: it panics on its own assertions ("invalid
// freelist page"), and touching mmapped memory past the end of the file
// raises SIGBUS, which Go makes a fatal, unrecoverable error unless
// debug.SetPanicOnFault is on for the goroutine. An operator pointing --db
// at a bad file must get a message, not a stack trace, so both become
// errors here. The cost: a DB that panicked half-way through Open leaks its
// file descriptor, lock and mapping until the process exits, which for a
// command reporting the error and exiting is harmless.
func openBolt(path string, readOnly bool, timeout time.Duration) (db *bbolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("%w: %v", errPanic, r)
		}
	}()
	return bbolt.Open(path, fileMode, &bbolt.Options{Timeout: timeout, ReadOnly: readOnly})
}

// openError explains an error from openBolt; existing says path was a
// non-empty file before the open.
func openError(path string, err error, existing bool, timeout time.Duration) error {
	var pathErr *fs.PathError
	var errno syscall.Errno
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("%w: %s is held by another process (waited %v; is `johnlocke serve` running?)",
			ErrLocked, path, timeout)
	case errors.Is(err, berrors.ErrInvalid),
		errors.Is(err, berrors.ErrVersionMismatch),
		errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, errPanic):
		return corrupt(path, err)
	case errors.As(err, &pathErr), errors.As(err, &errno):
		// The operating system refused (permission denied, out of memory
		// for the mapping, ...): that says nothing about the file's
		// contents, and advising a restore would mislead.
		return fmt.Errorf("opening database %s: %w", path, err)
	case existing:
		// Anything else bbolt says about a file that had data ("file
		// size too small", ...) is about its contents.
		return corrupt(path, err)
	}
	return fmt.Errorf("opening database %s: %w", path, err)
}

// corrupt wraps ErrCorrupt and bbolt's own error.
func corrupt(path string, err error) error {
	return fmt.Errorf("%w: %s cannot be read as a bbolt file (%w); restore it from a backup",
		ErrCorrupt, path, err)
}

// checkSize rejects a file shorter than its own meta page says it is, as a
// truncated copy is: bbolt would crash reading the missing pages later.
func checkSize(db *bbolt.DB) (err error) {
	fi, err := os.Stat(db.Path())
	if err != nil {
		return fmt.Errorf("opening database: %w", err)
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = corrupt(db.Path(), fmt.Errorf("%w: %v", errPanic, r))
		}
	}()
	return db.View(func(tx *bbolt.Tx) error {
		if want := tx.Size(); want > fi.Size() {
			return fmt.Errorf("%w: %s is %d bytes but its meta page says %d; it was truncated, restore it from a backup",
				ErrCorrupt, db.Path(), fi.Size(), want)
		}
		return nil
	})
}
