package udp

// BEP 41 options follow the 98 bytes of an announce request. Each starts
// with a type byte; EndOfOptions and NOP are that byte alone, every other
// type is followed by a length byte and that many bytes of data.
const (
	optEndOfOptions = 0x0
	optNOP          = 0x1
	optURLData      = 0x2
)

// MaxURLData bounds the URL data (a path and query, BEP 41) an announce may
// carry across all its URLData options. Announce URLs with a passkey or a
// token are well under it; more is treated as a malformed option area.
const MaxURLData = 1024

// parseOptions walks the BEP 41 option area b, appending the data of its
// URLData options to url (which must have room for MaxURLData bytes), and
// reports whether the area was well formed.
//
// The choices where BEP 41 leaves room:
//   - The area ends at EndOfOptions or at the end of the packet, whichever
//     comes first; bytes after EndOfOptions are ignored.
//   - An unknown type is skipped by its length byte, as BEP 41 asks, so an
//     option we do not know never stops an announce.
//   - A malformed area (a length running past the packet, URL data over
//     MaxURLData) stops the parse there, and the announce is still answered:
//     the options are advisory to this tracker, and refusing would only
//     make a client with a buggy encoder lose its peers.
func parseOptions(b, url []byte) ([]byte, bool) {
	for i := 0; i < len(b); {
		typ := b[i]
		switch typ {
		case optEndOfOptions:
			return url, true
		case optNOP:
			i++
			continue
		}
		if i+1 >= len(b) {
			return url, false
		}
		n := int(b[i+1])
		data := i + 2
		if data+n > len(b) {
			return url, false
		}
		if typ == optURLData {
			if len(url)+n > MaxURLData {
				return url, false
			}
			url = append(url, b[data:data+n]...)
		}
		i = data + n
	}
	return url, true
}
