package store

import (
	"bufio"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// ParseInfoHash reads an infohash the way operators paste them: 40 hex
// characters, 32 base32 characters, or a magnet link (urn:btih: for v1,
// urn:btmh: with a SHA-256 multihash for v2, which the tracker keys by its
// first 20 bytes, as BEP 52 clients announce it).
func ParseInfoHash(s string) ([20]byte, error) {
	var h [20]byte
	s = strings.TrimSpace(s)
	if strings.HasPrefix(strings.ToLower(s), "magnet:") {
		return parseMagnet(s)
	}
	switch len(s) {
	case 40:
		if _, err := hex.Decode(h[:], []byte(s)); err != nil {
			return h, fmt.Errorf("infohash %q: not hexadecimal", s)
		}
		return h, nil
	case 32:
		b, err := base32.StdEncoding.DecodeString(strings.ToUpper(s))
		if err != nil || len(b) != 20 {
			return h, fmt.Errorf("infohash %q: not base32", s)
		}
		copy(h[:], b)
		return h, nil
	}
	return h, fmt.Errorf("infohash %q: want 40 hex characters, 32 base32 characters or a magnet link", s)
}

// sha256Multihash prefixes a SHA-256 digest in a v2 magnet link.
const sha256Multihash = "1220"

func parseMagnet(link string) ([20]byte, error) {
	var h [20]byte
	u, err := url.Parse(link)
	if err != nil {
		return h, fmt.Errorf("magnet link: %w", err)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return h, fmt.Errorf("magnet link: %w", err)
	}
	for _, xt := range q["xt"] {
		lower := strings.ToLower(xt)
		switch {
		case strings.HasPrefix(lower, "urn:btih:"):
			return ParseInfoHash(xt[len("urn:btih:"):])
		case strings.HasPrefix(lower, "urn:btmh:"+sha256Multihash):
			digest := xt[len("urn:btmh:"+sha256Multihash):]
			if len(digest) != 64 {
				return h, errors.New("magnet link: urn:btmh digest is not 64 hex characters")
			}
			return ParseInfoHash(digest[:40])
		}
	}
	return h, errors.New("magnet link: no urn:btih or urn:btmh (SHA-256) exact topic")
}

// maxHashLine bounds one line of a hash list: a magnet link with a v2
// digest and a name fits many times over, and a binary file fed by mistake
// fails on its first long line instead of filling memory.
const maxHashLine = 4096

// ReadHashList reads a whitelist of bare infohashes, one a line, as
// opentracker keeps them (40 hex characters; base32 and magnet links are
// accepted too), calling fn with each line's number and infohash or the
// reason it is no infohash. Blank lines and lines starting with '#' are
// skipped. The error is the reader's (or a line too long), after which
// nothing more is read.
func ReadHashList(r io.Reader, fn func(line int, hash [20]byte, err error)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 128), maxHashLine)
	n := 0
	for sc.Scan() {
		n++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		h, err := ParseInfoHash(text)
		fn(n, h, err)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("line %d: %w", n+1, err)
	}
	return nil
}
