package migrate

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"go.etcd.io/bbolt"
)

// Bucket names of a johnlocke database, from schema 1 on unless said.
var (
	BucketMeta     = []byte("meta")     // schema version, tracker secrets
	BucketTorrents = []byte("torrents") // infohash -> torrent record
	BucketSwarms   = []byte("swarms")   // infohash -> packed peers of modes that persist them
	// BucketBanned (schema 2 on) is the deny list: infohash -> when and
	// why it was banned. No registration brings a banned infohash back.
	BucketBanned = []byte("banned")
)

// KeySchema is the key in BucketMeta holding the schema version as a
// big-endian uint32.
var KeySchema = []byte("schema")

// Current is the schema version this build writes.
const Current = 2

// schemaLen is the length of the value stored under KeySchema.
const schemaLen = 4

// The sentinels below name the kind of problem; the errors returned wrap
// them with the file, the versions involved and what the operator should do.
var (
	// ErrTooNew means the file's schema is newer than Current: a newer
	// johnlocke wrote it.
	ErrTooNew = errors.New("database was written by a newer johnlocke")

	// ErrNotJohnlocke means the file has buckets but no johnlocke meta
	// bucket or schema key: it is some other program's bbolt file.
	ErrNotJohnlocke = errors.New("not a johnlocke database")

	// ErrCorrupt means the file is damaged: bbolt cannot read it, or the
	// schema value is malformed.
	ErrCorrupt = errors.New("database is corrupt")

	// ErrNeedsMigration means the file's schema is older than Current (or
	// the file is new and empty) and `johnlocke migrate` must run first.
	ErrNeedsMigration = errors.New("database schema is out of date")
)

// Version reads the schema version in a read transaction: 0 for a file with
// no buckets at all (brand new), the stored number otherwise. A file with
// buckets but no meta bucket or no schema key yields ErrNotJohnlocke; a
// malformed schema value yields ErrCorrupt.
func Version(tx *bbolt.Tx) (int, error) {
	path := tx.DB().Path()
	meta := tx.Bucket(BucketMeta)
	if meta == nil {
		if first, _ := tx.Cursor().First(); first == nil {
			return 0, nil
		}
		return 0, fmt.Errorf("%w: %s has buckets but no %q bucket; check that --db points at a johnlocke database",
			ErrNotJohnlocke, path, BucketMeta)
	}
	key, raw := meta.Cursor().Seek(KeySchema)
	switch {
	case !bytes.Equal(key, KeySchema):
		return 0, fmt.Errorf("%w: %s has a %q bucket but no %q key in it; check that --db points at a johnlocke database",
			ErrNotJohnlocke, path, BucketMeta, KeySchema)
	case raw == nil:
		return 0, fmt.Errorf("%w: %s: %s/%s is a bucket, not a version number; restore the file from a backup",
			ErrCorrupt, path, BucketMeta, KeySchema)
	case len(raw) != schemaLen:
		return 0, fmt.Errorf("%w: %s: %s/%s is %d bytes, want %d; restore the file from a backup",
			ErrCorrupt, path, BucketMeta, KeySchema, len(raw), schemaLen)
	}
	v := binary.BigEndian.Uint32(raw)
	// No step ever records 0 (step 0 records 1), and a number that does not
	// fit an int32 is no plausible schema: both are damage, not "too new".
	if v == 0 || v > math.MaxInt32 {
		return 0, fmt.Errorf("%w: %s: schema version %d is out of range; restore the file from a backup",
			ErrCorrupt, path, v)
	}
	return int(v), nil
}

// putSchema records version v in BucketMeta, which must exist.
func putSchema(tx *bbolt.Tx, v int) error {
	meta := tx.Bucket(BucketMeta)
	if meta == nil {
		return fmt.Errorf("recording schema %d: no %q bucket", v, BucketMeta)
	}
	var raw [schemaLen]byte
	binary.BigEndian.PutUint32(raw[:], uint32(v))
	return meta.Put(KeySchema, raw[:])
}

// Pending returns the steps a file at version v still needs (empty when
// current), or ErrTooNew wrapped with both numbers when v > Current.
func Pending(v int) ([]Step, error) {
	return pending(v, "")
}

// pending is Pending naming the file, when known, in its errors.
func pending(v int, path string) ([]Step, error) {
	file := "the file"
	if path != "" {
		file = path
	}
	switch {
	case v < 0:
		return nil, fmt.Errorf("%w: %s has negative schema version %d", ErrCorrupt, file, v)
	case v > Current:
		return nil, fmt.Errorf("%w: %s has schema %d, this johnlocke supports up to %d; upgrade johnlocke, or use the newer binary that wrote the file",
			ErrTooNew, file, v, Current)
	}
	return Steps()[v:], nil
}

// Up brings db to Current, running each pending step in its own Update
// transaction that also bumps the schema number, so a crash between steps
// leaves a consistent file at an intermediate version. It returns the steps
// it applied, including on error the ones that committed before it. A db
// that is already current is not written to at all.
func Up(db *bbolt.DB) ([]Step, error) {
	var todo []Step
	err := db.View(func(tx *bbolt.Tx) error {
		v, err := Version(tx)
		if err != nil {
			return err
		}
		todo, err = pending(v, db.Path())
		return err
	})
	if err != nil {
		return nil, err
	}
	applied := make([]Step, 0, len(todo))
	for _, s := range todo {
		err := db.Update(func(tx *bbolt.Tx) error {
			// Another process cannot interleave (bbolt holds an exclusive
			// lock on a read-write file), but another goroutine sharing db
			// could have run Up too: never apply a step twice.
			v, err := Version(tx)
			if err != nil {
				return err
			}
			if v != s.From {
				return fmt.Errorf("schema is %d, want %d: was migrate run twice at once?", v, s.From)
			}
			if err := s.Apply(tx); err != nil {
				return err
			}
			return putSchema(tx, s.From+1)
		})
		if err != nil {
			return applied, fmt.Errorf("migrating %s from schema %d to %d (%s): %w",
				db.Path(), s.From, s.From+1, s.Description, err)
		}
		applied = append(applied, s)
	}
	return applied, nil
}

// Check returns nil when db is at Current, or an error wrapping
// ErrNeedsMigration (with both versions and the advice to run `johnlocke
// migrate`), ErrTooNew, ErrNotJohnlocke or ErrCorrupt. It only reads.
func Check(db *bbolt.DB) error {
	return db.View(func(tx *bbolt.Tx) error {
		v, err := Version(tx)
		if err != nil {
			return err
		}
		todo, err := pending(v, db.Path())
		switch {
		case err != nil:
			return err
		case len(todo) == 0:
			return nil
		case v == 0:
			return fmt.Errorf("%w: %s is a new, empty database; run `johnlocke migrate` to initialise it",
				ErrNeedsMigration, db.Path())
		}
		return fmt.Errorf("%w: %s has schema %d, this johnlocke needs %d; back the file up, then run `johnlocke migrate`",
			ErrNeedsMigration, db.Path(), v, Current)
	})
}
