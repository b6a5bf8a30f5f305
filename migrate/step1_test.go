package migrate_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"go.etcd.io/bbolt"

	"johnlocke/migrate"
)

// TestStep1CreatesBanned brings a copy of the schema-1 fixture to schema 2:
// the banned bucket appears, empty, and nothing else changes.
func TestStep1CreatesBanned(t *testing.T) {
	path := filepath.Join(t.TempDir(), "schema-1.db")
	copyFile(t, path, fixturePath(1))
	db, err := migrate.Open(path, false, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	closeDB(t, db)
	if err := db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(migrate.BucketBanned) != nil {
			t.Fatal("the schema-1 fixture already has a banned bucket")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	pending, err := migrate.Pending(1)
	if err != nil || len(pending) == 0 || pending[0].From != 1 {
		t.Fatalf("Pending(1) = %+v, %v; want the step from 1 first", pending, err)
	}
	if _, err := migrate.Up(db); err != nil {
		t.Fatal(err)
	}
	if err := db.View(func(tx *bbolt.Tx) error {
		if v, err := migrate.Version(tx); err != nil || v < 2 {
			t.Errorf("Version = %d, %v; want at least 2", v, err)
		}
		b := tx.Bucket(migrate.BucketBanned)
		if b == nil {
			t.Fatal("no banned bucket after the step")
		}
		if k, _ := b.Cursor().First(); k != nil {
			t.Errorf("banned bucket holds %q, want it empty", k)
		}
		if got := tx.Bucket(migrate.BucketTorrents).Get(fixtureKey); !bytes.Equal(got, fixtureValue) {
			t.Errorf("fixture torrent = %q, want %q", got, fixtureValue)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
