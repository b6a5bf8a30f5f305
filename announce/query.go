package announce

import (
	"bytes"
	"math"

	"johnlocke/store"
)

// Limits on what one request may ask for.
const (
	// MaxScrapeHashes is how many infohashes one scrape may name. 64 covers
	// every client's batched scrape and bounds the work one request causes.
	MaxScrapeHashes = 64
	// MaxNumWant is where a client's numwant is clamped. It is above any
	// sane --maxpeers (the store applies that cap itself) and keeps the
	// value well inside int32.
	MaxNumWant = 1 << 16
	// maxTransferBytes bounds uploaded, downloaded and left. BEP 15 carries
	// them as signed 64-bit numbers, so anything larger is nonsense and
	// would overflow an int64 consumer.
	maxTransferBytes = math.MaxInt64
	// maxNumberLen is the longest decoded numeric value accepted. A uint64
	// has at most 20 digits; a little slack admits leading zeros.
	maxNumberLen = 24
	// maxKeyLen is the longest parameter name we compare against; longer
	// names are unknown parameters and ignored.
	maxKeyLen = 16
)

// AnnounceOptions are the parts of an announce query that shape the answer
// but are not the store's business.
type AnnounceOptions struct {
	// Compact is true unless the client sent compact=0 (BEP 23: compact is
	// the default here).
	Compact bool
	// NoPeerID records no_peer_id=1. This tracker stores no peer ids, so
	// dictionary answers never carry them either way.
	NoPeerID bool
}

// Bits recording which announce parameters were seen, to detect missing
// and conflicting duplicate parameters.
const (
	seenInfoHash uint16 = 1 << iota
	seenPeerID
	seenPort
	seenUploaded
	seenDownloaded
	seenLeft
	seenEvent
	seenNumWant
	seenCompact
)

// ParseAnnounceQuery parses the query string of an HTTP announce (the part
// after '?') into req, which it overwrites entirely; the caller fills in the
// client's address afterwards. It allocates nothing.
//
// info_hash and peer_id must decode to exactly 20 bytes; port (1..65535)
// and left are required; uploaded and downloaded default to 0. event may be
// started, completed, stopped, empty or paused (paused and empty count as a
// periodic announce). numwant defaults to -1 (no preference), a negative
// value means the same, and a larger value than MaxNumWant is clamped.
// Unknown parameters, and ip, key, trackerid, supportcrypto and the like,
// are ignored; the peer's address never comes from the query. A parameter
// repeated with a different value is an error. Errors are store.Failure
// constants fit to send to the client.
func ParseAnnounceQuery(query []byte, req *store.Request) (AnnounceOptions, error) {
	*req = store.Request{NumWant: -1}
	opts := AnnounceOptions{Compact: true}
	var seen uint16
	for len(query) > 0 {
		var key, val []byte
		key, val, query = nextParam(query)
		var kbuf [maxKeyLen]byte
		k, ok := unescapeKey(kbuf[:], key)
		if !ok {
			continue
		}
		switch string(k) {
		case "info_hash":
			var h [20]byte
			if err := unescapeExact(h[:], val, ErrInvalidInfoHash); err != nil {
				return opts, err
			}
			if seen&seenInfoHash != 0 && h != req.InfoHash {
				return opts, ErrConflictingInfoHash
			}
			req.InfoHash = h
			seen |= seenInfoHash
		case "peer_id":
			var id [20]byte
			if err := unescapeExact(id[:], val, ErrInvalidPeerID); err != nil {
				return opts, err
			}
			if seen&seenPeerID != 0 && id != req.PeerID {
				return opts, ErrDuplicateParam
			}
			req.PeerID = id
			seen |= seenPeerID
		case "port":
			n, err := unescapeUint(val, math.MaxUint16, ErrInvalidPort)
			if err != nil {
				return opts, err
			}
			if n == 0 {
				return opts, ErrInvalidPort
			}
			if seen&seenPort != 0 && uint16(n) != req.Port {
				return opts, ErrDuplicateParam
			}
			req.Port = uint16(n)
			seen |= seenPort
		case "uploaded":
			n, err := unescapeUint(val, maxTransferBytes, ErrInvalidUploaded)
			if err != nil {
				return opts, err
			}
			if seen&seenUploaded != 0 && n != req.Uploaded {
				return opts, ErrDuplicateParam
			}
			req.Uploaded = n
			seen |= seenUploaded
		case "downloaded":
			n, err := unescapeUint(val, maxTransferBytes, ErrInvalidDownloaded)
			if err != nil {
				return opts, err
			}
			if seen&seenDownloaded != 0 && n != req.Downloaded {
				return opts, ErrDuplicateParam
			}
			req.Downloaded = n
			seen |= seenDownloaded
		case "left":
			n, err := unescapeUint(val, maxTransferBytes, ErrInvalidLeft)
			if err != nil {
				return opts, err
			}
			if seen&seenLeft != 0 && n != req.Left {
				return opts, ErrDuplicateParam
			}
			req.Left = n
			seen |= seenLeft
		case "event":
			ev, err := parseEvent(val)
			if err != nil {
				return opts, err
			}
			if seen&seenEvent != 0 && ev != req.Event {
				return opts, ErrDuplicateParam
			}
			req.Event = ev
			seen |= seenEvent
		case "numwant":
			n, err := parseNumWant(val)
			if err != nil {
				return opts, err
			}
			if seen&seenNumWant != 0 && n != req.NumWant {
				return opts, ErrDuplicateParam
			}
			req.NumWant = n
			seen |= seenNumWant
		case "compact":
			c, err := parseCompact(val)
			if err != nil {
				return opts, err
			}
			if seen&seenCompact != 0 && c != opts.Compact {
				return opts, ErrDuplicateParam
			}
			opts.Compact = c
			seen |= seenCompact
		case "no_peer_id":
			// Any value but an explicit 0 asks for it; it changes nothing
			// here because peer ids are never sent.
			opts.NoPeerID = !(len(val) == 1 && val[0] == '0')
		}
	}
	switch {
	case seen&seenInfoHash == 0:
		return opts, ErrMissingInfoHash
	case seen&seenPeerID == 0:
		return opts, ErrMissingPeerID
	case seen&seenPort == 0:
		return opts, ErrMissingPort
	case seen&seenLeft == 0:
		return opts, ErrMissingLeft
	}
	return opts, nil
}

// ParseScrapeQuery parses the query string of an HTTP scrape (BEP 48) and
// writes its info_hash values into dst, sorted and without duplicates so
// they can be written out as bencoded dictionary keys in order. It returns
// how many there are and allocates nothing. A scrape naming no infohash
// (a full scrape) is refused, as is one with more than MaxScrapeHashes.
func ParseScrapeQuery(query []byte, dst *[MaxScrapeHashes][20]byte) (int, error) {
	n := 0
	for len(query) > 0 {
		var key, val []byte
		key, val, query = nextParam(query)
		var kbuf [maxKeyLen]byte
		k, ok := unescapeKey(kbuf[:], key)
		if !ok || string(k) != "info_hash" {
			continue
		}
		var h [20]byte
		if err := unescapeExact(h[:], val, ErrInvalidInfoHash); err != nil {
			return 0, err
		}
		if n == len(dst) {
			return 0, ErrTooManyInfoHashes
		}
		dst[n] = h
		n++
	}
	if n == 0 {
		return 0, ErrFullScrape
	}
	return sortUniqueHashes(dst[:n]), nil
}

// sortUniqueHashes sorts hs in place, drops repeats and returns how many
// distinct hashes remain at its front. Insertion sort: hs is at most
// MaxScrapeHashes long and usually one.
func sortUniqueHashes(hs [][20]byte) int {
	for i := 1; i < len(hs); i++ {
		for j := i; j > 0 && bytes.Compare(hs[j][:], hs[j-1][:]) < 0; j-- {
			hs[j], hs[j-1] = hs[j-1], hs[j]
		}
	}
	n := 0
	for i := range hs {
		if n > 0 && hs[i] == hs[n-1] {
			continue
		}
		hs[n] = hs[i]
		n++
	}
	return n
}

// nextParam splits the first key=value pair off a query string. A pair
// without '=' has an empty value.
func nextParam(q []byte) (key, val, rest []byte) {
	pair := q
	if i := bytes.IndexByte(q, '&'); i >= 0 {
		pair, rest = q[:i], q[i+1:]
	}
	key = pair
	if i := bytes.IndexByte(pair, '='); i >= 0 {
		key, val = pair[:i], pair[i+1:]
	}
	return key, val, rest
}

// unhex returns the value of one hex digit and whether c is one.
func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// errTooLong and errBadEscape are unescape's internal results; callers turn
// them into the failure of the field being decoded.
const (
	errTooLong   store.Failure = "value too long"
	errBadEscape store.Failure = "bad escape"
)

// unescape percent-decodes src into dst ('+' is a space, as in form
// encoding) and returns how many bytes it wrote. It fails with errBadEscape
// on a '%' not followed by two hex digits and with errTooLong when the
// decoded value does not fit dst.
func unescape(dst, src []byte) (int, error) {
	n := 0
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch c {
		case '%':
			if i+2 >= len(src) {
				return n, errBadEscape
			}
			hi, ok1 := unhex(src[i+1])
			lo, ok2 := unhex(src[i+2])
			if !ok1 || !ok2 {
				return n, errBadEscape
			}
			c = hi<<4 | lo
			i += 2
		case '+':
			c = ' '
		}
		if n == len(dst) {
			return n, errTooLong
		}
		dst[n] = c
		n++
	}
	return n, nil
}

// unescapeKey decodes a parameter name into buf. ok is false for a name too
// long or malformed to be one we know, which the caller ignores.
func unescapeKey(buf, key []byte) ([]byte, bool) {
	n, err := unescape(buf, key)
	if err != nil {
		return nil, false
	}
	return buf[:n], true
}

// unescapeExact decodes src into dst, which it must fill exactly; a wrong
// length is reported as invalid.
func unescapeExact(dst, src []byte, invalid store.Failure) error {
	n, err := unescape(dst, src)
	switch {
	case err == errBadEscape:
		return ErrBadEscape
	case err != nil || n != len(dst):
		return invalid
	}
	return nil
}

// unescapeUint decodes src and parses it as a decimal number no larger
// than limit.
func unescapeUint(src []byte, limit uint64, invalid store.Failure) (uint64, error) {
	var buf [maxNumberLen]byte
	n, err := unescape(buf[:], src)
	if err == errBadEscape {
		return 0, ErrBadEscape
	}
	if err != nil {
		return 0, invalid
	}
	v, ok := parseUint(buf[:n], limit)
	if !ok {
		return 0, invalid
	}
	return v, nil
}

// parseUint parses a non-empty run of decimal digits no larger than limit.
func parseUint(b []byte, limit uint64) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (limit-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// parseEvent reads an event value. paused (sent by some clients for a
// paused torrent that keeps its connections) and empty count as none.
func parseEvent(src []byte) (store.Event, error) {
	var buf [16]byte
	n, err := unescape(buf[:], src)
	if err == errBadEscape {
		return 0, ErrBadEscape
	}
	if err != nil {
		return 0, ErrInvalidEvent
	}
	switch string(buf[:n]) {
	case "", "empty", "paused":
		return store.EventNone, nil
	case "started":
		return store.EventStarted, nil
	case "completed":
		return store.EventCompleted, nil
	case "stopped":
		return store.EventStopped, nil
	}
	return 0, ErrInvalidEvent
}

// parseNumWant reads numwant: empty or negative means no preference (-1),
// a huge value is clamped to MaxNumWant, anything else not a number is an
// error.
func parseNumWant(src []byte) (int32, error) {
	var buf [maxNumberLen]byte
	n, err := unescape(buf[:], src)
	if err == errBadEscape {
		return 0, ErrBadEscape
	}
	if err != nil {
		return 0, ErrInvalidNumWant
	}
	b := buf[:n]
	if len(b) == 0 {
		return -1, nil
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, ErrInvalidNumWant
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, ErrInvalidNumWant
		}
		if v <= MaxNumWant {
			v = v*10 + int64(c-'0')
		}
	}
	switch {
	case neg:
		return -1, nil
	case v > MaxNumWant:
		return MaxNumWant, nil
	}
	return int32(v), nil
}

// parseCompact reads compact: 1 or empty asks for compact peers, 0 for the
// dictionary model.
func parseCompact(src []byte) (bool, error) {
	switch {
	case len(src) == 0:
		return true, nil
	case len(src) == 1 && src[0] == '1':
		return true, nil
	case len(src) == 1 && src[0] == '0':
		return false, nil
	}
	return false, ErrInvalidCompact
}
