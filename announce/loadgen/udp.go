package loadgen

import (
	"encoding/binary"
	"net"
	"net/netip"
	"time"
)

// BEP 15 wire constants.
const (
	protocolID      = 0x41727101980
	actionConnect   = 0
	actionAnnounce  = 1
	actionError     = 3
	connectLen      = 16
	connectReplyLen = 16
	announceLen     = 98
	// announceReplyLen is an announce answer without peers; each peer adds
	// peerLen bytes (6 over IPv4, 18 over IPv6).
	announceReplyLen = 20
	// udpBufferSize holds any answer a tracker can fit in one datagram
	// over loopback or Ethernet; a datagram that fills it is too large.
	udpBufferSize = 4096
)

// connIDLifetime is how long a connection id is used. BEP 15 lets a
// client use one for a minute (a tracker accepts it for two).
const connIDLifetime = time.Minute

// udpRetries is how many times an announce or connect is resent after a
// timeout; each timeout counts as an error.
const udpRetries = 2

func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

// putConnect writes a connect request with transaction id tx.
func putConnect(b []byte, tx uint32) {
	binary.BigEndian.PutUint64(b[0:], protocolID)
	binary.BigEndian.PutUint32(b[8:], actionConnect)
	binary.BigEndian.PutUint32(b[12:], tx)
}

// udpWindow is how many announces a UDP worker has in flight at most
// (unpaced, or paced faster than pacedBurstBelow): it sends them together
// (on Linux with one sendmmsg), then reads their answers, most of which
// are waiting by then. The system calls per announce decide how hard one
// CPU of load can push a tracker.
const udpWindow = 8

// udpSlot is one announce in flight.
type udpSlot struct {
	pkt  [announceLen]byte
	tx   uint32
	t0   time.Time
	done bool
}

// udpClient is one worker's socket, connection id and buffers.
type udpClient struct {
	g    *run
	s    *stats
	conn *net.UDPConn
	io   *udpIO

	connID  uint64
	connAt  time.Time
	validID bool
	tx      uint32
	// peerLen is the size of one peer entry in an answer: 6 bytes over
	// IPv4, 18 over IPv6 (BEP 15 answers with the client's own family).
	peerLen int

	slots [udpWindow]udpSlot
	pkts  [udpWindow][]byte   // the slots' packets to send
	buf   [udpBufferSize]byte // connect answers (announce answers: io)
	id    [20]byte
}

func newUDPClient(g *run, src netip.Addr, s *stats) (*udpClient, error) {
	var laddr *net.UDPAddr
	if src.IsValid() {
		laddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0))
	}
	conn, err := net.DialUDP("udp", laddr, net.UDPAddrFromAddrPort(g.target))
	if err != nil {
		return nil, err
	}
	// Transaction ids start at a point that differs per socket.
	local := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	a16 := local.Addr().As16()
	start := uint32(mix(binary.BigEndian.Uint64(a16[8:]) ^ uint64(local.Port())))
	peerLen := 6
	if g.target.Addr().Is6() { // resolve unmaps IPv4-mapped addresses
		peerLen = 18
	}
	batch, err := newUDPIO(conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &udpClient{g: g, s: s, conn: conn, io: batch, tx: start, peerLen: peerLen}, nil
}

func (c *udpClient) window() int { return udpWindow }
func (c *udpClient) interrupt()  { c.conn.SetDeadline(time.Now()) }
func (c *udpClient) close()      { c.conn.Close() }

func (c *udpClient) nextTx() uint32 {
	c.tx++
	return c.tx
}

// do sends the announces of jobs together, renewing the connection id
// when it is old or was refused, and resends those that timed out.
func (c *udpClient) do(jobs []job) bool {
	slots := c.slots[:len(jobs)]
	for i, a := range jobs {
		c.s.events[a.ev]++
		c.putAnnounce(&slots[i].pkt, a)
		slots[i].done = false
	}
	pending := len(slots)
	for attempt := 0; attempt <= udpRetries && pending > 0; attempt++ {
		if !c.validID || time.Since(c.connAt) >= connIDLifetime {
			if kind := c.connect(); kind != errNone {
				return c.failedAll(kind, pending)
			}
		}
		pkts := c.pkts[:0]
		t0 := time.Now()
		for i := range slots {
			sl := &slots[i]
			if sl.done {
				continue
			}
			sl.tx = c.nextTx()
			binary.BigEndian.PutUint64(sl.pkt[0:], c.connID)
			binary.BigEndian.PutUint32(sl.pkt[12:], sl.tx)
			c.s.requests++
			sl.t0 = t0
			pkts = append(pkts, sl.pkt[:])
		}
		if err := c.io.writeAll(pkts); err != nil {
			return c.failedAll(ioKind(err, errWrite), pending)
		}
		c.conn.SetReadDeadline(c.g.deadline())
		if c.g.cancelled.Load() {
			return false
		}
		for pending > 0 {
			got, err := c.io.readSome(pending)
			if err != nil {
				kind := ioKind(err, errRead)
				if kind != errTimeout {
					// A refused datagram (nothing listening) lands here.
					return c.failedAll(kind, pending)
				}
				break
			}
			for j := range got {
				b := c.io.datagram(j)
				i := c.match(slots, b)
				if i < 0 {
					continue
				}
				slots[i].done = true
				pending--
				c.answer(&slots[i], b)
			}
		}
		if pending > 0 {
			if c.g.cancelled.Load() {
				return false
			}
			// The answers or the requests were lost, or the tracker no
			// longer knows our id and stays silent (some do): count each,
			// get a fresh id and try again.
			c.s.kinds[errTimeout] += int64(pending)
			c.validID = false
		}
	}
	return false
}

// match returns the slot still waiting for datagram b, or -1 for a
// datagram that answers nothing pending (counted as stale when it answers
// an earlier transaction, as an error when it is too short to say).
func (c *udpClient) match(slots []udpSlot, b []byte) int {
	if len(b) < 8 {
		c.s.fail(errUDPPacket)
		return -1
	}
	tx := be32(b[4:])
	for i := range slots {
		if !slots[i].done && slots[i].tx == tx {
			return i
		}
	}
	c.s.stale++
	return -1
}

// answer validates answer b to sl and records it.
func (c *udpClient) answer(sl *udpSlot, b []byte) {
	switch kind := classify(b, actionAnnounce, c.peerLen); kind {
	case errNone:
		c.s.hist.record(time.Since(sl.t0))
		c.s.responses++
		c.s.peers += int64((len(b) - announceReplyLen) / c.peerLen)
	case errUDPError:
		msg := b[8:]
		c.s.reason(msg)
		if containsFold(msg, "connection") {
			c.validID = false
		}
		c.s.fail(kind)
	default:
		c.s.fail(kind)
	}
}

// classify checks a datagram answering the transaction that asked for
// action: an answer of that action (for an announce 20 bytes and then
// peerLen bytes a peer), or an error packet.
func classify(b []byte, action uint32, peerLen int) errKind {
	if len(b) == udpBufferSize {
		return errTooLarge
	}
	switch got := be32(b[0:]); {
	case got == actionError:
		return errUDPError
	case got != action:
		return errUDPPacket
	case action == actionConnect && len(b) < connectReplyLen:
		return errUDPPacket
	case action == actionAnnounce && len(b) < announceReplyLen:
		return errUDPPacket
	case action == actionAnnounce && (len(b)-announceReplyLen)%peerLen != 0:
		return errPeers
	}
	return errNone
}

// failedAll counts n announces failed with kind, unless the run was
// cancelled under them, and reports whether the tracker looks unreachable.
func (c *udpClient) failedAll(kind errKind, n int) bool {
	if c.g.cancelled.Load() && kind <= errTimeout {
		return false
	}
	c.s.kinds[kind] += int64(n)
	return kind == errRead || kind == errWrite || kind == errDial
}

// connect obtains a connection id, resending after timeouts (each counted
// as an error). Answers to earlier announces that arrive meanwhile are
// stale.
func (c *udpClient) connect() errKind {
	var pkt [connectLen]byte
	for attempt := 0; ; attempt++ {
		tx := c.nextTx()
		putConnect(pkt[:], tx)
		if _, err := c.conn.Write(pkt[:]); err != nil {
			return ioKind(err, errWrite)
		}
		n, kind := c.await(tx)
		if kind == errNone {
			kind = classify(c.buf[:n], actionConnect, c.peerLen)
		}
		switch {
		case kind == errNone:
			c.connID = binary.BigEndian.Uint64(c.buf[8:])
			c.connAt = time.Now()
			c.validID = true
			c.s.connects++
			return errNone
		case kind == errTimeout && attempt < udpRetries && !c.g.cancelled.Load():
			c.s.fail(errTimeout)
			continue
		case kind == errUDPError:
			c.s.reason(c.buf[8:n])
		}
		return kind
	}
}

// await reads until the datagram answering transaction tx arrives or the
// request times out, skipping answers to earlier transactions.
func (c *udpClient) await(tx uint32) (n int, kind errKind) {
	c.conn.SetReadDeadline(c.g.deadline())
	if c.g.cancelled.Load() {
		return 0, errTimeout
	}
	for {
		n, err := c.conn.Read(c.buf[:])
		if err != nil {
			return 0, ioKind(err, errRead)
		}
		if n < 8 {
			return n, errUDPPacket
		}
		if be32(c.buf[4:]) != tx {
			c.s.stale++
			continue
		}
		return n, errNone
	}
}

// putAnnounce writes everything of a's announce but the connection and
// transaction ids.
func (c *udpClient) putAnnounce(pkt *[announceLen]byte, a job) {
	wl := c.g.wl
	b := pkt[:]
	binary.BigEndian.PutUint32(b[8:], actionAnnounce)
	copy(b[16:36], wl.hashes[a.torrent][:])
	wl.peerID(a.peer, &c.id)
	copy(b[36:56], c.id[:])
	binary.BigEndian.PutUint64(b[56:], torrentSize/2-a.left/2) // downloaded
	binary.BigEndian.PutUint64(b[64:], a.left)
	binary.BigEndian.PutUint64(b[72:], 0) // uploaded
	binary.BigEndian.PutUint32(b[80:], uint32(a.ev))
	binary.BigEndian.PutUint32(b[84:], 0) // ip: the sender's
	binary.BigEndian.PutUint32(b[88:], wl.key(a.peer))
	binary.BigEndian.PutUint32(b[92:], uint32(int32(c.g.cfg.NumWant)))
	binary.BigEndian.PutUint16(b[96:], wl.port(a))
}

// containsFold reports whether b contains the lower-case ASCII s, ignoring
// case.
func containsFold(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if equalFold(b[i:i+len(s)], s) {
			return true
		}
	}
	return false
}
