package migrate_test

import (
	"encoding/binary"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.etcd.io/bbolt"

	"johnlocke/migrate"
)

// version reads db's schema version.
func version(t *testing.T, db *bbolt.DB) (int, error) {
	t.Helper()
	var v int
	err := db.View(func(tx *bbolt.Tx) error {
		var err error
		v, err = migrate.Version(tx)
		return err
	})
	return v, err
}

// schemaValue encodes v the way KeySchema holds it.
func schemaValue(v uint32) []byte {
	return binary.BigEndian.AppendUint32(nil, v)
}

func TestStepsAreOrdered(t *testing.T) {
	s := migrate.Steps()
	if len(s) != migrate.Current {
		t.Fatalf("%d steps, want Current = %d", len(s), migrate.Current)
	}
	for i, step := range s {
		if step.From != i {
			t.Errorf("step %d has From %d", i, step.From)
		}
		if step.Description == "" || step.Apply == nil {
			t.Errorf("step %d lacks a description or an Apply", i)
		}
	}
	s[0].From = 99
	if migrate.Steps()[0].From != 0 {
		t.Error("Steps returned the package's own slice")
	}
}

func TestPending(t *testing.T) {
	for v := 0; v <= migrate.Current; v++ {
		got, err := migrate.Pending(v)
		if err != nil {
			t.Fatalf("Pending(%d): %v", v, err)
		}
		if len(got) != migrate.Current-v {
			t.Fatalf("Pending(%d) = %d steps, want %d", v, len(got), migrate.Current-v)
		}
		for i, s := range got {
			if s.From != v+i {
				t.Errorf("Pending(%d)[%d].From = %d", v, i, s.From)
			}
		}
	}
	tooNew := migrate.Current + 2
	_, err := migrate.Pending(tooNew)
	if !errors.Is(err, migrate.ErrTooNew) {
		t.Fatalf("Pending(%d) = %v, want ErrTooNew", tooNew, err)
	}
	for _, want := range []string{strconv.Itoa(tooNew), strconv.Itoa(migrate.Current), "upgrade johnlocke"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := migrate.Pending(-1); err == nil {
		t.Error("Pending(-1) succeeded")
	}
}

func TestUpNewFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	db, err := migrate.Open(path, false, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	closeDB(t, db)

	if v, err := version(t, db); err != nil || v != 0 {
		t.Fatalf("new file: Version = %d, %v; want 0", v, err)
	}
	if err := migrate.Check(db); !errors.Is(err, migrate.ErrNeedsMigration) || !strings.Contains(err.Error(), "johnlocke migrate") {
		t.Fatalf("Check on a new file = %v, want ErrNeedsMigration telling to run johnlocke migrate", err)
	}

	applied, err := migrate.Up(db)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != migrate.Current || applied[0].From != 0 {
		t.Fatalf("Up applied %+v, want all %d steps from 0", applied, migrate.Current)
	}
	if v, err := version(t, db); err != nil || v != migrate.Current {
		t.Fatalf("after Up: Version = %d, %v; want %d", v, err, migrate.Current)
	}
	if err := db.View(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{migrate.BucketMeta, migrate.BucketTorrents, migrate.BucketSwarms} {
			if tx.Bucket(name) == nil {
				t.Errorf("bucket %q missing", name)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := migrate.Check(db); err != nil {
		t.Fatalf("Check after Up: %v", err)
	}

	// Up on a current file must not write: no new transaction, same bytes.
	id, before := txID(t, db), readBytes(t, path)
	applied, err = migrate.Up(db)
	if err != nil || len(applied) != 0 {
		t.Fatalf("second Up = %+v, %v; want nothing applied", applied, err)
	}
	if got := txID(t, db); got != id {
		t.Errorf("second Up committed: tx id %d -> %d", id, got)
	}
	sameBytes(t, path, before)
}

func TestUpTooNew(t *testing.T) {
	for _, readOnly := range []bool{false, true} {
		t.Run("readOnly="+strconv.FormatBool(readOnly), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "newer.db")
			tooNew := migrate.Current + 2
			makeBolt(t, path, func(tx *bbolt.Tx) error {
				meta, err := tx.CreateBucket(migrate.BucketMeta)
				if err != nil {
					return err
				}
				if _, err := tx.CreateBucket([]byte("something-added-later")); err != nil {
					return err
				}
				return meta.Put(migrate.KeySchema, schemaValue(uint32(tooNew)))
			})
			before := readBytes(t, path)

			db, err := migrate.Open(path, readOnly, testTimeout)
			if err != nil {
				t.Fatal(err)
			}
			if v, err := version(t, db); err != nil || v != tooNew {
				t.Errorf("Version = %d, %v; want %d", v, err, tooNew)
			}
			if err := migrate.Check(db); !errors.Is(err, migrate.ErrTooNew) {
				t.Errorf("Check = %v, want ErrTooNew", err)
			}
			applied, err := migrate.Up(db)
			if !errors.Is(err, migrate.ErrTooNew) || len(applied) != 0 {
				t.Errorf("Up = %+v, %v; want nothing applied and ErrTooNew", applied, err)
			} else if !strings.Contains(err.Error(), path) {
				t.Errorf("Up error %q does not name the file", err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			sameBytes(t, path, before)
		})
	}
}

func TestNotJohnlocke(t *testing.T) {
	cases := map[string]func(tx *bbolt.Tx) error{
		"other bucket only": func(tx *bbolt.Tx) error {
			b, err := tx.CreateBucket([]byte("widgets"))
			if err != nil {
				return err
			}
			return b.Put([]byte("k"), []byte("v"))
		},
		"meta without schema": func(tx *bbolt.Tx) error {
			b, err := tx.CreateBucket(migrate.BucketMeta)
			if err != nil {
				return err
			}
			return b.Put([]byte("owner"), []byte("someone else"))
		},
	}
	for name, fill := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "other.db")
			makeBolt(t, path, fill)
			before := readBytes(t, path)

			db, err := migrate.Open(path, false, testTimeout)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := version(t, db); !errors.Is(err, migrate.ErrNotJohnlocke) {
				t.Errorf("Version error = %v, want ErrNotJohnlocke", err)
			}
			if err := migrate.Check(db); !errors.Is(err, migrate.ErrNotJohnlocke) {
				t.Errorf("Check = %v, want ErrNotJohnlocke", err)
			} else if !strings.Contains(err.Error(), "--db") {
				t.Errorf("error %q does not say to check --db", err)
			}
			if applied, err := migrate.Up(db); !errors.Is(err, migrate.ErrNotJohnlocke) || len(applied) != 0 {
				t.Errorf("Up = %+v, %v; want ErrNotJohnlocke", applied, err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			sameBytes(t, path, before)
		})
	}
}

func TestMalformedSchema(t *testing.T) {
	cases := map[string]func(meta *bbolt.Bucket) error{
		"3 bytes": func(meta *bbolt.Bucket) error { return meta.Put(migrate.KeySchema, []byte{0, 0, 1}) },
		"8 bytes": func(meta *bbolt.Bucket) error {
			return meta.Put(migrate.KeySchema, binary.BigEndian.AppendUint64(nil, 1))
		},
		"empty":    func(meta *bbolt.Bucket) error { return meta.Put(migrate.KeySchema, []byte{}) },
		"zero":     func(meta *bbolt.Bucket) error { return meta.Put(migrate.KeySchema, schemaValue(0)) },
		"huge":     func(meta *bbolt.Bucket) error { return meta.Put(migrate.KeySchema, schemaValue(1<<32-1)) },
		"a bucket": func(meta *bbolt.Bucket) error { _, err := meta.CreateBucket(migrate.KeySchema); return err },
		"text '1'": func(meta *bbolt.Bucket) error { return meta.Put(migrate.KeySchema, []byte("1")) },
	}
	for name, put := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.db")
			makeBolt(t, path, func(tx *bbolt.Tx) error {
				meta, err := tx.CreateBucket(migrate.BucketMeta)
				if err != nil {
					return err
				}
				return put(meta)
			})
			before := readBytes(t, path)
			db, err := migrate.Open(path, false, testTimeout)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := version(t, db); !errors.Is(err, migrate.ErrCorrupt) {
				t.Errorf("Version error = %v, want ErrCorrupt", err)
			}
			if err := migrate.Check(db); !errors.Is(err, migrate.ErrCorrupt) {
				t.Errorf("Check = %v, want ErrCorrupt", err)
			}
			if _, err := migrate.Up(db); !errors.Is(err, migrate.ErrCorrupt) {
				t.Errorf("Up = %v, want ErrCorrupt", err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			sameBytes(t, path, before)
		})
	}
}
