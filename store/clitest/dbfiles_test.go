package clitest

import (
	"bytes"
	le "encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

var schema1 = filepath.Join("..", "..", "testdata", "db", "schema-1.db")

// boltFile writes a bbolt file at path, filled by fill, as another program
// (or another johnlocke) would.
func boltFile(t *testing.T, path string, fill func(tx *bbolt.Tx) error) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
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

func copyFixture(t *testing.T, dst string) {
	t.Helper()
	b, err := os.ReadFile(schema1)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestDatabaseNotOurs: a file from a newer johnlocke, another program's
// bbolt file and a damaged one each get a message naming the problem and
// exit 3 from every subcommand, and stay byte for byte as they were.
func TestDatabaseNotOurs(t *testing.T) {
	dir := t.TempDir()
	newer := filepath.Join(dir, "newer.db")
	copyFixture(t, newer)
	boltFile(t, newer, func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema"), []byte{0, 0, 0, 99})
	})

	foreign := filepath.Join(dir, "foreign.db")
	boltFile(t, foreign, func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket([]byte("widgets"))
		if err != nil {
			return err
		}
		return b.Put([]byte("sprocket"), []byte("42"))
	})

	// Both meta pages damaged: bbolt finds no valid one.
	damaged := filepath.Join(dir, "damaged.db")
	copyFixture(t, damaged)
	b, err := os.ReadFile(damaged)
	if err != nil {
		t.Fatal(err)
	}
	pageSize := int(le.LittleEndian.Uint32(b[24:28])) // the meta's pageSize, after the page header, magic and version
	if pageSize < 512 || 2*pageSize > len(b) {
		t.Fatalf("fixture page size %d", pageSize)
	}
	for _, page := range []int{0, pageSize} {
		copy(b[page+16:page+32], bytes.Repeat([]byte{0xa5}, 16))
	}
	if err := os.WriteFile(damaged, b, 0o600); err != nil {
		t.Fatal(err)
	}

	files := []struct{ path, want string }{
		{newer, "newer johnlocke"},
		{foreign, "not a johnlocke database"},
		{damaged, "corrupt"},
	}
	commands := [][]string{
		{"serve", "--http", "127.0.0.1:0", "--udp", "127.0.0.1:0"},
		{"stats"},
		{"stats", v1Single},
		{"import", filepath.Join(torrentsDir, "v1-single.torrent")},
		{"purge"},
		{"purge", "--dry-run"},
		{"migrate"},
		{"migrate", "--dry-run"},
	}
	for _, f := range files {
		before, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		for _, args := range commands {
			t.Run(filepath.Base(f.path)+"/"+strings.Join(args, " "), func(t *testing.T) {
				r := run(t, nil, append(args, "--db", f.path)...)
				if r.code != 3 || !strings.Contains(r.stderr, f.want) || !strings.Contains(r.stderr, f.path) {
					t.Errorf("exit %d, want 3 and a message saying %q about %s:\n%s%s", r.code, f.want, f.path, r.stdout, r.stderr)
				}
			})
		}
		if after, _ := os.ReadFile(f.path); !bytes.Equal(before, after) {
			t.Errorf("%s was modified", f.path)
		}
		if _, err := os.Lstat(f.path + ".sock"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("an admin socket was left beside %s", f.path)
		}
	}
}

func TestMigrateFreshFile(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, "migrate", "--dry-run", "--db", empty)
	if r.code != 0 || !strings.Contains(r.stdout, "pending: 0 -> 1") {
		t.Fatalf("migrate --dry-run on an empty file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if fi, err := os.Stat(empty); err != nil || fi.Size() != 0 {
		t.Fatalf("--dry-run changed the empty file: %v, %v", fi, err)
	}
	r = run(t, nil, "migrate", "--db", empty)
	if r.code != 0 || !strings.Contains(r.stdout, "applied: 0 -> 1") {
		t.Fatalf("migrate on an empty file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r = run(t, nil, "migrate", "--dry-run", "--db", empty); r.code != 0 || !strings.Contains(r.stdout, "nothing to do") {
		t.Fatalf("migrate --dry-run after migrate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// An old file: the committed schema-1 fixture gains the banned
	// bucket (1 -> 2), and a second migrate has nothing to do.
	old := filepath.Join(t.TempDir(), "old.db")
	copyFixture(t, old)
	if r = run(t, nil, "migrate", "--db", old); r.code != 0 || !strings.Contains(r.stdout, "applied: 1 -> 2") {
		t.Fatalf("migrate of the schema-1 fixture: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r = run(t, nil, "migrate", "--db", old); r.code != 0 || !strings.Contains(r.stdout, "nothing to do") {
		t.Fatalf("second migrate of the schema-1 fixture: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
