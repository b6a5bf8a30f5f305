package store

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"

	"johnlocke/migrate"
	"johnlocke/modes"
)

// DefaultOpenTimeout is how long opening the database waits for another
// process's lock before saying who probably holds it.
const DefaultOpenTimeout = time.Second

// DB is the registry on disk: the operations the subcommands need when no
// server holds the file (and that a running Store performs for them).
type DB struct {
	bolt    *bbolt.DB
	path    string
	created bool
	// writtenAt is the file's modification time before this open wrote to
	// it: when the last process that held it last wrote (zero for a new
	// file).
	writtenAt time.Time
}

// OpenOptions says how OpenDB opens the database.
type OpenOptions struct {
	// ReadOnly opens it without the write lock; the file must then be
	// current.
	ReadOnly bool
	// Create makes a new database when the file is missing. Only serve and
	// import create one: for every other subcommand a missing file is a
	// typo in --db and fails with migrate.ErrNoDatabase.
	Create bool
}

// OpenDB opens the database at path. Read-write, any pending schema steps
// are applied; read-only, the file must be current. A missing file is
// created only with o.Create (and removed again when it cannot be
// initialised).
func OpenDB(path string, o OpenOptions) (*DB, error) {
	var writtenAt time.Time
	if fi, err := os.Stat(path); err == nil {
		writtenAt = fi.ModTime()
	}
	b, created, err := migrate.OpenWith(path, migrate.Options{ReadOnly: o.ReadOnly, Create: o.Create, Timeout: DefaultOpenTimeout})
	if err != nil {
		return nil, err
	}
	if o.ReadOnly {
		err = migrate.Check(b)
	} else {
		_, err = migrate.Up(b)
	}
	if err != nil {
		_ = b.Close()
		if created {
			_ = os.Remove(path)
		}
		return nil, err
	}
	if created {
		writtenAt = time.Time{}
	}
	return &DB{bolt: b, path: path, created: created, writtenAt: writtenAt}, nil
}

// WrittenAt returns when the file was last written before this open (the
// last flush of the server that held it), zero for a new file: a cluster
// node rejoining asks for what changed since.
func (d *DB) WrittenAt() time.Time { return d.writtenAt }

// Created reports whether OpenDB made a new file.
func (d *DB) Created() bool { return d.created }

// Close closes the file.
func (d *DB) Close() error { return d.bolt.Close() }

// Path returns the database file's path.
func (d *DB) Path() string { return d.path }

// RegisterResult tells what Register did with one torrent.
type RegisterResult struct {
	InfoHash [20]byte
	// Added is true for a new torrent; false means it was registered
	// already (its mode is updated when a mode was asked for).
	Added bool
	// ModeChanged is true when an existing torrent's mode was changed.
	ModeChanged bool
	// Adopted is true when a torrent first registered by an announce
	// (--locked=false) is now registered on purpose: it takes the new
	// name, size and source, keeps its counters, and the sweep no longer
	// removes it.
	Adopted bool
	// Banned is true when the torrent is on the deny list (remove --ban)
	// and was not registered.
	Banned bool
}

// Register adds torrents to the registry in one transaction, idempotently:
// a torrent already registered keeps its counters and origin, and takes the
// new mode only when one other than Default is given.
func (d *DB) Register(ts []Torrent, now time.Time) ([]RegisterResult, error) {
	results := make([]RegisterResult, len(ts))
	err := d.bolt.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(migrate.BucketTorrents)
		for i := range ts {
			t := &ts[i]
			results[i].InfoHash = t.InfoHash
			if isBanned(tx, t) {
				results[i].Banned = true
				continue
			}
			old := b.Get(t.InfoHash[:])
			if old == nil {
				rec := *t
				if rec.Added.IsZero() {
					rec.Added = now
				}
				if err := b.Put(t.InfoHash[:], encodeRecord(nil, &rec)); err != nil {
					return fmt.Errorf("register %x: %w", t.InfoHash, err)
				}
				results[i].Added = true
				continue
			}
			cur, err := decodeRecord(t.InfoHash[:], old)
			if err != nil {
				return err
			}
			if cur.Source == SourceOrganic && t.Source != SourceOrganic {
				rec := *t
				rec.Added, rec.LastActive, rec.Completed = cur.Added, cur.LastActive, cur.Completed
				if rec.Mode == modes.Default {
					rec.Mode = cur.Mode
				}
				if err := b.Put(t.InfoHash[:], encodeRecord(nil, &rec)); err != nil {
					return fmt.Errorf("register %x: %w", t.InfoHash, err)
				}
				results[i].Adopted = true
				results[i].ModeChanged = rec.Mode != cur.Mode
				continue
			}
			if t.Mode == modes.Default || t.Mode == cur.Mode {
				continue
			}
			cur.Mode = t.Mode
			if err := b.Put(t.InfoHash[:], encodeRecord(nil, &cur)); err != nil {
				return fmt.Errorf("register %x: %w", t.InfoHash, err)
			}
			results[i].ModeChanged = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", d.path, err)
	}
	return results, nil
}

// Torrent looks a torrent up by its infohash or its hybrid alias. Seeders
// and Leechers are counted from the persisted swarm (peers of large
// torrents as of the last flush, less those expired since, judged by
// timeout).
func (d *DB) Torrent(hash [20]byte, now time.Time, timeout time.Duration) (Torrent, bool, error) {
	var (
		t     Torrent
		found bool
	)
	err := d.bolt.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(migrate.BucketTorrents)
		key := hash[:]
		v := b.Get(key)
		if v == nil {
			// A hybrid torrent's second hash: a scan is fine on this cold
			// path and spares the file an index that must be kept in step.
			c := b.Cursor()
			for k, rec := c.First(); k != nil; k, rec = c.Next() {
				if len(rec) >= recordFixed && rec[3]&recFlagAlias != 0 && bytes.Equal(rec[36:56], hash[:]) {
					key, v = k, rec
					break
				}
			}
		}
		if v == nil {
			return nil
		}
		var err error
		if t, err = decodeRecord(key, v); err != nil {
			return err
		}
		found = true
		t.Seeders, t.Leechers = persistedCounts(tx, t.InfoHash, now, timeout)
		return nil
	})
	if err != nil {
		return t, false, fmt.Errorf("database %s: %w", d.path, err)
	}
	return t, found, nil
}

// Torrents calls fn for every registered torrent in infohash order, with
// persisted counts as Torrent describes.
func (d *DB) Torrents(now time.Time, timeout time.Duration, fn func(*Torrent) error) error {
	err := d.bolt.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(migrate.BucketTorrents).ForEach(func(k, v []byte) error {
			t, err := decodeRecord(k, v)
			if err != nil {
				return err
			}
			t.Seeders, t.Leechers = persistedCounts(tx, t.InfoHash, now, timeout)
			return fn(&t)
		})
	})
	if err != nil {
		return fmt.Errorf("database %s: %w", d.path, err)
	}
	return nil
}

func persistedCounts(tx *bbolt.Tx, hash [20]byte, now time.Time, timeout time.Duration) (seeders, leechers int) {
	v := tx.Bucket(migrate.BucketSwarms).Get(hash[:])
	if v == nil {
		return 0, 0
	}
	tick, v4, v6, err := decodeSwarm(v)
	if err != nil {
		return 0, 0
	}
	nowTick := modes.TickOf(now)
	for _, part := range []struct {
		recs   []byte
		stride int
	}{{v4, modes.Record4}, {v6, modes.Record6}} {
		for off := 0; off < len(part.recs); off += part.stride {
			rec := part.recs[off : off+part.stride]
			if _, ok := restamp(rec[part.stride-2], tick, nowTick, timeout); !ok {
				continue
			}
			if rec[part.stride-1]&modes.FlagSeeder != 0 {
				seeders++
			} else {
				leechers++
			}
		}
	}
	return seeders, leechers
}

// restamp ages a stamp written at tick savedTick to the tick now: it
// returns the stamp to use from now on, or ok=false when the peer has
// expired (including while the file sat unused).
func restamp(stamp uint8, savedTick, now uint32, timeout time.Duration) (uint8, bool) {
	age := uint32(modes.Age(uint8(savedTick), stamp))
	if now > savedTick {
		age += now - savedTick
	}
	if time.Duration(age)*modes.Tick > timeout {
		return 0, false
	}
	return uint8(now - age), true
}

// PurgeOptions says what purge removes.
type PurgeOptions struct {
	// OlderThan removes torrents inactive (neither announced nor added)
	// for longer than this; zero keeps every torrent.
	OlderThan time.Duration
	// PeerTimeout is how old a persisted peer may be before it is dropped.
	PeerTimeout time.Duration
	// DryRun reports what would be removed and changes nothing.
	DryRun bool
	Now    time.Time
}

// PurgeReport says what purge removed (or would remove).
type PurgeReport struct {
	Torrents      [][20]byte  // torrents removed
	Kept          []PurgeKept // stale torrents left alone, and why
	Peers         int         // expired peers dropped from persisted swarms
	SwarmsDropped int         // persisted swarms with no live peer left, or no torrent
}

// PurgeKept is a torrent purge found stale but left registered.
type PurgeKept struct {
	InfoHash [20]byte
	Reason   string
}

// keepReason says why a stale torrent must stay, or "" when it may go. A
// torrent found under --dir whose file is still there would come back at
// the next scan with its counters reset, so it stays while its file does.
func keepReason(t *Torrent) string {
	if t.Source != SourceDir || t.Origin == "" {
		return ""
	}
	if !filepath.IsAbs(t.Origin) {
		// Registered by an older johnlocke, relative to the server's
		// working directory: whether the file is still there cannot be
		// told from here.
		return fmt.Sprintf("found under --dir as %s, a relative path that cannot be checked; remove it with the server running", t.Origin)
	}
	if _, err := os.Stat(t.Origin); err == nil {
		return fmt.Sprintf("its file %s is still under --dir and would register it again; remove the file to purge it", t.Origin)
	}
	return ""
}

// Purge removes expired peers from persisted swarms and, with OlderThan,
// torrents inactive longer than that, in one transaction. Torrents whose
// --dir file is still there are kept (PurgeReport.Kept says which).
func (d *DB) Purge(o PurgeOptions) (PurgeReport, error) {
	var rep PurgeReport
	fn := d.bolt.Update
	if o.DryRun {
		fn = d.bolt.View
	}
	err := fn(func(tx *bbolt.Tx) error {
		torrents := tx.Bucket(migrate.BucketTorrents)
		swarms := tx.Bucket(migrate.BucketSwarms)
		if o.OlderThan > 0 {
			cutoff := o.Now.Add(-o.OlderThan)
			err := torrents.ForEach(func(k, v []byte) error {
				t, err := decodeRecord(k, v)
				if err != nil {
					return err
				}
				if !lastSeen(&t).Before(cutoff) {
					return nil
				}
				if why := keepReason(&t); why != "" {
					rep.Kept = append(rep.Kept, PurgeKept{InfoHash: t.InfoHash, Reason: why})
					return nil
				}
				rep.Torrents = append(rep.Torrents, t.InfoHash)
				return nil
			})
			if err != nil {
				return err
			}
			if !o.DryRun {
				for _, h := range rep.Torrents {
					if err := torrents.Delete(h[:]); err != nil {
						return err
					}
				}
			}
		}
		return purgeSwarms(tx, swarms, torrents, o, &rep)
	})
	if err != nil {
		return rep, fmt.Errorf("database %s: %w", d.path, err)
	}
	return rep, nil
}

func lastSeen(t *Torrent) time.Time {
	if t.LastActive.After(t.Added) {
		return t.LastActive
	}
	return t.Added
}

// purgeSwarms rewrites persisted swarms without their expired peers and
// drops swarms left empty or without a torrent.
func purgeSwarms(tx *bbolt.Tx, swarms, torrents *bbolt.Bucket, o PurgeOptions, rep *PurgeReport) error {
	nowTick := modes.TickOf(o.Now)
	type rewrite struct {
		key, val []byte
	}
	var rewrites []rewrite
	err := swarms.ForEach(func(k, v []byte) error {
		if torrents.Get(k) == nil {
			rep.SwarmsDropped++
			rewrites = append(rewrites, rewrite{key: bytes.Clone(k)})
			return nil
		}
		tick, v4, v6, err := decodeSwarm(v)
		if err != nil {
			rep.SwarmsDropped++
			rewrites = append(rewrites, rewrite{key: bytes.Clone(k)})
			return nil
		}
		keep4, n4 := keepLive(v4, modes.Record4, tick, nowTick, o.PeerTimeout)
		keep6, n6 := keepLive(v6, modes.Record6, tick, nowTick, o.PeerTimeout)
		if n4+n6 == 0 {
			return nil
		}
		rep.Peers += n4 + n6
		if len(keep4)+len(keep6) == 0 {
			rep.SwarmsDropped++
			rewrites = append(rewrites, rewrite{key: bytes.Clone(k)})
			return nil
		}
		rewrites = append(rewrites, rewrite{key: bytes.Clone(k), val: appendSwarm(nil, nowTick, keep4, keep6)})
		return nil
	})
	if err != nil || o.DryRun {
		return err
	}
	// bbolt forbids changing a bucket while iterating it with ForEach.
	for _, r := range rewrites {
		if r.val == nil {
			err = swarms.Delete(r.key)
		} else {
			err = swarms.Put(r.key, r.val)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// keepLive copies the live records of recs, restamped to now, and counts
// the expired ones.
func keepLive(recs []byte, stride int, savedTick, now uint32, timeout time.Duration) (kept []byte, expired int) {
	for off := 0; off < len(recs); off += stride {
		stamp, ok := restamp(recs[off+stride-2], savedTick, now, timeout)
		if !ok {
			expired++
			continue
		}
		kept = append(kept, recs[off:off+stride]...)
		kept[len(kept)-2] = stamp
	}
	return kept, expired
}

// keyServeMode holds, in the meta bucket, the --mode of the last server
// that opened the file: what a torrent of mode Default followed then, and
// what `stats` without a server names as its mode.
var keyServeMode = []byte("serve/mode")

// ServeMode returns the --mode of the last server that ran on this file;
// ok is false when none has recorded one.
func (d *DB) ServeMode() (m modes.Mode, ok bool, err error) {
	err = d.bolt.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(migrate.BucketMeta).Get(keyServeMode)
		if len(v) == 1 && modes.Mode(v[0]).Valid() && modes.Mode(v[0]) != modes.Default {
			m, ok = modes.Mode(v[0]), true
		}
		return nil
	})
	if err != nil {
		return m, false, fmt.Errorf("database %s: %w", d.path, err)
	}
	return m, ok, nil
}

// recordServeMode remembers the server's mode for ServeMode, writing only
// when it changed.
func (d *DB) recordServeMode(m modes.Mode) error {
	if old, ok, err := d.ServeMode(); err != nil || ok && old == m {
		return err
	}
	err := d.bolt.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(migrate.BucketMeta).Put(keyServeMode, []byte{byte(m)})
	})
	if err != nil {
		return fmt.Errorf("database %s: %w", d.path, err)
	}
	return nil
}
