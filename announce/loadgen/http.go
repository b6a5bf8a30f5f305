package loadgen

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// httpBufferSize is each worker's response buffer: a compact answer with 50
// peers is under 500 bytes, a dictionary answer with 200 under 16 KiB.
const httpBufferSize = 32 << 10

// closeAfter is how many times in a row a tracker may close a kept-alive
// connection, without saying so, before the worker stops reusing
// connections and opens one per request (opentracker answers with
// HTTP/1.1 and no "Connection: close", then closes).
const closeAfter = 2

// httpClient is one worker's keep-alive connection and its buffers.
type httpClient struct {
	g      *run
	s      *stats
	dialer net.Dialer

	// mu guards conn against interrupt, which another goroutine calls.
	mu     sync.Mutex
	conn   net.Conn
	served int // answers read on conn
	dials  int

	// silentCloses counts reused connections the tracker closed before
	// answering, since the last reused connection that did answer.
	silentCloses int
	oneShot      bool

	req []byte
	buf []byte
	id  [20]byte
	res scanResult
}

func newHTTPClient(g *run, src netip.Addr, s *stats) (*httpClient, error) {
	c := &httpClient{
		g:       g,
		s:       s,
		req:     make([]byte, 0, 512),
		buf:     make([]byte, httpBufferSize),
		oneShot: g.cfg.NoKeepAlive || g.cfg.ClientCloses,
	}
	c.dialer.Timeout = g.cfg.Timeout
	if src.IsValid() {
		c.dialer.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))
	}
	// Connect before the clock starts, so the run does not open with a
	// burst of handshakes; a tracker that closes after each answer will
	// cost a reconnect per request from then on anyway.
	if k := c.dial(); k != errNone {
		return nil, errors.New("cannot connect")
	}
	return c, nil
}

func (c *httpClient) dial() errKind {
	conn, err := c.dialer.DialContext(c.g.ctx, "tcp", c.g.target.String())
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return errTimeout
		}
		return errDial
	}
	if c.dials > 0 {
		c.s.reconnects++
	}
	c.dials++
	c.mu.Lock()
	c.conn, c.served = conn, 0
	cancelled := c.g.cancelled.Load()
	c.mu.Unlock()
	if cancelled {
		conn.SetDeadline(time.Now())
	}
	return errNone
}

func (c *httpClient) drop() {
	c.mu.Lock()
	conn := c.conn
	c.conn = nil
	c.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
}

func (c *httpClient) interrupt() {
	c.mu.Lock()
	if c.conn != nil {
		c.conn.SetDeadline(time.Now())
	}
	c.mu.Unlock()
}

func (c *httpClient) close() { c.drop() }

// window is 1: one request at a time on a connection (no pipelining,
// which trackers such as opentracker do not do).
func (c *httpClient) window() int { return 1 }

func (c *httpClient) do(jobs []job) bool {
	unreachable := false
	for _, a := range jobs {
		unreachable = c.announce(a) || unreachable
	}
	return unreachable
}

// announce sends one announce, reads and checks its answer and records the
// outcome; it reports whether the tracker could not be reached.
func (c *httpClient) announce(a job) bool {
	c.req = appendRequest(c.req[:0], c.g, &c.id, a)
	c.s.requests++
	c.s.events[a.ev]++
	t0 := time.Now()
	status, body, kind := c.roundTrip()
	return c.g.recordHTTP(c.s, &c.res, t0, status, body, kind)
}

// recordHTTP checks an HTTP announce's answer (status and body, when kind
// is errNone) and records the outcome in s; it reports whether the tracker
// could not be reached.
func (g *run) recordHTTP(s *stats, res *scanResult, t0 time.Time, status int, body []byte, kind errKind) bool {
	if kind == errNone {
		kind = scanAnnounce(body, res)
		if status != 200 {
			if kind == errFailure {
				s.reason(res.failure)
			}
			kind = errStatus
		}
	}
	switch {
	case kind == errNone:
		s.hist.record(time.Since(t0))
		s.responses++
		s.peers += int64(res.peers + res.peers6)
		return false
	case g.cancelled.Load() && kind <= errTimeout:
		// Cut short by the cancellation, not by the tracker.
		return false
	case kind == errFailure:
		s.reason(res.failure)
	}
	s.fail(kind)
	return kind == errDial
}

// roundTrip sends c.req and reads one response, reconnecting when there is
// no connection and, once, when a reused connection turns out to have been
// closed by the tracker before it answered.
func (c *httpClient) roundTrip() (status int, body []byte, kind errKind) {
	for attempt := 0; ; attempt++ {
		if c.conn == nil {
			if k := c.dial(); k != errNone {
				return 0, nil, k
			}
		}
		reused := c.served > 0
		retry := reused && attempt == 0
		c.conn.SetDeadline(c.g.deadline())
		if c.g.cancelled.Load() {
			// interrupt may have run before the deadline was set.
			c.drop()
			return 0, nil, errRead
		}
		if _, err := c.conn.Write(c.req); err != nil {
			c.drop()
			if retry && closedByPeer(err) {
				c.silentClose()
				continue
			}
			return 0, nil, ioKind(err, errWrite)
		}
		status, body, keep, got, err := c.readResponse()
		if err != errNone {
			c.drop()
			if retry && got == 0 && err == errRead {
				c.silentClose()
				continue
			}
			return 0, nil, err
		}
		c.served++
		if reused {
			c.silentCloses = 0
		}
		if !keep || c.oneShot {
			c.drop()
		}
		return status, body, errNone
	}
}

func (c *httpClient) silentClose() {
	c.silentCloses++
	if c.silentCloses >= closeAfter {
		c.oneShot = true
	}
}

// closedByPeer reports whether a write failed because the other side had
// closed the connection.
func closedByPeer(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

// ioKind classifies a read or write error.
func ioKind(err error, k errKind) errKind {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return errTimeout
	}
	return k
}

// readResponse reads one HTTP response into c.buf. got is how many bytes
// arrived before an error; keep is whether the connection may be reused.
func (c *httpClient) readResponse() (status int, body []byte, keep bool, got int, kind errKind) {
	n := 0
	for {
		if n == len(c.buf) {
			return 0, nil, false, n, errTooLarge
		}
		m, err := c.conn.Read(c.buf[n:])
		n += m
		// Any end of the connection but a deadline ends a body that
		// runs to it.
		ended := err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
		status, body, keep, kind, complete := parseAnswer(c.buf[:n], ended)
		if complete {
			return status, body, keep, n, kind
		}
		if err != nil {
			return 0, nil, false, n, ioKind(err, errRead)
		}
	}
}

// parseAnswer looks at the bytes of an answer read so far. complete is set
// once they hold a whole answer or a malformed one, or, when the
// connection has ended (ended), one whose body runs to that end; keep is
// whether the connection may then be reused.
func parseAnswer(b []byte, ended bool) (status int, body []byte, keep bool, kind errKind, complete bool) {
	end := bytes.Index(b, crlfcrlf)
	if end < 0 {
		return 0, nil, false, errNone, false
	}
	end += len(crlfcrlf)
	var h respHead
	if !parseRespHead(b[:end], &h) || h.chunked {
		return 0, nil, false, errHTTP, true
	}
	if h.length < 0 {
		if !ended {
			return 0, nil, false, errNone, false
		}
		return h.status, b[end:], false, errNone, true
	}
	total := end + h.length
	switch {
	case total > httpBufferSize:
		return 0, nil, false, errTooLarge, true
	case len(b) < total:
		return 0, nil, false, errNone, false
	case len(b) > total:
		// Nothing was asked for beyond this answer.
		return 0, nil, false, errHTTP, true
	}
	return h.status, b[end:total], h.keep, errNone, true
}

var crlfcrlf = []byte("\r\n\r\n")

// respHead is what the load generator reads from a response head.
type respHead struct {
	status  int
	length  int // -1 when absent
	keep    bool
	chunked bool
}

// parseRespHead parses a status line and headers ending in CRLF CRLF.
func parseRespHead(b []byte, h *respHead) bool {
	line, rest := cutLine(b)
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return false
	}
	http11 := line[7] == '1'
	if !http11 && line[7] != '0' {
		return false
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil || code < 100 || (len(line) > 12 && line[12] != ' ') {
		return false
	}
	*h = respHead{status: code, length: -1, keep: http11}
	for len(rest) > 0 {
		line, rest = cutLine(rest)
		if len(line) == 0 {
			break
		}
		name, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return false
		}
		val = bytes.TrimSpace(val)
		switch {
		case equalFold(name, "content-length"):
			l, err := strconv.Atoi(string(val))
			if err != nil || l < 0 || (h.length >= 0 && l != h.length) {
				return false
			}
			h.length = l
		case equalFold(name, "connection"):
			for tok := range bytes.SplitSeq(val, []byte(",")) {
				tok = bytes.TrimSpace(tok)
				switch {
				case equalFold(tok, "close"):
					h.keep = false
				case equalFold(tok, "keep-alive") && !http11:
					h.keep = true
				}
			}
		case equalFold(name, "transfer-encoding"):
			h.chunked = !equalFold(val, "identity")
		}
	}
	if h.length < 0 {
		h.keep = false
	}
	return true
}

// cutLine splits b at its first CRLF.
func cutLine(b []byte) (line, rest []byte) {
	i := bytes.Index(b, []byte("\r\n"))
	if i < 0 {
		return b, nil
	}
	return b[:i], b[i+2:]
}

// equalFold compares ASCII case-insensitively without allocating.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// appendRequest writes the GET request for a; id is scratch space for the
// peer id.
func appendRequest(dst []byte, g *run, id *[20]byte, a job) []byte {
	wl := g.wl
	wl.peerID(a.peer, id)
	dst = append(dst, "GET "...)
	dst = append(dst, g.cfg.Path...)
	dst = append(dst, "?info_hash="...)
	dst = appendEscaped(dst, wl.hashes[a.torrent][:])
	dst = append(dst, "&peer_id="...)
	dst = appendEscaped(dst, id[:])
	dst = append(dst, "&port="...)
	dst = strconv.AppendUint(dst, uint64(wl.port(a)), 10)
	dst = append(dst, "&uploaded=0&downloaded="...)
	dst = strconv.AppendUint(dst, torrentSize/2-a.left/2, 10)
	dst = append(dst, "&left="...)
	dst = strconv.AppendUint(dst, a.left, 10)
	dst = append(dst, "&corrupt=0&key="...)
	dst = appendHex32(dst, wl.key(a.peer))
	dst = append(dst, httpEventParam[a.ev]...)
	dst = append(dst, "&numwant="...)
	dst = strconv.AppendInt(dst, int64(g.cfg.NumWant), 10)
	dst = append(dst, "&compact=1&no_peer_id=1 HTTP/1.1\r\nHost: "...)
	dst = append(dst, g.cfg.Addr...)
	dst = append(dst, "\r\nUser-Agent: johnlocke-loadgen/1\r\nAccept: */*\r\n"...)
	if g.cfg.NoKeepAlive {
		dst = append(dst, "Connection: close\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	return dst
}

const hexDigits = "0123456789ABCDEF"

// appendEscaped percent-encodes b as a query value: unreserved bytes as
// they are, every other byte as %XX.
func appendEscaped(dst, b []byte) []byte {
	for _, c := range b {
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', hexDigits[c>>4], hexDigits[c&15])
	}
	return dst
}

func appendHex32(dst []byte, v uint32) []byte {
	for shift := 28; shift >= 0; shift -= 4 {
		dst = append(dst, hexDigits[v>>uint(shift)&15])
	}
	return dst
}
