package announce

import "bytes"

// tokenChar marks the bytes a token may hold (RFC 9110 section 5.6.2):
// letters, digits and !#$%&'*+-.^_`|~.
var tokenChar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// isToken reports whether b is a non-empty token, as a header name must
// be: no space, tab, NUL or other separator anywhere in it.
func isToken(b []byte) bool {
	for _, c := range b {
		if !tokenChar[c] {
			return false
		}
	}
	return len(b) > 0
}

// badLine reports whether a line of a request head (without its line
// ending) holds a CR, which can then only be a bare one, or a NUL. Servers
// and proxies disagree on where a line ends at a bare CR, so it is
// refused (RFC 9112 section 2.2), as is a NUL (RFC 9110 section 5.5).
func badLine(line []byte) bool {
	return bytes.IndexByte(line, '\r') >= 0 || bytes.IndexByte(line, 0) >= 0
}

// ValidHeaderName reports whether name can be a header name (a token),
// for checking HTTPConfig.TrustedProxyHeader.
func ValidHeaderName(name string) bool {
	return isToken([]byte(name))
}
