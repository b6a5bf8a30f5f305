package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"johnlocke/modes"
)

// Source tells how a torrent came to be registered.
type Source uint8

// The sources. Their numbers are stored in the database: never renumber.
const (
	SourceUnknown Source = 0
	SourceDir     Source = 1 // found under --dir
	SourceImport  Source = 2 // johnlocke import
	SourceOrganic Source = 3 // first announce with --locked=false
)

// String names the source for people.
func (s Source) String() string {
	switch s {
	case SourceDir:
		return "dir"
	case SourceImport:
		return "import"
	case SourceOrganic:
		return "organic"
	}
	return "unknown"
}

// ParseSource reads a source's name as String writes it.
func ParseSource(name string) (Source, error) {
	for s := SourceUnknown; s <= SourceOrganic; s++ {
		if s.String() == name {
			return s, nil
		}
	}
	return SourceUnknown, fmt.Errorf("unknown source %q (want dir, import, organic or unknown)", name)
}

// Torrent is one registered torrent as the registry knows it, plus its live
// figures when a running tracker reports them.
type Torrent struct {
	InfoHash [20]byte
	// Alias is the second infohash of a hybrid v1+v2 torrent (the SHA-256
	// one truncated to 20 bytes); announces under either reach one swarm.
	Alias    [20]byte
	HasAlias bool
	Name     string
	Size     int64
	Private  bool
	// Mode is the torrent's own mode; Default follows the server's --mode.
	Mode   modes.Mode
	Source Source
	// Origin is the file the torrent was registered from, if any.
	Origin     string
	Added      time.Time
	LastActive time.Time // zero when never announced
	Completed  uint64

	// Seeders and Leechers are live counts (from memory while serving, from
	// the persisted swarm otherwise; zero for modes that keep no peers on
	// disk when no server runs).
	Seeders, Leechers int
}

// recordFormat is the leading byte of a torrent record. A new layout gets a
// new number and a migrate step; decoders refuse numbers they do not know.
const recordFormat = 1

// recordFixed is the size of the fixed part of a record:
// format, mode, source, flags, added, lastActive, completed, size, alias.
const recordFixed = 1 + 1 + 1 + 1 + 8 + 8 + 8 + 8 + 20

const (
	recFlagAlias   = 1 << 0
	recFlagPrivate = 1 << 1
)

// maxStoredString bounds names and origins kept in a record: a record is
// read on cold paths only, but a hostile .torrent must not bloat the file.
const maxStoredString = 4096

var errBadRecord = errors.New("malformed torrent record")

func encodeRecord(dst []byte, t *Torrent) []byte {
	var fixed [recordFixed]byte
	fixed[0] = recordFormat
	fixed[1] = byte(t.Mode)
	fixed[2] = byte(t.Source)
	if t.HasAlias {
		fixed[3] |= recFlagAlias
	}
	if t.Private {
		fixed[3] |= recFlagPrivate
	}
	binary.BigEndian.PutUint64(fixed[4:], uint64(unixOrZero(t.Added)))
	binary.BigEndian.PutUint64(fixed[12:], uint64(unixOrZero(t.LastActive)))
	binary.BigEndian.PutUint64(fixed[20:], t.Completed)
	binary.BigEndian.PutUint64(fixed[28:], uint64(t.Size))
	copy(fixed[36:], t.Alias[:])
	dst = append(dst, fixed[:]...)
	dst = appendString(dst, t.Name)
	return appendString(dst, t.Origin)
}

// appendPatched appends old, the stored record of the torrent with infohash
// key, with its completed count and last activity replaced.
func appendPatched(dst, key, old []byte, completed uint64, lastActive time.Time) ([]byte, error) {
	if len(old) < recordFixed || old[0] != recordFormat {
		// decodeRecord says what is wrong with it.
		if _, err := decodeRecord(key, old); err != nil {
			return dst, err
		}
		return dst, fmt.Errorf("%w %x", errBadRecord, key)
	}
	start := len(dst)
	dst = append(dst, old...)
	rec := dst[start:]
	binary.BigEndian.PutUint64(rec[12:], uint64(unixOrZero(lastActive)))
	binary.BigEndian.PutUint64(rec[20:], completed)
	return dst, nil
}

func appendString(dst []byte, s string) []byte {
	if len(s) > maxStoredString {
		s = s[:maxStoredString]
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func timeOrZero(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}

// decodeRecord parses a record; key is its infohash. It copies everything
// out of b, which may be bbolt's memory.
func decodeRecord(key, b []byte) (Torrent, error) {
	var t Torrent
	if len(key) != 20 {
		return t, fmt.Errorf("%w: key of %d bytes", errBadRecord, len(key))
	}
	copy(t.InfoHash[:], key)
	if len(b) < recordFixed {
		return t, fmt.Errorf("%w %x: %d bytes", errBadRecord, key, len(b))
	}
	if b[0] != recordFormat {
		return t, fmt.Errorf("%w %x: unknown format %d", errBadRecord, key, b[0])
	}
	t.Mode = modes.Mode(b[1])
	if !t.Mode.Valid() {
		return t, fmt.Errorf("%w %x: unknown mode %d", errBadRecord, key, b[1])
	}
	t.Source = Source(b[2])
	t.HasAlias = b[3]&recFlagAlias != 0
	t.Private = b[3]&recFlagPrivate != 0
	t.Added = timeOrZero(int64(binary.BigEndian.Uint64(b[4:])))
	t.LastActive = timeOrZero(int64(binary.BigEndian.Uint64(b[12:])))
	t.Completed = binary.BigEndian.Uint64(b[20:])
	t.Size = int64(binary.BigEndian.Uint64(b[28:]))
	copy(t.Alias[:], b[36:56])
	rest := b[recordFixed:]
	var ok bool
	if t.Name, rest, ok = cutString(rest); !ok {
		return t, fmt.Errorf("%w %x: truncated name", errBadRecord, key)
	}
	if t.Origin, _, ok = cutString(rest); !ok {
		return t, fmt.Errorf("%w %x: truncated origin", errBadRecord, key)
	}
	return t, nil
}

func cutString(b []byte) (s string, rest []byte, ok bool) {
	if len(b) < 2 {
		return "", nil, false
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+n {
		return "", nil, false
	}
	return string(b[2 : 2+n]), b[2+n:], true
}

// swarmFormat is the leading byte of a persisted swarm value.
const swarmFormat = 1

// A persisted swarm is: format byte, the tick (uint32) it was written at,
// then for IPv4 and IPv6 in turn a uint32 count followed by the packed
// records exactly as they sit in memory. Stamps are the low byte of a tick,
// so the full tick of the write lets a reader age them correctly however
// long the file sat unused.
const swarmHeader = 1 + 4

func appendSwarm(dst []byte, tick uint32, v4, v6 []byte) []byte {
	dst = append(dst, swarmFormat)
	dst = binary.BigEndian.AppendUint32(dst, tick)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(v4)/modes.Record4))
	dst = append(dst, v4...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(v6)/modes.Record6))
	return append(dst, v6...)
}

// decodeSwarm splits a persisted swarm into its tick and its IPv4 and IPv6
// records (slices of b).
func decodeSwarm(b []byte) (tick uint32, v4, v6 []byte, err error) {
	if len(b) < swarmHeader+8 || b[0] != swarmFormat {
		return 0, nil, nil, errors.New("malformed swarm value")
	}
	tick = binary.BigEndian.Uint32(b[1:])
	rest := b[swarmHeader:]
	if v4, rest, err = cutRecords(rest, modes.Record4); err != nil {
		return 0, nil, nil, err
	}
	if v6, rest, err = cutRecords(rest, modes.Record6); err != nil {
		return 0, nil, nil, err
	}
	if len(rest) != 0 {
		return 0, nil, nil, errors.New("malformed swarm value: trailing bytes")
	}
	return tick, v4, v6, nil
}

func cutRecords(b []byte, stride int) (recs, rest []byte, err error) {
	if len(b) < 4 {
		return nil, nil, errors.New("malformed swarm value: truncated count")
	}
	n := uint64(binary.BigEndian.Uint32(b))
	if n*uint64(stride) > uint64(len(b)-4) {
		return nil, nil, errors.New("malformed swarm value: truncated records")
	}
	end := 4 + int(n)*stride
	return b[4:end], b[end:], nil
}
