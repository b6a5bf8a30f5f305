package migrate_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"go.etcd.io/bbolt"

	"johnlocke/migrate"
)

// Fixtures are real database files, one per schema version, committed under
// testdata/db at the top of the repository; steps.go and
// testdata/db/README.md describe how they are made and used.
const fixtureDir = "../testdata/db"

// The made-up torrent every fixture holds; it must survive every step.
var (
	fixtureKey   = []byte("johnlocke-fixture-01") // 20 bytes, like an infohash
	fixtureValue = []byte("made-up torrent record: opaque to migrate")
)

// fixturePath is the fixture of schema v.
func fixturePath(v int) string {
	return filepath.Join(fixtureDir, fmt.Sprintf("schema-%d.db", v))
}

// TestWriteFixtures writes the fixture of the Current schema. Run it
// deliberately, once per new schema version:
//
//	JOHNLOCKE_WRITE_FIXTURES=1 go test ./migrate -run TestWriteFixtures
//
// It never touches the fixtures of older versions: the code that wrote them
// is gone, and they are what new steps are tested against.
func TestWriteFixtures(t *testing.T) {
	if os.Getenv("JOHNLOCKE_WRITE_FIXTURES") != "1" {
		t.Skip("set JOHNLOCKE_WRITE_FIXTURES=1 to (re)write " + fixturePath(migrate.Current))
	}
	tmp := filepath.Join(t.TempDir(), "fixture.db")
	db, err := migrate.Open(tmp, false, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrate.Up(db); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(migrate.BucketTorrents).Put(fixtureKey, fixtureValue)
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(fixtureDir, 0o755); err != nil {
		t.Fatal(err)
	}
	dst := fixturePath(migrate.Current)
	if err := os.WriteFile(dst, readBytes(t, tmp), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", dst)
}

// TestFixtureCurrent checks the committed fixture of the Current schema:
// a file this build wrote needs nothing and is not written to.
func TestFixtureCurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "current.db")
	copyFile(t, path, fixturePath(migrate.Current))
	before := readBytes(t, path)

	db, err := migrate.Open(path, false, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate.Check(db); err != nil {
		t.Fatalf("Check: %v", err)
	}
	applied, err := migrate.Up(db)
	if err != nil || len(applied) != 0 {
		t.Fatalf("Up = %+v, %v; want nothing to apply", applied, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	sameBytes(t, path, before)
}

// TestFixturesUpgrade brings a copy of every committed fixture to Current:
// each must run exactly the steps after its own version, pass Check and
// keep its made-up torrent. Step-specific tests add their own assertions
// next to this one.
func TestFixturesUpgrade(t *testing.T) {
	names, err := filepath.Glob(filepath.Join(fixtureDir, "schema-*.db"))
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`^schema-([0-9]+)\.db$`)
	seen := map[int]bool{}
	for _, fixture := range names {
		m := name.FindStringSubmatch(filepath.Base(fixture))
		if m == nil {
			t.Errorf("%s: fixture names are schema-<version>.db", fixture)
			continue
		}
		v, _ := strconv.Atoi(m[1])
		seen[v] = true
		t.Run(filepath.Base(fixture), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "copy.db")
			copyFile(t, path, fixture)
			db, err := migrate.Open(path, false, testTimeout)
			if err != nil {
				t.Fatal(err)
			}
			closeDB(t, db)
			if got, err := version(t, db); err != nil || got != v {
				t.Fatalf("Version = %d, %v; the file name says %d", got, err, v)
			}
			applied, err := migrate.Up(db)
			if err != nil {
				t.Fatal(err)
			}
			if len(applied) != migrate.Current-v {
				t.Fatalf("Up applied %d steps, want %d", len(applied), migrate.Current-v)
			}
			for i, s := range applied {
				if s.From != v+i {
					t.Errorf("applied[%d].From = %d, want %d", i, s.From, v+i)
				}
			}
			if err := migrate.Check(db); err != nil {
				t.Fatalf("Check after Up: %v", err)
			}
			if err := db.View(func(tx *bbolt.Tx) error {
				got := tx.Bucket(migrate.BucketTorrents).Get(fixtureKey)
				if !bytes.Equal(got, fixtureValue) {
					t.Errorf("fixture torrent = %q, want %q", got, fixtureValue)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
	for v := 1; v <= migrate.Current; v++ {
		if !seen[v] {
			t.Errorf("%s is missing: every schema version keeps a committed fixture", fixturePath(v))
		}
	}
}
