package loadgen

import "bytes"

// maxDepth bounds the nesting the bencode scanner follows; an announce
// answer nests two deep at most (a dictionary answer's peer list).
const maxDepth = 16

// scanResult is what an announce answer says that the load generator needs.
type scanResult struct {
	peers   int    // compact IPv4 entries, or entries of a dictionary peer list
	peers6  int    // compact IPv6 entries
	failure []byte // the failure reason, pointing into the body
}

// scanAnnounce checks that body is exactly one well-formed bencoded
// dictionary and reads its peers, peers6, interval and failure reason
// without building anything. It does not insist on sorted keys (several
// trackers do not sort them).
func scanAnnounce(body []byte, res *scanResult) errKind {
	*res = scanResult{}
	if len(body) == 0 || body[0] != 'd' {
		return errBencode
	}
	var hasInterval, hasPeers, hasFailure bool
	i := 1
	for {
		if i >= len(body) {
			return errBencode
		}
		if body[i] == 'e' {
			i++
			break
		}
		key, next, ok := scanString(body, i)
		if !ok {
			return errBencode
		}
		i = next
		if i >= len(body) {
			return errBencode
		}
		switch {
		case string(key) == "peers" && body[i] == 'l':
			n, next, ok := scanList(body, i)
			if !ok {
				return errBencode
			}
			res.peers, hasPeers, i = n, true, next
			continue
		case string(key) == "peers" || string(key) == "peers6" || string(key) == "failure reason":
			v, next, ok := scanString(body, i)
			if !ok {
				return errBencode
			}
			i = next
			switch string(key) {
			case "peers":
				if len(v)%6 != 0 {
					return errPeers
				}
				res.peers, hasPeers = len(v)/6, true
			case "peers6":
				if len(v)%18 != 0 {
					return errPeers
				}
				res.peers6 = len(v) / 18
			default:
				res.failure, hasFailure = v, true
			}
			continue
		case string(key) == "interval":
			if body[i] != 'i' {
				return errBencode
			}
			hasInterval = true
		}
		next, ok = skipValue(body, i, 1)
		if !ok {
			return errBencode
		}
		i = next
	}
	if i != len(body) {
		return errBencode
	}
	if hasFailure {
		return errFailure
	}
	if !hasInterval || !hasPeers {
		return errFields
	}
	return errNone
}

// scanList counts the elements of the list at b[i], each of which must be
// a dictionary (a peer), and returns the index after it.
func scanList(b []byte, i int) (n, next int, ok bool) {
	i++ // 'l'
	for i < len(b) {
		if b[i] == 'e' {
			return n, i + 1, true
		}
		if b[i] != 'd' {
			return 0, 0, false
		}
		if i, ok = skipValue(b, i, 2); !ok {
			return 0, 0, false
		}
		n++
	}
	return 0, 0, false
}

// scanString reads the byte string at b[i] ("<len>:<bytes>").
func scanString(b []byte, i int) (s []byte, next int, ok bool) {
	n, start := 0, i
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if i-start >= 9 { // longer than any buffer we read
			return nil, 0, false
		}
		n = n*10 + int(b[i]-'0')
	}
	if i == start || i >= len(b) || b[i] != ':' || (b[start] == '0' && i-start > 1) {
		return nil, 0, false
	}
	i++
	if n > len(b)-i {
		return nil, 0, false
	}
	return b[i : i+n], i + n, true
}

// scanInt reads the integer at b[i] ("i<digits>e", no leading zeros, no -0).
func scanInt(b []byte, i int) (next int, ok bool) {
	end := bytes.IndexByte(b[i:], 'e')
	if end < 0 {
		return 0, false
	}
	d := b[i+1 : i+end]
	if len(d) > 0 && d[0] == '-' {
		d = d[1:]
		if len(d) > 0 && d[0] == '0' {
			return 0, false
		}
	}
	if len(d) == 0 || len(d) > 19 || (d[0] == '0' && len(d) > 1) {
		return 0, false
	}
	for _, c := range d {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	return i + end + 1, true
}

// skipValue returns the index after the value at b[i].
func skipValue(b []byte, i, depth int) (next int, ok bool) {
	if i >= len(b) || depth > maxDepth {
		return 0, false
	}
	switch c := b[i]; {
	case c == 'i':
		return scanInt(b, i)
	case c >= '0' && c <= '9':
		_, next, ok = scanString(b, i)
		return next, ok
	case c == 'l':
		i++
		for i < len(b) && b[i] != 'e' {
			if i, ok = skipValue(b, i, depth+1); !ok {
				return 0, false
			}
		}
	case c == 'd':
		i++
		for i < len(b) && b[i] != 'e' {
			if _, i, ok = scanString(b, i); !ok {
				return 0, false
			}
			if i, ok = skipValue(b, i, depth+1); !ok {
				return 0, false
			}
		}
	default:
		return 0, false
	}
	if i >= len(b) {
		return 0, false
	}
	return i + 1, true
}
