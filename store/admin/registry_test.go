package admin

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"johnlocke/migrate"
	"johnlocke/modes"
	"johnlocke/store"
)

func TestOpenRegistry(t *testing.T) {
	t.Run("no server: the file", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "j.db")
		reg, err := OpenRegistry(db, "", store.OpenOptions{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := reg.(fileRegistry); !ok {
			t.Fatalf("got %T, want the file registry", reg)
		}
		if info := reg.Info(); !info.Created || info.Live || info.ServeModeKnown {
			t.Fatalf("Info of a new file = %+v, want Created, not Live, no serve mode", info)
		}
		res, err := reg.Register([]store.Torrent{{InfoHash: hash(1), Name: "one", Mode: modes.Small}})
		if err != nil || len(res) != 1 {
			t.Fatalf("Register: %v, %v", res, err)
		}
		if err := reg.Close(); err != nil {
			t.Fatal(err)
		}
		ro, err := OpenRegistry(db, "", store.OpenOptions{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		if ro.Info().Created {
			t.Fatal("Info of an existing file says Created")
		}
		if got, ok, err := ro.Torrent(hash(1)); err != nil || !ok || got.Name != "one" {
			t.Fatalf("Torrent: %+v, %v, %v", got, ok, err)
		}
	})

	t.Run("a missing file is the database's fault", func(t *testing.T) {
		for _, o := range []store.OpenOptions{{ReadOnly: true}, {}} {
			path := filepath.Join(t.TempDir(), "missing.db")
			_, err := OpenRegistry(path, "", o)
			var re *RegistryError
			if !errors.As(err, &re) || !re.Database {
				t.Fatalf("%+v: got %#v, want a database RegistryError", o, err)
			}
			if !errors.Is(err, migrate.ErrNoDatabase) || !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("%+v: got %v, want it to wrap migrate.ErrNoDatabase and os.ErrNotExist", o, err)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("%+v: a file was left behind (stat: %v)", o, err)
			}
		}
	})

	t.Run("a live server: the socket", func(t *testing.T) {
		st, srv, sock := serve(t)
		reg, err := OpenRegistry(st.DB().Path(), sock, store.OpenOptions{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		defer reg.Close()
		if _, ok := reg.(liveRegistry); !ok {
			t.Fatalf("got %T, want the live registry", reg)
		}
		if info := reg.Info(); !info.Live || info.ServeMode != modes.Large || !info.ServeModeKnown || info.Created {
			t.Fatalf("Info = %+v, want Live, serve mode large", info)
		}
		if _, err := reg.Register([]store.Torrent{{InfoHash: hash(2), Name: "two", Mode: modes.Large}}); err != nil {
			t.Fatal(err)
		}
		if got, ok, err := reg.Torrent(hash(2)); err != nil || !ok || got.Name != "two" {
			t.Fatalf("Torrent: %+v, %v, %v", got, ok, err)
		}
		// A socket that stops answering is a failure, not the database's.
		if err := srv.Close(); err != nil {
			t.Fatal(err)
		}
		_, _, err = reg.Torrent(hash(2))
		var re *RegistryError
		if !errors.As(err, &re) || re.Database {
			t.Fatalf("got %#v, want a RegistryError without Database", err)
		}
	})

	t.Run("a server for another database", func(t *testing.T) {
		_, _, sock := serve(t)
		_, err := OpenRegistry(filepath.Join(t.TempDir(), "other.db"), sock, store.OpenOptions{ReadOnly: true})
		var re *RegistryError
		if !errors.As(err, &re) || !re.Database {
			t.Fatalf("got %#v, want a database RegistryError", err)
		}
	})
}

// TestServeModeRecorded: the file remembers the last server's --mode, so
// `stats` without a server can name the mode a default torrent follows.
func TestServeModeRecorded(t *testing.T) {
	db := filepath.Join(t.TempDir(), "j.db")
	st, err := store.Open(db, store.Config{Mode: modes.Surge})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	reg, err := OpenRegistry(db, "", store.OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if info := reg.Info(); info.ServeMode != modes.Surge || !info.ServeModeKnown || info.Live {
		t.Fatalf("Info = %+v, want serve mode surge, not live", info)
	}
}

func TestLiveErrorClassifies(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"the server's store failed", &RemoteError{Code: 500, Message: "disk"}, true},
		{"a refused request", &RemoteError{Code: 400, Message: "bad"}, false},
		{"a transport error", errors.New("connection reset"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var re *RegistryError
			if err := liveError(tc.err); !errors.As(err, &re) || re.Database != tc.want || err.Error() != tc.err.Error() {
				t.Fatalf("got %#v, want Database %v with the cause's message", err, tc.want)
			}
		})
	}
	if liveError(nil) != nil || dbError(nil) != nil {
		t.Fatal("nil became an error")
	}
}
