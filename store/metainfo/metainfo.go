// Package metainfo owns reading .torrent files: it parses BitTorrent v1
// (BEP 3), v2 (BEP 52) and hybrid metainfo, computes their infohashes from
// the exact bytes of the info dictionary, and finds the .torrent files in a
// directory tree. It extracts only what a tracker needs (hashes, name, size,
// file count, private flag) and never touches payload data.
package metainfo

import (
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"slices"
)

// File size bounds. libtorrent refuses .torrent files over 10 MB, so no
// client could use a larger one; DefaultMaxFileSize leaves a few MiB above
// that, and keeps a stray ISO or disk image named ".torrent" from being
// slurped into memory. Decoding is bounded too, by DecodedLimit of the file
// bound in force.
const (
	// DefaultMaxFileSize is the bound when none is given.
	DefaultMaxFileSize = 16 << 20
	// MaxFileSize is the largest bound a caller may set: decoding such a
	// file may take up to DecodedLimit(MaxFileSize), 2 GiB.
	MaxFileSize = 64 << 20
	// MinFileSize is the smallest bound a caller may set; the smallest
	// real torrents are a few hundred bytes.
	MinFileSize = 1 << 10
)

// Options bound and steer reading .torrent files. The zero value reads with
// the defaults.
type Options struct {
	// MaxFileSize bounds one file's size, and through DecodedLimit what
	// decoding it may take; zero means DefaultMaxFileSize. Values outside
	// MinFileSize..MaxFileSize are clamped.
	MaxFileSize int64
	// Skip, when set, is called by WalkWith with each file's metadata
	// (that of the open file, so of a link's target) before the file is
	// read; returning true leaves it unread and unreported.
	Skip func(path string, fi fs.FileInfo) bool
}

// maxFileSize is o.MaxFileSize with the default and bounds applied.
func (o Options) maxFileSize() int64 {
	switch {
	case o.MaxFileSize == 0:
		return DefaultMaxFileSize
	case o.MaxFileSize < MinFileSize:
		return MinFileSize
	case o.MaxFileSize > MaxFileSize:
		return MaxFileSize
	}
	return o.MaxFileSize
}

var (
	// ErrNotTorrent means the input is not a well-formed bencoded
	// dictionary holding an info dictionary: not bencode at all, truncated,
	// trailing garbage, or no usable info key.
	ErrNotTorrent = errors.New("not a torrent file")
	// ErrInvalidInfo means the info dictionary is present but breaks the
	// metainfo rules of BEP 3 or BEP 52 (missing or malformed fields).
	ErrInvalidInfo = errors.New("invalid info dictionary")
	// ErrTooLarge means a file is bigger than the size bound, or would
	// take more memory to decode than the bound allows.
	ErrTooLarge = errors.New("file too large")
)

// Torrent is what the tracker needs to know of one .torrent file.
type Torrent struct {
	HasV1      bool
	InfoHashV1 [20]byte // SHA-1 of the exact bytes of the bencoded info dictionary as stored in the file
	HasV2      bool
	InfoHashV2 [32]byte // SHA-256 of the same bytes (set when the info dict has `meta version` 2)
	Name       string
	Length     int64 // total payload size in bytes (sum of files, padding excluded)
	Files      int   // number of files (1 for single-file), padding excluded
	Private    bool  // info["private"] == 1
}

// Primary returns the 20-byte key the tracker registers the torrent under:
// the SHA-1 infohash for v1 and hybrid torrents, the SHA-256 infohash
// truncated to 20 bytes for v2-only torrents.
func (t *Torrent) Primary() [20]byte {
	if t.HasV1 {
		return t.InfoHashV1
	}
	return truncate(t.InfoHashV2)
}

// Alias returns the second 20-byte infohash a hybrid torrent is announced
// under (truncated SHA-256), and ok=false for v1-only or v2-only torrents.
func (t *Torrent) Alias() (alias [20]byte, ok bool) {
	if t.HasV1 && t.HasV2 {
		return truncate(t.InfoHashV2), true
	}
	return alias, false
}

// truncate gives the form BEP 52 uses for v2 infohashes in 20-byte slots
// such as the announce info_hash parameter.
func truncate(h [32]byte) (out [20]byte) {
	copy(out[:], h[:20])
	return out
}

// Parse parses a .torrent file's bytes with the default bounds.
func Parse(data []byte) (*Torrent, error) { return Options{}.Parse(data) }

// Parse parses a .torrent file's bytes, refusing with ErrTooLarge a file
// whose decoding would take more than DecodedLimit of o's file bound.
func (o Options) Parse(data []byte) (*Torrent, error) {
	top, raw, err := topLevel(data, DecodedLimit(o.maxFileSize()))
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, fmt.Errorf("%w: no info dictionary", ErrNotTorrent)
	}
	// top["info"] is the decoding of exactly the bytes in raw, so the
	// fields read below and the hashes computed from raw agree.
	info, ok := top["info"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: info is not a dictionary", ErrNotTorrent)
	}
	t, err := readInfo(info)
	if err != nil {
		return nil, err
	}
	if t.HasV1 {
		t.InfoHashV1 = sha1.Sum(raw)
	}
	if t.HasV2 {
		t.InfoHashV2 = sha256.Sum256(raw)
	}
	return t, nil
}

// ParseFile reads and parses one file with the default bounds; errors name
// the file.
func ParseFile(path string) (*Torrent, error) { return Options{}.ParseFile(path) }

// ParseFile reads and parses one file; errors name the file.
func (o Options) ParseFile(path string) (*Torrent, error) {
	t, _, err := o.parseFile(path, false)
	return t, err
}

// parseFile opens path and, unless o.Skip (when asked) says to leave it,
// reads and parses it; skipped reports a file left unread.
func (o Options) parseFile(path string, askSkip bool) (t *Torrent, skipped bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err // *PathError already names the file
	}
	defer f.Close()
	limit := o.maxFileSize()
	// Stat refuses an oversized regular file without reading it; the
	// LimitReader still bounds anything Stat cannot size (a file growing
	// under us, a pipe).
	fi, err := f.Stat()
	if err != nil {
		return nil, false, err
	}
	if askSkip && o.Skip != nil && o.Skip(path, fi) {
		return nil, true, nil
	}
	if fi.Mode().IsRegular() && fi.Size() > limit {
		return nil, false, fmt.Errorf("%s: %w: %d bytes, limit %d", path, ErrTooLarge, fi.Size(), limit)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, false, fmt.Errorf("%s: %w: more than %d bytes", path, ErrTooLarge, limit)
	}
	t, err = o.Parse(data)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", path, err)
	}
	return t, false, nil
}

// invalid builds an ErrInvalidInfo error.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidInfo, fmt.Sprintf(format, args...))
}

// readInfo checks the info dictionary and extracts the tracker's fields.
// Which versions the torrent has follows BEP 52: `meta version` 2 makes it
// v2, and v1 fields (pieces, length or files) alongside make it hybrid.
func readInfo(info map[string]any) (*Torrent, error) {
	t := &Torrent{}
	name, ok := info["name"].(string)
	if !ok || name == "" {
		return nil, invalid("missing or empty name")
	}
	t.Name = name
	if p, ok := info["private"].(int64); ok && p == 1 {
		t.Private = true
	}

	_, hasPieces := info["pieces"]
	_, hasLength := info["length"]
	_, hasFiles := info["files"]
	t.HasV1 = hasPieces || hasLength || hasFiles
	if mv, present := info["meta version"]; present {
		if n, ok := mv.(int64); !ok || n != 2 {
			return nil, invalid("unsupported meta version %v", mv)
		}
		t.HasV2 = true
	}
	if !t.HasV1 && !t.HasV2 {
		return nil, invalid("neither v1 fields (pieces, length, files) nor meta version 2")
	}

	pieceLength, ok := info["piece length"].(int64)
	if !ok || pieceLength <= 0 {
		return nil, invalid("missing or non-positive piece length")
	}

	var v1Files int
	var v1Length int64
	if t.HasV1 {
		var err error
		if v1Files, v1Length, err = readV1(info, pieceLength); err != nil {
			return nil, err
		}
		t.Files, t.Length = v1Files, v1Length
	}
	if t.HasV2 {
		// BEP 52: a power of two, at least 16 KiB.
		if pieceLength < 16<<10 || pieceLength&(pieceLength-1) != 0 {
			return nil, invalid("v2 piece length %d is not a power of two of at least 16 KiB", pieceLength)
		}
		tree, ok := info["file tree"].(map[string]any)
		if !ok {
			return nil, invalid("meta version 2 without a file tree dictionary")
		}
		var s treeSum
		if err := s.walk(tree, ""); err != nil {
			return nil, err
		}
		if s.files == 0 {
			return nil, invalid("empty file tree")
		}
		// A hybrid describes one payload twice; if the halves disagree,
		// v1 and v2 peers would be sharing different things.
		if t.HasV1 && (s.files != v1Files || s.length != v1Length) {
			return nil, invalid("v1 files (%d, %d bytes) and v2 file tree (%d, %d bytes) disagree",
				v1Files, v1Length, s.files, s.length)
		}
		t.Files, t.Length = s.files, s.length
	}
	return t, nil
}

// readV1 checks the BEP 3 fields and returns the file count and payload size,
// leaving out BEP 47 padding files (hybrid torrents have them), which are not
// payload. The piece count must cover the whole piece space, padding
// included.
func readV1(info map[string]any, pieceLength int64) (files int, length int64, err error) {
	pieces, ok := info["pieces"].(string)
	if !ok {
		return 0, 0, invalid("missing pieces")
	}
	if len(pieces)%sha1.Size != 0 {
		return 0, 0, invalid("pieces is %d bytes, not a multiple of %d", len(pieces), sha1.Size)
	}

	var space int64 // bytes covered by pieces, padding included
	single, hasLength := info["length"]
	list, hasFiles := info["files"]
	switch {
	case hasLength && hasFiles:
		return 0, 0, invalid("both length and files")
	case hasLength:
		n, ok := single.(int64)
		if !ok || n < 0 {
			return 0, 0, invalid("length is not a non-negative integer")
		}
		files, length, space = 1, n, n
	case hasFiles:
		entries, ok := list.([]any)
		if !ok || len(entries) == 0 {
			return 0, 0, invalid("files is not a non-empty list")
		}
		for i, e := range entries {
			n, pad, err := readV1File(e)
			if err != nil {
				return 0, 0, fmt.Errorf("files[%d]: %w", i, err)
			}
			if n > math.MaxInt64-space {
				return 0, 0, invalid("total length overflows")
			}
			space += n
			if !pad {
				files++
				length += n
			}
		}
	default:
		return 0, 0, invalid("neither length nor files")
	}

	want := space / pieceLength
	if space%pieceLength != 0 {
		want++
	}
	if got := int64(len(pieces) / sha1.Size); got != want {
		return 0, 0, invalid("%d piece hashes for %d bytes at piece length %d, want %d", got, space, pieceLength, want)
	}
	return files, length, nil
}

// readV1File checks one entry of a v1 files list.
func readV1File(e any) (length int64, pad bool, err error) {
	f, ok := e.(map[string]any)
	if !ok {
		return 0, false, invalid("not a dictionary")
	}
	length, ok = f["length"].(int64)
	if !ok || length < 0 {
		return 0, false, invalid("length is not a non-negative integer")
	}
	path, ok := f["path"].([]any)
	if !ok || len(path) == 0 {
		return 0, false, invalid("path is not a non-empty list")
	}
	for _, p := range path {
		if s, ok := p.(string); !ok || s == "" {
			return 0, false, invalid("path has an empty or non-string component")
		}
	}
	attr, _ := f["attr"].(string)
	for i := 0; i < len(attr); i++ {
		if attr[i] == 'p' {
			pad = true
		}
	}
	return length, pad, nil
}

// treeSum accumulates the files of a v2 file tree.
type treeSum struct {
	files  int
	length int64
}

// walk visits one directory of a BEP 52 file tree. A file is a dictionary
// whose only key is "" and whose value holds its length and, when it is not
// empty, the 32-byte root of its piece hashes. Depth is already bounded by
// the decoder.
func (s *treeSum) walk(dir map[string]any, at string) error {
	if len(dir) == 0 {
		return invalid("file tree: empty directory %q", at)
	}
	// Sorted so that, of several problems, the same one is always reported.
	for _, name := range slices.Sorted(maps.Keys(dir)) {
		v := dir[name]
		path := at + "/" + name
		if name == "" {
			return invalid("file tree: empty path component under %q", at)
		}
		node, ok := v.(map[string]any)
		if !ok {
			return invalid("file tree: %q is not a dictionary", path)
		}
		leaf, isFile := node[""]
		if !isFile {
			if err := s.walk(node, path); err != nil {
				return err
			}
			continue
		}
		if len(node) != 1 {
			return invalid("file tree: %q is both a file and a directory", path)
		}
		file, ok := leaf.(map[string]any)
		if !ok {
			return invalid("file tree: %q file entry is not a dictionary", path)
		}
		n, ok := file["length"].(int64)
		if !ok || n < 0 {
			return invalid("file tree: %q length is not a non-negative integer", path)
		}
		if n > 0 {
			if root, ok := file["pieces root"].(string); !ok || len(root) != sha256.Size {
				return invalid("file tree: %q has no 32-byte pieces root", path)
			}
		}
		if n > math.MaxInt64-s.length {
			return invalid("file tree: total length overflows")
		}
		s.files++
		s.length += n
	}
	return nil
}
