package loadgen

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
)

// maxLineLen bounds one line of an infohash file; a real line is 40 hex
// digits and perhaps a comment.
const maxLineLen = 4096

// LoadInfoHashes reads an infohash list: one infohash per line as 40 hex
// digits, blank lines and '#' comments (whole lines, or after the hash)
// ignored. It is the format of opentracker's whitelist, so one file can
// register the same torrents with both trackers. A file with no infohash
// is an error.
func LoadInfoHashes(path string) ([][20]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open infohashes: %w", err)
	}
	defer f.Close()
	var out [][20]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 128), maxLineLen)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if i := bytes.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var h [20]byte
		if len(line) != 2*len(h) {
			return nil, fmt.Errorf("%s:%d: want 40 hex digits, got %q", path, n, line)
		}
		if _, err := hex.Decode(h[:], line); err != nil {
			return nil, fmt.Errorf("%s:%d: want 40 hex digits, got %q", path, n, line)
		}
		out = append(out, h)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no infohashes", path)
	}
	return out, nil
}
