package migrate

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/bbolt"
)

// TestUpStopsAtFailedStep swaps in a two-step history whose second step
// fails half-way: the first step must stay committed with its version, the
// second must leave no trace. Not parallel: it replaces the package's steps.
func TestUpStopsAtFailedStep(t *testing.T) {
	real := steps
	t.Cleanup(func() { steps = real })
	boom := errors.New("boom")
	steps = []Step{real[0], {
		From:        1,
		Description: "a step that fails",
		Apply: func(tx *bbolt.Tx) error {
			if _, err := tx.CreateBucket([]byte("half-done")); err != nil {
				return err
			}
			return boom
		},
	}}

	db, err := Open(filepath.Join(t.TempDir(), "crash.db"), false, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	applied, err := Up(db)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "from schema 1 to 2") {
		t.Fatalf("Up error = %v, want boom naming schema 1 to 2", err)
	}
	if len(applied) != 1 || applied[0].From != 0 {
		t.Fatalf("applied = %+v, want step 0 only", applied)
	}
	err = db.View(func(tx *bbolt.Tx) error {
		v, err := Version(tx)
		if err != nil || v != 1 {
			t.Errorf("Version = %d, %v; want 1", v, err)
		}
		if tx.Bucket([]byte("half-done")) != nil {
			t.Error("the failed step's bucket was committed")
		}
		if tx.Bucket(BucketTorrents) == nil {
			t.Error("step 0's torrents bucket is missing")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
