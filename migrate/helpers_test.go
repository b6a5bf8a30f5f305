package migrate_test

import (
	"bytes"
	"io"
	"os"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// testTimeout is the lock timeout the tests open files with.
const testTimeout = 200 * time.Millisecond

// makeBolt writes a plain bbolt file at path, shaped by fill, without going
// through package migrate: it stands for files other programs (or other
// johnlocke versions) wrote.
func makeBolt(t *testing.T, path string, fill func(tx *bbolt.Tx) error) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fill); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// readBytes returns the file's contents.
func readBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameBytes fails the test unless path still holds want.
func sameBytes(t *testing.T, path string, want []byte) {
	t.Helper()
	if got := readBytes(t, path); !bytes.Equal(got, want) {
		t.Errorf("%s changed: %d bytes before, %d after, contents differ", path, len(want), len(got))
	}
}

// copyFile copies src to dst.
func copyFile(t *testing.T, dst, src string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// txID returns the id of the last committed transaction.
func txID(t *testing.T, db *bbolt.DB) int {
	t.Helper()
	var id int
	if err := db.View(func(tx *bbolt.Tx) error { id = tx.ID(); return nil }); err != nil {
		t.Fatal(err)
	}
	return id
}

// closeDB closes db at the end of the test, failing it on error.
func closeDB(t *testing.T, db *bbolt.DB) {
	t.Helper()
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
}
