package announce

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/rs/zerolog"

	"johnlocke/announce/limit"
	"johnlocke/announce/tally"
	"johnlocke/store"
)

// Defaults for the zero fields of an HTTPConfig.
const (
	// DefaultReadTimeout bounds how long a client may take to send one
	// request head, counted from its first byte: a client dribbling bytes
	// (slowloris) is cut off then, however steadily it sends.
	DefaultReadTimeout = 5 * time.Second
	// DefaultWriteTimeout bounds writing one response to a client that
	// does not read.
	DefaultWriteTimeout = 5 * time.Second
	// DefaultIdleTimeout is how long a keep-alive connection may wait for
	// its next request. Clients announce every few minutes at most, so a
	// long idle wait only holds a file descriptor.
	DefaultIdleTimeout = 30 * time.Second
	// DefaultMaxConns caps concurrent connections: each costs a goroutine
	// and about 8 KiB of buffers at the default MaxPeers, so the cap bounds memory under a flood.
	DefaultMaxConns = 16384
	// DefaultMaxPeers matches --maxpeers' default (SPEC: 50).
	DefaultMaxPeers = 50
	// DefaultMaxConnsPerIP is each source address's share of MaxConns. A
	// client keeps at most a connection or two open to a tracker, so even
	// an office of busy clients behind one NAT address stays well under
	// it, while one address alone can take only a sliver of the cap.
	DefaultMaxConnsPerIP = 64
	// DefaultTrustedProxyHeader is the header a trusted proxy's client
	// address is read from when HTTPConfig names none.
	DefaultTrustedProxyHeader = "X-Forwarded-For"
)

// ReadBufferSize is each connection's read buffer and so the largest
// request head (request line and headers) accepted; real announces are a
// few hundred bytes. A larger head is answered 414 or 431 and the
// connection closed.
const ReadBufferSize = 4096

// headroom is reserved at the front of every response buffer for the
// status line and headers, which are written last (once the body length is
// known) right before the body, so the body is never copied.
const headroom = 192

// HTTPConfig configures an HTTPServer. Zero fields take the defaults above.
type HTTPConfig struct {
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	IdleTimeout  time.Duration
	// MaxConns caps concurrent connections; a connection accepted over the
	// cap is closed at once.
	MaxConns int
	// MaxConnsPerIP caps the connections one source (an IPv4 address or an
	// IPv6 /64) may hold at once, so that one address cannot take every
	// slot of MaxConns; past it a new connection is closed at once. It is
	// held to at most half of MaxConns, so a second address always finds
	// room while one is at its cap. Trusted proxies are exempt: they carry
	// every client's connections.
	MaxConnsPerIP int
	// TrustedProxies lists the proxies whose TrustedProxyHeader is
	// believed. From any other peer it is ignored.
	TrustedProxies []netip.Prefix
	// TrustedProxyHeader names the one header a trusted proxy reports the
	// client's address in (DefaultTrustedProxyHeader when empty). It must
	// be a valid header name (ValidHeaderName).
	TrustedProxyHeader string
	// RateLimit, when not nil, limits each client source's announces and
	// scrapes; past it a request is answered with a failure saying when to
	// retry. Give the UDP server the same one, so both protocols draw on
	// one bucket per source.
	RateLimit *limit.Rate
	// MaxPeers sizes each connection's peer buffers (MaxPeers compact
	// entries per family); the store enforces the cap itself.
	MaxPeers int
	// FullScrape answers a scrape without an infohash with every
	// torrent's counts (see runFullScrape), when the Tracker is also a
	// FullScraper; otherwise such a scrape gets ErrFullScrape.
	FullScrape bool
	// FullScrapeInterval is how often, at most, the full scrape answer is
	// rebuilt.
	FullScrapeInterval time.Duration
	// KeepAlive says which connections stay open after an answer
	// (KeepAliveOn, the zero value: any whose request allows it).
	KeepAlive KeepAlive
}

func (c HTTPConfig) withDefaults() HTTPConfig {
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.MaxPeers <= 0 {
		c.MaxPeers = DefaultMaxPeers
	}
	if c.MaxConnsPerIP <= 0 {
		c.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	c.MaxConnsPerIP = min(c.MaxConnsPerIP, max(c.MaxConns/2, 1))
	if c.TrustedProxyHeader == "" {
		c.TrustedProxyHeader = DefaultTrustedProxyHeader
	}
	if c.FullScrapeInterval <= 0 {
		c.FullScrapeInterval = DefaultFullScrapeInterval
	}
	return c
}

// HTTPServer answers HTTP announces and scrapes. It is a minimal HTTP/1.1
// server of its own rather than net/http, which allocates several objects
// per request: a bounded read buffer and reused response buffers per
// connection, so an announce allocates nothing. On Linux a connection
// whose request has arrived with it is answered by the accepting goroutine
// (acceptRaw); any other connection gets a goroutine of its own.
type HTTPServer struct {
	tracker Tracker
	cfg     HTTPConfig
	log     zerolog.Logger
	pool    sync.Pool // *conn, with their buffers

	closing atomic.Bool

	// perSource counts each source address's connections (limits.go).
	perSource *limit.Conns
	// fwdHeader is TrustedProxyHeader in lower case, for equalFold.
	fwdHeader string
	// warned* make a condition an operator should hear about logged once,
	// not once per connection.
	warnedNoFwd, warnedSourceCap atomic.Bool

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	drained   chan struct{} // closed once closing and no connection is left
	isDrained bool
	// reclaiming counts the connections of conns that reclaimIdle has
	// closed and that have not yet been untracked: their sockets are
	// closed, so they no longer count against MaxConns. idleScratch is
	// reclaimIdle's list, kept between calls.
	reclaiming  int
	idleScratch []idleConn

	// quit is closed when shutdown begins, for the full scrape builder.
	quit chan struct{}
	// full is the last full scrape answer built; fullWanted asks the
	// builder for a new one. The builder, started by the first Serve, is
	// counted in fullWG.
	full       atomic.Pointer[fullScrape]
	fullWanted chan struct{}
	// fullBuilt is signalled (without waiting) after each build, for a
	// test to wait on.
	fullBuilt chan struct{}
	fullOnce  sync.Once
	fullWG    sync.WaitGroup

	// tally holds the request counts (failures by reason, scrapes,
	// sampled announce times) in httpStripes stripes; each pooled conn
	// writes the one it was given when made.
	tally      tally.Set
	stripes    [httpStripes]*tally.Counts
	nextStripe atomic.Uint32
	// refusedSource and refusedGlobal count connections turned away by
	// the per-source and the global caps, reclaimed the idle connections
	// closed to make room at the global cap (rare: plain atomics suffice).
	refusedSource, refusedGlobal, reclaimed atomic.Uint64
}

// httpStripes is how many count stripes HTTP connections share: enough
// that the cores answering requests seldom write the same one.
const httpStripes = 16

// NewHTTPServer returns a server answering from t. It does not listen:
// pass a listener to Serve.
func NewHTTPServer(t Tracker, cfg HTTPConfig, log zerolog.Logger) *HTTPServer {
	s := &HTTPServer{
		tracker:   t,
		cfg:       cfg.withDefaults(),
		log:       log,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
		drained:   make(chan struct{}),
		quit:      make(chan struct{}),
		// One pending rebuild is all a builder needs to know of.
		fullWanted: make(chan struct{}, 1),
		fullBuilt:  make(chan struct{}, 1),
	}
	s.perSource = limit.NewConns(s.cfg.MaxConnsPerIP)
	s.fwdHeader = strings.ToLower(s.cfg.TrustedProxyHeader)
	for i := range s.stripes {
		s.stripes[i] = s.tally.New()
	}
	s.pool.New = func() any { return newConn(s) }
	return s
}

// Serve accepts connections on ln until ctx is done or Shutdown is called,
// then waits for the server's connections to finish their current request
// and returns nil. ctx being done shuts the whole server down as Shutdown
// does, bounded only by the read and write timeouts. Serve owns ln and
// closes it. It may be called for several listeners at once (IPv4 and
// IPv6, or ListenHTTP's). It returns an error only when accepting fails
// for good.
//
// On Linux a TCP listener's connections are taken with accept4 on the
// raw socket and a connection whose whole request head has arrived is
// read, answered and closed right there, on the accepting goroutine,
// without a goroutine or a poller registration of its own (see
// acceptRaw); other connections are served as below.
func (s *HTTPServer) Serve(ctx context.Context, ln net.Listener) error {
	raw := s.rawListener(ln)
	if raw != nil {
		ln = raw // closing it closes both
	}
	if !s.addListener(ln) {
		ln.Close()
		return nil
	}
	stop := context.AfterFunc(ctx, s.beginShutdown)
	defer stop()
	if fs, ok := s.tracker.(FullScraper); ok && s.cfg.FullScrape {
		s.fullOnce.Do(func() {
			s.fullWG.Add(1)
			go s.runFullScrape(ctx, fs)
		})
	}

	var err error
	if raw != nil {
		err = s.acceptRaw(ctx, raw)
	} else {
		err = s.acceptConns(ctx, ln)
	}
	s.removeListener(ln)
	if err != nil {
		ln.Close()
		return err
	}
	<-s.drained
	return nil
}

// acceptConns is Serve's loop through net.Listener.Accept: a goroutine per
// connection.
func (s *HTTPServer) acceptConns(ctx context.Context, ln net.Listener) error {
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if again, err := s.acceptFailed(ctx, ln, err, &delay); !again {
				return err
			}
			continue
		}
		delay = 0
		c := s.track(socketAddr(nc), nc, -1)
		if c == nil {
			nc.Close()
			continue
		}
		go s.serveConn(c, true)
	}
}

// acceptFailed decides what an accept loop does after accepting on ln
// failed with err: it reports again after a pause (doubling in *delay up
// to a second) when the error may pass, and otherwise the error Serve
// returns: nil when the server is closing.
func (s *HTTPServer) acceptFailed(ctx context.Context, ln net.Listener, err error, delay *time.Duration) (again bool, _ error) {
	if s.closing.Load() {
		return false, nil
	}
	if !temporaryAcceptError(err) {
		return false, fmt.Errorf("accept on %s: %w", ln.Addr(), err)
	}
	// Out of file descriptors or a connection reset before we took it:
	// back off and keep serving the connections we have.
	*delay = min(max(2**delay, 5*time.Millisecond), time.Second)
	s.log.Warn().Err(err).Float64("retry_in_ms", float64(*delay)/float64(time.Millisecond)).Msg("http accept failed")
	t := time.NewTimer(*delay)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
	}
	return true, nil
}

// temporaryAcceptError reports whether Accept may succeed if tried again.
func temporaryAcceptError(err error) bool {
	if errors.Is(err, net.ErrClosed) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ECONNABORTED, syscall.ECONNRESET, syscall.ENOBUFS, syscall.ENOMEM, syscall.EINTR, syscall.EAGAIN} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Shutdown stops accepting, closes idle connections and waits for
// connections busy with a request to answer it and close. When ctx is
// done first it closes the remaining connections and returns ctx.Err().
func (s *HTTPServer) Shutdown(ctx context.Context) error {
	s.beginShutdown()
	select {
	case <-s.drained:
		s.fullWG.Wait() // the builder stops at quit, after a build in progress
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			// A connection without nc is being answered on its raw
			// socket by an accepting goroutine, which never waits for
			// its client but may be stuck in an answer.
			if c.nc != nil {
				c.nc.Close()
			} else if c.fd >= 0 {
				shutdownRaw(c.fd)
			}
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}

// beginShutdown closes the listeners and the idle connections. Busy
// connections see closing after their current request and close.
func (s *HTTPServer) beginShutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Swap(true) {
		return
	}
	close(s.quit)
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		if c.state.CompareAndSwap(stateIdle, stateClosed) {
			c.nc.Close()
		}
	}
	s.checkDrained()
}

// checkDrained closes drained when shutting down with no connection left.
// s.mu must be held.
func (s *HTTPServer) checkDrained() {
	if s.closing.Load() && len(s.conns) == 0 && !s.isDrained {
		s.isDrained = true
		close(s.drained)
	}
}

func (s *HTTPServer) addListener(ln net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.listeners[ln] = struct{}{}
	return true
}

func (s *HTTPServer) removeListener(ln net.Listener) {
	s.mu.Lock()
	delete(s.listeners, ln)
	s.mu.Unlock()
}

// track admits a new connection from the client at addr, or returns nil
// when the server is closing, at its connection cap, or the connection's
// source holds its share (admitSource). nc is nil for a connection
// answered on its raw socket fd (acceptRaw); fd is -1 otherwise. Every
// connection, however it is served, is admitted here and released by
// untrack.
func (s *HTTPServer) track(addr netip.Addr, nc net.Conn, fd int) *conn {
	peer := s.peerOf(addr)
	if !s.admitSource(&peer) {
		return nil
	}
	s.mu.Lock()
	if s.closing.Load() || len(s.conns)-s.reclaiming >= s.cfg.MaxConns && !s.reclaimIdle() {
		full := !s.closing.Load()
		s.mu.Unlock()
		if full {
			s.refusedGlobal.Add(1)
		}
		s.releaseSource(&peer)
		if full {
			s.log.Debug().Int("max_conns", s.cfg.MaxConns).Msg("http connection refused: at the connection cap")
		}
		return nil
	}
	c := s.pool.Get().(*conn)
	c.start(nc, fd, peer)
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	return c
}

func (s *HTTPServer) untrack(c *conn) {
	s.mu.Lock()
	if c.reclaimed {
		s.reclaiming--
	}
	delete(s.conns, c)
	s.checkDrained()
	s.mu.Unlock()
	s.releaseSource(&c.peer)
}

// idleConn is a connection reclaimIdle found idle, and since when.
type idleConn struct {
	c     *conn
	since int64
}

// reclaimIdle makes room at the connection cap by closing the connections
// idle longest, and reports whether it closed any. Real clients announce
// minutes apart; those that keep their connection alive (aria2 and
// libcurl's users do) leave it idle until IdleTimeout, and at thousands of
// announces a second such connections alone would fill the cap and turn
// new clients away. A new client is worth more than a connection that
// may never be used again, so the cap refuses a connection only when
// every one it holds is busy with a request. It closes the oldest
// 1/reclaimShare of the cap at once (at least one), so that its walk over
// every connection is paid once per many admissions. s.mu must be held.
func (s *HTTPServer) reclaimIdle() bool {
	idle := s.idleScratch[:0]
	for c := range s.conns {
		if c.state.Load() == stateIdle && !c.reclaimed {
			idle = append(idle, idleConn{c, c.idleSince.Load()})
		}
	}
	n := min(len(idle), max(s.cfg.MaxConns/reclaimShare, 1))
	if n < len(idle) {
		slices.SortFunc(idle, func(a, b idleConn) int { return cmp.Compare(a.since, b.since) })
	}
	closed := 0
	for _, ic := range idle[:n] {
		// A connection whose request arrives meanwhile turns active
		// and is left alone; one closed here finds its read failed.
		if ic.c.state.CompareAndSwap(stateIdle, stateClosed) {
			ic.c.reclaimed = true
			ic.c.nc.Close()
			closed++
		}
	}
	clear(idle) // hold no conn past this call
	s.idleScratch = idle[:0]
	s.reclaiming += closed
	s.reclaimed.Add(uint64(closed))
	return closed > 0
}

// reclaimShare: reclaimIdle closes up to MaxConns/reclaimShare idle
// connections at a time.
const reclaimShare = 256

// Connection states, for closing idle connections on shutdown or at the
// cap without cutting off a request in progress.
const (
	stateActive int32 = iota // reading, handling or answering a request
	stateIdle                // waiting for a request's first byte
	stateClosed              // closed by Shutdown or reclaimIdle while idle
)

// conn is one client connection and every buffer it needs, reused through
// the server's pool.
type conn struct {
	srv *HTTPServer
	// nc is the connection, or nil while a connection is answered on its
	// raw socket fd by the accepting goroutine (acceptRaw).
	nc      net.Conn
	fd      int
	pending []byte // an answer the raw socket did not take whole
	// pendingKeep says whether the connection carries on once pending is
	// written.
	pendingKeep bool
	// idleSince is when the connection last went idle (Unix ns), and
	// reclaimed that reclaimIdle closed it (guarded by srv.mu).
	idleSince atomic.Int64
	reclaimed bool
	// drained says that the raw socket held nothing more than the request
	// being answered inline, so an answer that ends the connection may be
	// left for the close to send (see writeRaw).
	drained bool
	state   atomic.Int32
	peer    peer // who is at the other end of the socket

	rbuf    [ReadBufferSize]byte
	r, w    int // unread bytes are rbuf[r:w]
	scanned int // bytes of rbuf[r:w] already searched for the head's end

	wbuf   []byte
	req    store.Request
	resp   store.Response
	hashes [MaxScrapeHashes][20]byte
	// counts is the stripe this conn counts in; sampler picks the
	// announces it times.
	counts  *tally.Counts
	sampler tally.Sampler
}

func newConn(s *HTTPServer) *conn {
	mp := s.cfg.MaxPeers
	return &conn{
		srv:    s,
		counts: s.stripes[s.nextStripe.Add(1)%httpStripes],
		wbuf:   make([]byte, 0, headroom+256+mp*(peer4Len+peer6Len)),
		resp: store.Response{
			Peers4: make([]byte, 0, mp*peer4Len),
			Peers6: make([]byte, 0, mp*peer6Len),
		},
	}
}

// start readies a pooled conn for a new client.
func (c *conn) start(nc net.Conn, fd int, p peer) {
	c.nc = nc
	c.fd = fd
	c.pending, c.pendingKeep = nil, false
	c.state.Store(stateActive)
	c.idleSince.Store(0)
	c.reclaimed = false
	c.r, c.w, c.scanned = 0, 0, 0
	c.peer = p
}

// socketAddr returns the address of nc's peer, an IPv4-mapped IPv6 address
// as IPv4; the zero Addr when it has none.
func socketAddr(nc net.Conn) netip.Addr {
	switch a := nc.RemoteAddr().(type) {
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap()
	case nil:
		return netip.Addr{}
	default:
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return netip.Addr{}
		}
		return ap.Addr().Unmap()
	}
}

// serveConn serves c on its own goroutine until it is to be closed. fresh
// says that no request has been answered yet, so the first head is due
// within ReadTimeout; otherwise the connection is idle between requests.
func (s *HTTPServer) serveConn(c *conn, fresh bool) {
	reuse := false
	defer func() {
		if p := recover(); p != nil {
			s.log.Error().Str("panic", fmt.Sprint(p)).Bytes("stack", debug.Stack()).Msg("http connection panicked; closed it")
		}
		c.nc.Close()
		s.untrack(c)
		if reuse {
			c.nc = nil
			s.pool.Put(c)
		}
	}()
	if c.flushPending() {
		c.serve(fresh)
	}
	reuse = true // not reached after a panic: that conn may be inconsistent
}

// flushPending writes the rest of an answer the raw socket did not take
// whole, and reports whether the connection carries on.
func (c *conn) flushPending() bool {
	if len(c.pending) == 0 {
		return true
	}
	p := c.pending
	c.pending = nil
	return c.write(p, !c.pendingKeep) && c.pendingKeep
}

// serve reads and answers requests until the connection is to be closed.
func (c *conn) serve(fresh bool) {
	if fresh {
		c.nc.SetReadDeadline(time.Now().Add(c.srv.cfg.ReadTimeout))
	}
	for {
		end, ok := c.readHead(fresh)
		if !ok {
			return
		}
		fresh = false
		keep := c.handle(c.rbuf[c.r : c.r+end])
		c.r += end
		c.scanned = 0
		if c.r == c.w {
			c.r, c.w = 0, 0
		}
		if !keep {
			return
		}
	}
}

// readHead makes sure a whole request head is at c.rbuf[c.r:] and returns
// its length; ok is false when the connection is to be closed. A fresh
// connection's first head is bounded by the deadline serve set at accept;
// later ones wait up to IdleTimeout for a first byte and then ReadTimeout
// for the rest.
func (c *conn) readHead(fresh bool) (int, bool) {
	s := c.srv
	timed := fresh // the head has its ReadTimeout deadline
	for {
		idle := false
		if c.w > c.r {
			if end := headEnd(c.rbuf[c.r:c.w], &c.scanned); end > 0 {
				return end, true
			}
			if c.w-c.r == len(c.rbuf) {
				c.tooLarge()
				return 0, false
			}
			if !timed {
				c.nc.SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout))
				timed = true
			}
			if c.w == len(c.rbuf) {
				c.w = copy(c.rbuf[:], c.rbuf[c.r:c.w])
				c.r = 0
			}
		} else {
			// Between requests: idle, so Shutdown or reclaimIdle may
			// close us.
			now := time.Now()
			c.idleSince.Store(now.UnixNano())
			c.state.Store(stateIdle)
			if s.closing.Load() {
				c.state.CompareAndSwap(stateIdle, stateClosed)
				return 0, false
			}
			if !fresh {
				c.nc.SetReadDeadline(now.Add(s.cfg.IdleTimeout))
			}
			idle = true
		}
		n, err := c.nc.Read(c.rbuf[c.w:])
		if idle && !c.state.CompareAndSwap(stateIdle, stateActive) {
			return 0, false // Shutdown or reclaimIdle closed us
		}
		c.w += n
		if err != nil {
			if c.w > c.r && !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrClosed) {
				s.log.Debug().Err(err).Int("buffered", c.w-c.r).Msg("http connection ended mid-request")
			}
			return 0, false
		}
	}
}

// headEnd returns the length of the request head at the start of b, up to
// and including the empty line that ends it, or 0 when b holds no whole
// head yet. *scanned remembers how far b was searched, so a head arriving
// a byte at a time is not searched from the start every time. Bare LF line
// endings are accepted (RFC 9112 section 2.2).
func headEnd(b []byte, scanned *int) int {
	i := max(*scanned-2, 0)
	for i < len(b) {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			break
		}
		i += j
		switch {
		case i+1 < len(b) && b[i+1] == '\n':
			return i + 2
		case i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n':
			return i + 3
		}
		i++
	}
	*scanned = len(b)
	return 0
}

// tooLarge answers a head that does not fit the read buffer: 414 while the
// request line alone fills it, 431 otherwise.
func (c *conn) tooLarge() {
	for _, b := range c.rbuf[c.r:c.w] {
		if b == '\n' {
			c.sendText(431, false, false)
			return
		}
	}
	c.sendText(414, false, false)
}

// httpHead is a parsed request head; its slices point into the read buffer.
type httpHead struct {
	method    []byte
	target    []byte
	http10    bool
	keepAlive bool
	hasBody   bool
	hasFwd    bool   // the trusted proxy header is present
	fwd       []byte // the value of its last instance
	acceptEnc []byte // the last Accept-Encoding header
}

// parseHead parses a request head, keeping the last instance of the header
// named fwdName (in lower case). It returns 0 or the status of the error
// answer (400) for a malformed one.
//
// Framing is checked strictly, as a request smuggled past a proxy starts
// with a header the proxy and this server read differently: a field name
// must be a token with the colon right after it (RFC 9112 section 5.1), so
// "Content-Length : 5" is refused rather than ignored; a CR must end its
// line (section 2.2); and no line may hold a NUL.
func parseHead(b []byte, h *httpHead, fwdName string) int {
	line, rest := nextLine(b)
	if badLine(line) {
		return 400
	}
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return 400
	}
	h.method, line = line[:sp], line[sp+1:]
	sp = bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return 400
	}
	h.target, line = line[:sp], line[sp+1:]
	switch string(line) {
	case "HTTP/1.1":
		h.keepAlive = true
	case "HTTP/1.0":
		h.http10 = true
	default:
		return 400
	}
	for {
		line, rest = nextLine(rest)
		if len(line) == 0 {
			return 0
		}
		if line[0] == ' ' || line[0] == '\t' {
			return 400 // obsolete line folding
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || badLine(line) {
			return 400
		}
		name, val := line[:colon], trimSpace(line[colon+1:])
		if !isToken(name) {
			return 400
		}
		if len(name) == len(fwdName) && equalFold(name, fwdName) {
			h.fwd, h.hasFwd = val, true
		}
		switch len(name) {
		case len("connection"):
			if equalFold(name, "connection") {
				applyConnection(h, val)
			}
		case len("content-length"):
			if equalFold(name, "content-length") {
				n, ok := parseUint(val, 1<<62)
				if !ok {
					return 400
				}
				if n > 0 {
					h.hasBody = true
				}
			}
		case len("transfer-encoding"):
			if equalFold(name, "transfer-encoding") {
				h.hasBody = true
			}
		case len("accept-encoding"):
			if equalFold(name, "accept-encoding") {
				h.acceptEnc = val
			}
		}
	}
}

// applyConnection reads the tokens of a Connection header.
func applyConnection(h *httpHead, val []byte) {
	for len(val) > 0 {
		tok := val
		if i := bytes.IndexByte(val, ','); i >= 0 {
			tok, val = val[:i], val[i+1:]
		} else {
			val = nil
		}
		tok = trimSpace(tok)
		switch {
		case equalFold(tok, "close"):
			h.keepAlive = false
			return
		case equalFold(tok, "keep-alive"):
			h.keepAlive = true
		}
	}
}

// handle answers one request head and reports whether the connection may
// carry another request.
func (c *conn) handle(head []byte) bool {
	s := c.srv
	var h httpHead
	if st := parseHead(head, &h, s.fwdHeader); st != 0 {
		c.sendText(st, false, false)
		return false
	}
	if string(h.method) != "GET" {
		c.sendText(405, false, h.http10)
		return false
	}
	if h.hasBody {
		c.sendText(400, false, h.http10)
		return false
	}
	path, query := h.target, []byte(nil)
	if i := bytes.IndexByte(path, '?'); i >= 0 {
		path, query = path[:i], path[i+1:]
	}
	if len(path) == 0 || path[0] != '/' {
		path = originPath(path)
		if path == nil {
			c.sendText(400, false, h.http10)
			return false
		}
	}
	last := path[bytes.LastIndexByte(path, '/')+1:]
	buf := c.wbuf[:headroom]
	switch string(last) {
	case "announce", "announce.php":
		buf = c.announce(buf, query, &h)
		s.log.Debug().Hex("info_hash", c.req.InfoHash[:]).Uint8("event", uint8(c.req.Event)).Msg("http announce")
	case "scrape", "scrape.php":
		var full []byte
		if buf, full = c.scrape(buf, query, &h); full != nil {
			s.log.Debug().Msg("http full scrape")
			c.write(full, true)
			return false // the answer says Connection: close
		}
		s.log.Debug().Msg("http scrape")
	default:
		// Closed after the answer: a client has no business asking
		// anything else, and a keep-alive connection re-asking for "/"
		// would otherwise hold its slot for ever at no cost.
		s.log.Debug().Msg("http request for an unknown path")
		c.sendText(404, false, h.http10)
		return false
	}
	c.wbuf = buf[:0] // keep a buffer that had to grow
	// Decided after the handler ran: a request that was in progress when
	// Shutdown began is answered with Connection: close.
	keep := h.keepAlive && !s.closing.Load() && s.cfg.KeepAlive.keeps(&c.peer)
	return c.send(200, buf, keep, h.http10, "") && keep
}

var rootPath = []byte("/")

// originPath returns the path of an absolute-form target
// (http://host/path), nil for any other form.
func originPath(t []byte) []byte {
	switch {
	case hasPrefixFold(t, "http://"):
		t = t[len("http://"):]
	case hasPrefixFold(t, "https://"):
		t = t[len("https://"):]
	default:
		return nil
	}
	i := bytes.IndexByte(t, '/')
	if i < 0 {
		return rootPath
	}
	return t[i:]
}

// announce handles an announce query and appends the answer to buf.
func (c *conn) announce(buf, query []byte, h *httpHead) []byte {
	s := c.srv
	addr, f := c.clientAddr(h)
	if f != "" {
		return c.appendError(buf, f)
	}
	if out, over := c.overRate(buf, addr); over {
		return out
	}
	start := c.sampler.Start()
	defer c.counts.Observe(start)
	opts, err := ParseAnnounceQuery(query, &c.req)
	if err != nil {
		return c.appendError(buf, err)
	}
	if addr.Is4() {
		a := addr.As4()
		copy(c.req.Addr[:], a[:])
	} else {
		c.req.Addr = addr.As16()
		c.req.Is6 = true
	}
	c.req.BothFamilies = true
	c.req.Proto = store.ProtoHTTP
	c.resp.Reset()
	if err := s.tracker.Announce(&c.req, &c.resp); err != nil {
		return c.appendError(buf, err)
	}
	return AppendAnnounceSeen(buf, &c.resp, opts.Compact, addr)
}

// scrape handles a scrape query and appends the answer to buf; unknown
// infohashes are left out. A full scrape, when the server makes them, is
// answered with full instead: a whole cached HTTP response.
func (c *conn) scrape(buf, query []byte, h *httpHead) (_, full []byte) {
	addr, f := c.clientAddr(h)
	if f != "" {
		return c.appendError(buf, f), nil
	}
	if out, over := c.overRate(buf, addr); over {
		return out, nil
	}
	n, err := ParseScrapeQuery(query, &c.hashes)
	if err == ErrFullScrape && c.srv.cfg.FullScrape {
		if _, ok := c.srv.tracker.(FullScraper); ok {
			if full = c.srv.fullScrapeAnswer(acceptsGzip(h.acceptEnc)); full == nil {
				return c.appendError(buf, ErrFullScrapeNotReady), nil
			}
			c.counts.Scrapes.Add(1)
			return buf, full
		}
	}
	if err != nil {
		return c.appendError(buf, err), nil
	}
	buf = AppendScrapeStart(buf)
	for i := range n {
		if counts, ok := c.srv.tracker.Scrape(c.hashes[i]); ok {
			buf = AppendScrapeFile(buf, c.hashes[i], counts)
		}
	}
	c.counts.Scrapes.Add(1)
	return AppendScrapeEnd(buf), nil
}

// appendError appends the bencoded failure for err: its own text for a
// store.Failure, ErrInternal (after logging it) for anything else.
// Every failure is counted by its reason.
func (c *conn) appendError(buf []byte, err error) []byte {
	if f, ok := err.(store.Failure); ok {
		c.counts.Fail(tally.ReasonOf(f, ErrInternal))
		return AppendFailure(buf, string(f))
	}
	var f store.Failure
	if errors.As(err, &f) {
		c.counts.Fail(tally.ReasonOf(f, ErrInternal))
		return AppendFailure(buf, string(f))
	}
	c.counts.Fail(tally.ReasonInternal)
	c.srv.log.Error().Err(err).Hex("info_hash", c.req.InfoHash[:]).Msg("announce failed")
	return AppendFailure(buf, string(ErrInternal))
}

// parseHostAddr parses an address as proxies write it: 192.0.2.1,
// 192.0.2.1:80, 2001:db8::1, [2001:db8::1] or [2001:db8::1]:80. Zones are
// refused. IPv4-mapped addresses are unmapped.
func parseHostAddr(b []byte) (netip.Addr, bool) {
	if len(b) > 0 && b[0] == '[' {
		end := bytes.IndexByte(b, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		rest := b[end+1:]
		if len(rest) > 0 {
			if _, ok := parseUint(rest[1:], 65535); rest[0] != ':' || !ok {
				return netip.Addr{}, false
			}
		}
		b = b[1:end]
	} else if i := bytes.IndexByte(b, ':'); i >= 0 && bytes.LastIndexByte(b, ':') == i {
		// exactly one colon: IPv4 with a port
		if _, ok := parseUint(b[i+1:], 65535); !ok {
			return netip.Addr{}, false
		}
		b = b[:i]
	}
	if len(b) == 0 || len(b) > 45 || bytes.IndexByte(b, '%') >= 0 {
		return netip.Addr{}, false
	}
	// The string shares b's bytes instead of copying them: converting
	// would allocate on every proxied announce. Nothing keeps it: the Addr
	// holds no string (zones were refused above) and the error, which
	// quotes its input, is dropped right here.
	a, err := netip.ParseAddr(unsafe.String(&b[0], len(b)))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// statusLine returns the status line for the codes this server sends.
func statusLine(code int) string {
	switch code {
	case 200:
		return "HTTP/1.1 200 OK\r\n"
	case 400:
		return "HTTP/1.1 400 Bad Request\r\n"
	case 404:
		return "HTTP/1.1 404 Not Found\r\n"
	case 405:
		return "HTTP/1.1 405 Method Not Allowed\r\n"
	case 414:
		return "HTTP/1.1 414 URI Too Long\r\n"
	case 431:
		return "HTTP/1.1 431 Request Header Fields Too Large\r\n"
	}
	return "HTTP/1.1 500 Internal Server Error\r\n"
}

// statusText is the short body of an error answer.
func statusText(code int) string {
	switch code {
	case 400:
		return "bad request\n"
	case 404:
		return "not found\n"
	case 405:
		return "method not allowed\n"
	case 414:
		return "request line too long\n"
	case 431:
		return "request head too large\n"
	}
	return "internal error\n"
}

// sendText answers with an error status and its short text.
func (c *conn) sendText(code int, keep, http10 bool) bool {
	buf := append(c.wbuf[:headroom], statusText(code)...)
	extra := ""
	if code == 405 {
		extra = "Allow: GET\r\n"
	}
	return c.send(code, buf, keep, http10, extra)
}

// send writes the status line and headers into the headroom at the front
// of buf, right before the body that follows it, and writes both at once.
func (c *conn) send(code int, buf []byte, keep, http10 bool, extra string) bool {
	var hb [headroom]byte
	h := append(hb[:0], statusLine(code)...)
	h = append(h, "Content-Type: text/plain\r\nContent-Length: "...)
	h = strconv.AppendInt(h, int64(len(buf)-headroom), 10)
	h = append(h, "\r\n"...)
	h = append(h, extra...)
	switch {
	case !keep:
		h = append(h, "Connection: close\r\n"...)
	case http10:
		h = append(h, "Connection: keep-alive\r\n"...)
	}
	h = append(h, "\r\n"...)
	start := headroom - len(h)
	copy(buf[start:], h)
	return c.write(buf[start:], !keep)
}

// write sends b, on the raw socket while the accepting goroutine answers
// the connection, else through nc within WriteTimeout. closing says that
// the connection is closed once b is written.
func (c *conn) write(b []byte, closing bool) bool {
	if c.nc == nil {
		return c.writeRaw(b, closing && c.drained)
	}
	timeout := c.srv.cfg.WriteTimeout
	if len(b) > bigAnswer {
		timeout = max(timeout, fullScrapeWriteTimeout)
	}
	c.nc.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := c.nc.Write(b); err != nil {
		c.srv.log.Debug().Err(err).Msg("http write failed")
		return false
	}
	return true
}

// Small byte helpers that keep the hot path free of string conversions.

// nextLine splits off b's first line, without its LF or CRLF.
func nextLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return b, nil
	}
	line, rest = b[:i], b[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold reports whether b equals the lower-case ASCII s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		x := b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if x != s[i] {
			return false
		}
	}
	return true
}

func hasPrefixFold(b []byte, s string) bool {
	return len(b) >= len(s) && equalFold(b[:len(s)], s)
}
