package metainfo

import (
	"fmt"
	"strconv"
)

// maxDepth bounds how deeply lists and dictionaries may nest. Real torrents
// need a handful of levels (a v2 file tree adds one per directory), and the
// bound keeps a hostile file from driving the recursive decoder into a stack
// overflow.
const maxDepth = 64

// maxIntDigits is the longest integer body accepted: an int64 has at most 19
// digits, so anything longer is absurd and is refused before it is parsed.
const maxIntDigits = 19

// The decoded tree costs far more than its bytes: "de" is two bytes of
// input and, as a map in a list, about 140 bytes of heap; a 60 MB file of
// them once took 2.5 GB. The decoder charges each value an estimate of its
// heap cost, from measurements of this decoder with Go 1.26 (TotalAlloc per
// value decoded in a long list), and stops when the charge passes its
// budget (see DecodedLimit).
const (
	// costSlot is a value's interface slot in its parent, with the slack
	// of a list grown by append.
	costSlot = 32
	// costDict is a map's header and costDictGroup one group of eight
	// entries, both allocated with the first entry (an empty dictionary
	// is a nil map), and a group with every eighth entry after it.
	costDict      = 48
	costDictGroup = 272
	// costList is a list's boxed slice header (an empty list is a nil
	// slice, which costs nothing; the charge keeps the estimate simple).
	costList = 24
	// costString is a string's boxed header; its bytes are charged too.
	costString = 16
	// costInt is a boxed int64.
	costInt = 8
	// maxDecodedRatio: by these costs a torrent decodes to 10 to 13
	// times its size (a v1 list of small files, a v2 file tree; a file of
	// mostly piece hashes about once), but a file list with names of a
	// few bytes reaches 20 and a v2 tree of empty files 31, and libtorrent
	// loads such files up to 10 MB. The budget is this many times the
	// largest file accepted, so every torrent a client can load fits under
	// the default bound, and no file, however built, takes more.
	maxDecodedRatio = 32
)

// DecodedLimit is the most heap, in estimated bytes, that decoding one file
// may take when files are at most maxFileSize bytes.
func DecodedLimit(maxFileSize int64) int64 { return maxDecodedRatio * maxFileSize }

// decoder is a strict bencode reader over an in-memory buffer. It decodes
// dictionaries to map[string]any, lists to []any, integers to int64 and
// strings to string. Every allocation is bounded by bytes actually present in
// the buffer, never by a length the input merely claims, and all of them
// together by budget.
type decoder struct {
	buf []byte
	pos int
	// budget is what is left to spend, in estimated bytes of heap.
	budget int64
	limit  int64 // the budget at the start, for the error
}

// charge takes cost from the budget, failing once it is spent.
func (d *decoder) charge(cost int64) error {
	d.budget -= cost
	if d.budget < 0 {
		return fmt.Errorf("%w: decoding takes more than %d bytes of memory (%d times the largest file accepted)",
			ErrTooLarge, d.limit, maxDecodedRatio)
	}
	return nil
}

// syntaxError reports malformed bencode at the current position.
func (d *decoder) syntaxError(format string, args ...any) error {
	return fmt.Errorf("%w: bencode at byte %d: %s", ErrNotTorrent, d.pos, fmt.Sprintf(format, args...))
}

// topLevel decodes buf as one bencoded dictionary with nothing after it and
// returns it together with the raw bytes of its "info" value, exactly as they
// appear in buf: the infohash is defined over those bytes, and re-encoding
// the decoded value could change them (unsorted keys, for one).
// Decoding stops with ErrTooLarge once it would take more than limit bytes.
func topLevel(buf []byte, limit int64) (top map[string]any, rawInfo []byte, err error) {
	d := &decoder{buf: buf, budget: limit, limit: limit}
	if len(buf) == 0 || buf[0] != 'd' {
		return nil, nil, d.syntaxError("top-level value is not a dictionary")
	}
	d.pos++
	top = map[string]any{}
	for {
		if d.pos >= len(d.buf) {
			return nil, nil, d.syntaxError("unexpected end of input in dictionary")
		}
		if d.buf[d.pos] == 'e' {
			d.pos++
			break
		}
		key, err := d.key(top)
		if err != nil {
			return nil, nil, err
		}
		start := d.pos
		v, err := d.value(1)
		if err != nil {
			return nil, nil, err
		}
		if key == "info" {
			rawInfo = d.buf[start:d.pos]
		}
		top[key] = v
	}
	if d.pos != len(d.buf) {
		return nil, nil, d.syntaxError("%d bytes of trailing data after the top-level dictionary", len(d.buf)-d.pos)
	}
	return top, rawInfo, nil
}

// value decodes one value; depth counts the containers already open around it.
func (d *decoder) value(depth int) (any, error) {
	if d.pos >= len(d.buf) {
		return nil, d.syntaxError("unexpected end of input")
	}
	if err := d.charge(costSlot); err != nil {
		return nil, err
	}
	switch c := d.buf[d.pos]; {
	case c == 'i':
		if err := d.charge(costInt); err != nil {
			return nil, err
		}
		return d.integer()
	case c >= '0' && c <= '9':
		return d.str()
	case c == 'l':
		if depth >= maxDepth {
			return nil, d.syntaxError("nesting deeper than %d", maxDepth)
		}
		if err := d.charge(costList); err != nil {
			return nil, err
		}
		d.pos++
		// nil until the first element: an empty list costs nothing
		// beyond its slot (a nil slice boxes without allocating).
		var list []any
		for {
			if d.pos >= len(d.buf) {
				return nil, d.syntaxError("unexpected end of input in list")
			}
			if d.buf[d.pos] == 'e' {
				d.pos++
				return list, nil
			}
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
	case c == 'd':
		if depth >= maxDepth {
			return nil, d.syntaxError("nesting deeper than %d", maxDepth)
		}
		d.pos++
		// nil until the first key: an empty dictionary costs nothing
		// beyond its slot, and reads like an empty one.
		var dict map[string]any
		for {
			if d.pos >= len(d.buf) {
				return nil, d.syntaxError("unexpected end of input in dictionary")
			}
			if d.buf[d.pos] == 'e' {
				d.pos++
				return dict, nil
			}
			key, err := d.key(dict)
			if err != nil {
				return nil, err
			}
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			if dict == nil {
				dict = map[string]any{}
			}
			dict[key] = v
		}
	default:
		return nil, d.syntaxError("unexpected byte %q", c)
	}
}

// key reads a dictionary key. Keys need not be sorted (plenty of real files
// get that wrong and the hash is over the bytes anyway), but a repeated key is
// refused: which of the two values counts would be a guess.
func (d *decoder) key(dict map[string]any) (string, error) {
	if c := d.buf[d.pos]; c < '0' || c > '9' {
		return "", d.syntaxError("dictionary key is not a string")
	}
	cost := int64(0)
	if len(dict) == 0 {
		cost += costDict
	}
	if len(dict)%8 == 0 {
		cost += costDictGroup
	}
	if err := d.charge(cost); err != nil {
		return "", err
	}
	at := d.pos
	key, err := d.str()
	if err != nil {
		return "", err
	}
	if _, dup := dict[key]; dup {
		d.pos = at
		return "", d.syntaxError("duplicate dictionary key %q", key)
	}
	return key, nil
}

// integer reads i<digits>e, refusing empty bodies, leading zeros, "-0" and
// bodies too long for an int64.
func (d *decoder) integer() (int64, error) {
	d.pos++ // 'i'
	start := d.pos
	for d.pos < len(d.buf) && d.buf[d.pos] != 'e' {
		if d.pos-start > maxIntDigits { // one extra byte for a minus sign
			return 0, d.syntaxError("integer too long")
		}
		d.pos++
	}
	if d.pos >= len(d.buf) {
		return 0, d.syntaxError("unexpected end of input in integer")
	}
	body := string(d.buf[start:d.pos])
	digits := body
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	switch {
	case !allDigits(digits):
		return 0, d.syntaxError("malformed integer %q", body)
	case len(digits) > 1 && digits[0] == '0':
		return 0, d.syntaxError("integer %q has a leading zero", body)
	case body == "-0":
		return 0, d.syntaxError("integer -0 is not allowed")
	}
	n, err := strconv.ParseInt(body, 10, 64)
	if err != nil {
		return 0, d.syntaxError("integer %q out of range", body)
	}
	d.pos++ // 'e'
	return n, nil
}

// str reads <length>:<bytes>. The length is checked against what is left of
// the buffer before anything is copied.
func (d *decoder) str() (string, error) {
	start := d.pos
	for d.pos < len(d.buf) && d.buf[d.pos] != ':' {
		c := d.buf[d.pos]
		if c < '0' || c > '9' {
			return "", d.syntaxError("malformed string length")
		}
		if d.pos-start >= maxIntDigits {
			return "", d.syntaxError("string length too long")
		}
		d.pos++
	}
	if d.pos >= len(d.buf) {
		return "", d.syntaxError("unexpected end of input in string length")
	}
	digits := string(d.buf[start:d.pos])
	if len(digits) > 1 && digits[0] == '0' {
		return "", d.syntaxError("string length %q has a leading zero", digits)
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return "", d.syntaxError("malformed string length %q", digits)
	}
	d.pos++ // ':'
	if n > int64(len(d.buf)-d.pos) {
		return "", d.syntaxError("string of %d bytes runs past the end of input", n)
	}
	if err := d.charge(costString + n); err != nil {
		return "", err
	}
	s := string(d.buf[d.pos : d.pos+int(n)])
	d.pos += int(n)
	return s, nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
