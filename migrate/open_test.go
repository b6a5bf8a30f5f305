package migrate_test

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/bbolt"

	"johnlocke/migrate"
)

// writeFile writes data to a new file in a temporary directory.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// bigBolt returns the bytes of a valid bbolt file spanning many pages, so
// that cutting it short leaves intact meta pages over missing data.
func bigBolt(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "big.db")
	makeBolt(t, path, func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket(migrate.BucketTorrents)
		if err != nil {
			return err
		}
		for i := range 2000 {
			if err := b.Put(fmt.Appendf(nil, "key%06d", i), make([]byte, 100)); err != nil {
				return err
			}
		}
		return nil
	})
	return readBytes(t, path)
}

// TestOpenDamaged feeds Open files bbolt cannot use. Open must return
// ErrCorrupt naming the file, never panic or crash, and leave the file
// alone, read-only or not.
func TestOpenDamaged(t *testing.T) {
	garbage := make([]byte, 64<<10)
	if _, err := rand.Read(garbage); err != nil {
		t.Fatal(err)
	}
	big := bigBolt(t)
	badMeta := append([]byte(nil), big...)
	// Break the checksummed fields of both meta pages (page 0 and 1 of
	// 4096 bytes, each a 16-byte page header then the meta).
	for _, off := range []int{16 + 8, 4096 + 16 + 8} {
		badMeta[off] ^= 0xff
	}
	cases := map[string][]byte{
		"random bytes":      garbage,
		"few random bytes":  garbage[:100],
		"one page":          big[:4096],
		"truncated to 8KiB": big[:8192],
		"truncated to half": big[:len(big)/2],
		"bad meta pages":    badMeta,
	}
	for name, data := range cases {
		for _, readOnly := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/readOnly=%v", name, readOnly), func(t *testing.T) {
				path := writeFile(t, "damaged.db", data)
				db, err := migrate.Open(path, readOnly, testTimeout)
				if err == nil {
					db.Close()
					t.Fatal("Open succeeded")
				}
				if !errors.Is(err, migrate.ErrCorrupt) {
					t.Fatalf("Open = %v, want ErrCorrupt", err)
				}
				for _, want := range []string{path, "backup"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not mention %q", err, want)
					}
				}
				sameBytes(t, path, data)
			})
		}
	}
}

// TestOpenBadFreelist breaks the page the meta pages name as the freelist.
// A read-write open loads the freelist and bbolt panics on it; Open must
// turn that into ErrCorrupt and leave the file alone.
func TestOpenBadFreelist(t *testing.T) {
	data := bigBolt(t)
	const pageSize = 4096
	for _, meta := range []int{0, pageSize} {
		// The meta follows the 16-byte page header: magic, version, page
		// size and flags (4 bytes each), root bucket (16), then the
		// freelist page id (8, native byte order; bbolt has no big-endian
		// build).
		freelist := int(binary.LittleEndian.Uint64(data[meta+16+32:]))
		if (freelist+1)*pageSize > len(data) {
			t.Fatalf("freelist page %d is outside the file", freelist)
		}
		clear(data[freelist*pageSize : (freelist+1)*pageSize])
	}
	path := writeFile(t, "freelist.db", data)
	db, err := migrate.Open(path, false, testTimeout)
	if err == nil {
		db.Close()
		t.Fatal("Open succeeded")
	}
	if !errors.Is(err, migrate.ErrCorrupt) {
		t.Fatalf("Open = %v, want ErrCorrupt", err)
	}
	sameBytes(t, path, data)
}

func TestOpenEmptyFile(t *testing.T) {
	path := writeFile(t, "empty.db", nil)
	if db, err := migrate.Open(path, true, testTimeout); !errors.Is(err, migrate.ErrNeedsMigration) {
		if err == nil {
			db.Close()
		}
		t.Fatalf("read-only Open of an empty file = %v, want ErrNeedsMigration", err)
	}
	sameBytes(t, path, nil)

	// Read-write, an empty file is a new database that Up initialises.
	db, err := migrate.Open(path, false, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	closeDB(t, db)
	if v, err := version(t, db); err != nil || v != 0 {
		t.Fatalf("Version = %d, %v; want 0", v, err)
	}
	if _, err := migrate.Up(db); err != nil {
		t.Fatal(err)
	}
	if err := migrate.Check(db); err != nil {
		t.Fatal(err)
	}
}

func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "held.db")
	holder, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	for _, readOnly := range []bool{false, true} {
		db, err := migrate.Open(path, readOnly, testTimeout)
		if err == nil {
			db.Close()
			t.Fatalf("readOnly=%v: Open of a held file succeeded", readOnly)
		}
		if !errors.Is(err, migrate.ErrLocked) {
			t.Fatalf("readOnly=%v: Open = %v, want ErrLocked", readOnly, err)
		}
		for _, want := range []string{path, "johnlocke serve"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
	}
	if err := holder.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := migrate.Open(path, false, testTimeout)
	if err != nil {
		t.Fatalf("Open after the holder closed: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenMissing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "missing.db")
	if db, err := migrate.Open(path, true, testTimeout); !errors.Is(err, fs.ErrNotExist) {
		if err == nil {
			db.Close()
		}
		t.Fatalf("read-only Open of a missing file = %v, want fs.ErrNotExist", err)
	} else if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("read-only Open created the file (stat: %v)", err)
	}

	// Read-write creates it, private to its owner: it will hold secrets.
	db, err := migrate.Open(path, false, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("new database has mode %v, want no group or other access", perm)
	}

	// A missing directory is the operating system's error, passed on.
	if _, err := migrate.Open(filepath.Join(dir, "no", "such.db"), false, testTimeout); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open in a missing directory = %v, want fs.ErrNotExist", err)
	}
}

// TestOpenWithoutCreate: a read-write open that may not create (purge,
// migrate) refuses a missing file, names it, and leaves no file behind; one
// that may says it created the file, once.
func TestOpenWithoutCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "typo.db")
	db, _, err := migrate.OpenWith(path, migrate.Options{Timeout: testTimeout})
	if err == nil {
		db.Close()
		t.Fatal("OpenWith of a missing file without Create succeeded")
	}
	if !errors.Is(err, migrate.ErrNoDatabase) || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v: want ErrNoDatabase and fs.ErrNotExist, naming %s", err, path)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("OpenWith without Create left a file behind (stat: %v)", err)
	}
	for i, want := range []bool{true, false} {
		db, created, err := migrate.OpenWith(path, migrate.Options{Create: true, Timeout: testTimeout})
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		if created != want {
			t.Errorf("open %d: created = %v, want %v", i+1, created, want)
		}
	}
}

func TestOpenDirectory(t *testing.T) {
	dir := t.TempDir()
	for _, readOnly := range []bool{true, false} {
		if db, err := migrate.Open(dir, readOnly, testTimeout); err == nil {
			db.Close()
			t.Errorf("readOnly=%v: Open of a directory succeeded", readOnly)
		} else if !strings.Contains(err.Error(), "directory") {
			t.Errorf("readOnly=%v: error %q does not say it is a directory", readOnly, err)
		}
	}
}
