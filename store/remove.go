package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"

	"johnlocke/migrate"
)

// ErrBanned answers an announce for a banned infohash: the torrent was
// taken down on purpose, which a client (and its user) should be told
// apart from a torrent the tracker never had.
const ErrBanned Failure = "torrent removed"

// maxBanReason bounds the reason stored with a ban: a note for operators,
// not a document.
const maxBanReason = 1024

// A ban record: banFormat, the ban's time as big-endian Unix nanoseconds,
// a flags byte, the other name of a hybrid torrent (zeros unless
// banLinked), then the reason's bytes. Both names of a hybrid torrent are
// banned together and lifted together.
const (
	banFormat    = 1
	banLinked    = 1 << 0
	banRecordLen = 1 + 8 + 1 + 20
)

// Ban is one entry of the deny list.
type Ban struct {
	InfoHash [20]byte
	At       time.Time
	Reason   string
	// Link is the other name of a hybrid torrent, banned with it.
	Link    [20]byte
	HasLink bool
}

// RemoveResult tells what Remove did with one infohash it was given.
type RemoveResult struct {
	InfoHash [20]byte
	// Removed is true when a registered torrent (by its infohash or its
	// hybrid alias) was unregistered, its swarm dropped.
	Removed bool
	// Banned is true when the infohash is on the deny list afterwards.
	Banned bool
}

// encodeBan writes a ban record.
func encodeBan(b *Ban) []byte {
	reason := b.Reason
	if len(reason) > maxBanReason {
		reason = reason[:maxBanReason]
	}
	rec := make([]byte, banRecordLen, banRecordLen+len(reason))
	rec[0] = banFormat
	binary.BigEndian.PutUint64(rec[1:], uint64(b.At.UnixNano()))
	if b.HasLink {
		rec[9] = banLinked
		copy(rec[10:30], b.Link[:])
	}
	return append(rec, reason...)
}

// decodeBan reads a ban record.
func decodeBan(key, v []byte) (Ban, error) {
	var b Ban
	if len(key) != len(b.InfoHash) || len(v) < banRecordLen || v[0] != banFormat {
		return b, fmt.Errorf("banned %x: malformed record", key)
	}
	copy(b.InfoHash[:], key)
	b.At = time.Unix(0, int64(binary.BigEndian.Uint64(v[1:]))).UTC()
	if v[9]&banLinked != 0 {
		b.HasLink = true
		copy(b.Link[:], v[10:30])
	}
	b.Reason = string(v[banRecordLen:])
	return b, nil
}

// findRecord returns the key and record of the torrent registered under
// hash or, for a hybrid torrent, under its alias; nil when none is. The
// alias is found by a scan: a cold path (remove, stats), and it spares the
// file an index that must be kept in step.
func findRecord(b *bbolt.Bucket, hash [20]byte) (key, rec []byte) {
	if v := b.Get(hash[:]); v != nil {
		return hash[:], v
	}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(v) >= recordFixed && v[3]&recFlagAlias != 0 && bytes.Equal(v[36:56], hash[:]) {
			return k, v
		}
	}
	return nil, nil
}

// isBanned reports whether t (under its infohash or its alias) is on the
// deny list of tx.
func isBanned(tx *bbolt.Tx, t *Torrent) bool {
	banned := tx.Bucket(migrate.BucketBanned)
	return banned != nil && (banned.Get(t.InfoHash[:]) != nil || t.HasAlias && banned.Get(t.Alias[:]) != nil)
}

// Remove unregisters the torrents named by hashes (infohashes or hybrid
// aliases) and drops their persisted swarms, in one transaction. With ban,
// every hash, and both names of a hybrid torrent found by either, goes on
// the deny list with reason, whether or not it was registered. It returns
// one result per hash and the primary infohashes of the torrents removed
// or banned, for a running store to drop from memory.
func (d *DB) Remove(hashes [][20]byte, ban bool, reason string, now time.Time) ([]RemoveResult, [][20]byte, error) {
	results := make([]RemoveResult, len(hashes))
	var names [][20]byte
	err := d.bolt.Update(func(tx *bbolt.Tx) error {
		torrents := tx.Bucket(migrate.BucketTorrents)
		swarms := tx.Bucket(migrate.BucketSwarms)
		banned := tx.Bucket(migrate.BucketBanned)
		for i, h := range hashes {
			results[i].InfoHash = h
			toBan := []Ban{{InfoHash: h, At: now, Reason: reason}}
			if key, rec := findRecord(torrents, h); key != nil {
				t, err := decodeRecord(key, rec)
				if err != nil {
					return err
				}
				if err := torrents.Delete(key); err != nil {
					return err
				}
				if err := swarms.Delete(key); err != nil {
					return err
				}
				results[i].Removed = true
				toBan[0].InfoHash = t.InfoHash
				if t.HasAlias {
					toBan[0].Link, toBan[0].HasLink = t.Alias, true
					toBan = append(toBan, Ban{InfoHash: t.Alias, At: now, Reason: reason, Link: t.InfoHash, HasLink: true})
				}
			}
			for _, b := range toBan {
				names = append(names, b.InfoHash)
			}
			if !ban {
				continue
			}
			for _, b := range toBan {
				if err := banned.Put(b.InfoHash[:], encodeBan(&b)); err != nil {
					return err
				}
			}
			results[i].Banned = true
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("database %s: %w", d.path, err)
	}
	return results, names, nil
}

// Unban lifts the bans on hashes, and on the other name of a hybrid
// torrent banned with one; each result tells whether that hash was banned.
// lifted lists every infohash whose ban was lifted.
func (d *DB) Unban(hashes [][20]byte) (was []bool, lifted [][20]byte, err error) {
	was = make([]bool, len(hashes))
	err = d.bolt.Update(func(tx *bbolt.Tx) error {
		banned := tx.Bucket(migrate.BucketBanned)
		for i, h := range hashes {
			v := banned.Get(h[:])
			if v == nil {
				continue
			}
			b, err := decodeBan(h[:], v)
			if err != nil {
				return err
			}
			if err := banned.Delete(h[:]); err != nil {
				return err
			}
			was[i] = true
			lifted = append(lifted, h)
			if b.HasLink {
				if err := banned.Delete(b.Link[:]); err != nil {
					return err
				}
				lifted = append(lifted, b.Link)
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("database %s: %w", d.path, err)
	}
	return was, lifted, nil
}

// Banned returns the deny list in infohash order.
func (d *DB) Banned() ([]Ban, error) {
	var bans []Ban
	err := d.bolt.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(migrate.BucketBanned).ForEach(func(k, v []byte) error {
			b, err := decodeBan(k, v)
			if err != nil {
				return err
			}
			bans = append(bans, b)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", d.path, err)
	}
	return bans, nil
}

// banSet is the deny list in memory, consulted only by an announce for an
// infohash that is not registered: a registered torrent's announce never
// looks at it. It is replaced whole (bans are rare) and read without a
// lock.
type banSet struct {
	p atomic.Pointer[map[[20]byte]struct{}]
}

// has reports whether hash is banned.
func (b *banSet) has(hash *[20]byte) bool {
	m := b.p.Load()
	if m == nil {
		return false
	}
	_, ok := (*m)[*hash]
	return ok
}

// update replaces the set with a copy that holds add and not del. Callers
// serialise updates (Store.writeMu).
func (b *banSet) update(add, del [][20]byte) {
	next := make(map[[20]byte]struct{})
	if m := b.p.Load(); m != nil {
		for h := range *m {
			next[h] = struct{}{}
		}
	}
	for _, h := range add {
		next[h] = struct{}{}
	}
	for _, h := range del {
		delete(next, h)
	}
	b.p.Store(&next)
}

// loadBanned fills the in-memory deny list from the file.
func (s *Store) loadBanned() error {
	bans, err := s.db.Banned()
	if err != nil {
		return err
	}
	hashes := make([][20]byte, len(bans))
	for i := range bans {
		hashes[i] = bans[i].InfoHash
	}
	s.banned.update(hashes, nil)
	return nil
}

// Remove unregisters torrents from memory and file together (a row deleted
// only on disk would come back at the next flush) and, with ban, puts them
// on the deny list; see DB.Remove.
func (s *Store) Remove(hashes [][20]byte, ban bool, reason string) ([]RemoveResult, error) {
	return s.remove(hashes, ban, reason, true, true)
}

// remove is Remove; rescan makes the next --dir scan read every file again
// (so a removed torrent whose file is there comes back); notify tells the
// registry listener, if any.
func (s *Store) remove(hashes [][20]byte, ban bool, reason string, rescan, notify bool) ([]RemoveResult, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if ban {
		// Banned in memory before the file: an announce in between cannot
		// register one of them again organically.
		s.banned.update(hashes, nil)
	}
	if _, err := s.flushLocked(); err != nil {
		return nil, err
	}
	results, names, err := s.db.Remove(hashes, ban, reason, s.cfg.Now())
	if err != nil {
		if ban {
			s.banned.update(nil, hashes)
			// Bans already on file stay banned in memory.
			if lerr := s.loadBanned(); lerr != nil {
				s.cfg.Log.Error().Err(lerr).Msg("reloading the deny list")
			}
		}
		return nil, err
	}
	if ban {
		s.banned.update(names, nil)
	}
	s.dropTorrents(names)
	if rescan {
		// A removed torrent whose file is still under --dir comes back at
		// the next scan unless it is banned, as after a purge.
		s.scan.purged.Store(true)
	}
	if notify && s.capture.listener != nil {
		s.capture.listener.Removed(hashes, ban, reason)
	}
	return results, nil
}

// Unban lifts bans; a torrent whose file is under --dir comes back at the
// next scan.
func (s *Store) Unban(hashes [][20]byte) ([]bool, error) {
	return s.unban(hashes, true)
}

// unban is Unban; notify tells the registry listener, if any.
func (s *Store) unban(hashes [][20]byte, notify bool) ([]bool, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	was, lifted, err := s.db.Unban(hashes)
	if err != nil {
		return nil, err
	}
	s.banned.update(nil, lifted)
	s.scan.purged.Store(true)
	if notify && s.capture.listener != nil {
		s.capture.listener.Unbanned(hashes)
	}
	return was, nil
}

// Banned returns the deny list in infohash order.
func (s *Store) Banned() ([]Ban, error) { return s.db.Banned() }

// forEachRecord calls fn for every registered torrent's record, without
// counts.
func (d *DB) forEachRecord(fn func(t *Torrent) error) error {
	err := d.bolt.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(migrate.BucketTorrents).ForEach(func(k, v []byte) error {
			t, err := decodeRecord(k, v)
			if err != nil {
				return err
			}
			return fn(&t)
		})
	})
	if err != nil {
		return fmt.Errorf("database %s: %w", d.path, err)
	}
	return nil
}

// underDir reports whether path lies inside dir, both as given (a torrent
// registered from another directory, or under another spelling of it, is
// left alone).
func underDir(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != "." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && rel != ".."
}

// unregisterGone unregisters the torrents a --dir scan registered whose
// file the last walk of dir did not find: not at its path (walked, read or
// seen unchanged) holding it, and not, for a file moved or copied within
// dir, under its infohash (live maps each file to the torrent it holds). Torrents from import or organic registration, and those
// from files outside dir, are left alone. Each is logged by name.
func (s *Store) unregisterGone(dir string, read, seen map[string]fileStamp, live map[string][20]byte) (int, error) {
	liveHashes := make(map[[20]byte]struct{}, len(live))
	for _, h := range live {
		liveHashes[h] = struct{}{}
	}
	var gone []Torrent
	err := s.db.forEachRecord(func(t *Torrent) error {
		if t.Source != SourceDir || !underDir(dir, t.Origin) {
			return nil
		}
		_, walked := seen[t.Origin]
		_, tried := read[t.Origin]
		_, elsewhere := liveHashes[t.InfoHash]
		// A file that now holds another torrent no longer holds this
		// one; a file that could not be read this time keeps its own.
		h, known := live[t.Origin]
		there := (walked || tried) && (!known || h == t.InfoHash)
		if !there && !elsewhere {
			gone = append(gone, Torrent{InfoHash: t.InfoHash, Name: t.Name, Origin: t.Origin})
		}
		return nil
	})
	if err != nil || len(gone) == 0 {
		return 0, err
	}
	hashes := make([][20]byte, len(gone))
	for i := range gone {
		hashes[i] = gone[i].InfoHash
	}
	results, err := s.remove(hashes, false, "", false, false)
	if err != nil {
		return 0, err
	}
	n := 0
	for i, r := range results {
		if !r.Removed {
			continue
		}
		n++
		s.cfg.Log.Info().Str("file", gone[i].Origin).Str("name", gone[i].Name).Hex("info_hash", gone[i].InfoHash[:]).
			Msg("unregistered torrent: its file is gone from --dir")
	}
	return n, nil
}
