package udp

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strconv"
	"time"

	"johnlocke/announce/limit"
	"johnlocke/announce/tally"
	"johnlocke/store"
)

// The wire format of BEP 15. Every integer is big-endian.
const (
	// protocolID is the magic number a connect request carries in place of
	// a connection id.
	protocolID uint64 = 0x41727101980

	actionConnect  uint32 = 0
	actionAnnounce uint32 = 1
	actionScrape   uint32 = 2
	actionError    uint32 = 3

	// headerLen is what every request starts with: connection id (or the
	// protocol id), action, transaction id.
	headerLen = 16
	// connectReplyLen: action, transaction id, connection id.
	connectReplyLen = 16
	// announceLen is an announce request without BEP 41 options.
	announceLen = 98
	// announceReplyHeaderLen: action, transaction id, interval, leechers,
	// seeders; the compact peers follow.
	announceReplyHeaderLen = 20
	// scrapeReplyHeaderLen: action, transaction id; then per infohash
	// scrapeEntryLen bytes (seeders, completed, leechers).
	scrapeReplyHeaderLen = 8
	scrapeEntryLen       = 12
	// errorHeaderLen: action, transaction id; the message follows.
	errorHeaderLen = 8

	// Offsets in an announce request. The IP address (84) and key (88)
	// fields are read by nobody: the address is the socket's (a client may
	// not speak for another host), and peers are keyed by address and port,
	// which the key would only duplicate.
	offInfoHash   = 16
	offPeerID     = 36
	offDownloaded = 56
	offLeft       = 64
	offUploaded   = 72
	offEvent      = 80
	offNumWant    = 92
	offPort       = 96

	peer4Len = 6  // compact IPv4 peer: address, port
	peer6Len = 18 // compact IPv6 peer: address, port
)

// Size limits.
const (
	// MaxReplySize bounds every reply: the payload of one unfragmented
	// IPv6 datagram on a 1500-byte path (1500 - 40 IPv6 header - 8 UDP
	// header), which fits IPv4 too. Fragments are lost far more often than
	// whole datagrams, and a lost fragment loses the whole answer.
	MaxReplySize = 1500 - 40 - 8
	// MaxScrapeHashes bounds the infohashes of one scrape. It is BEP 15's
	// "up to about 74", which clients split their scrapes by: the request
	// (16 + 20*74 = 1496 bytes) is what outgrows a datagram first; the
	// reply (8 + 12*74 = 896 bytes) fits MaxReplySize, checked below.
	MaxScrapeHashes = 74
	// readBufferSize is each reader's buffer and so the largest request
	// read whole: a full scrape (1496 bytes) and an announce with up to
	// 1950 bytes of options. The kernel truncates larger datagrams to it;
	// the options parser then stops at the cut, and a truncated scrape has
	// too many hashes anyway.
	readBufferSize = 2048
	// maxFit4 and maxFit6 are how many peers of each family one announce
	// reply can carry within MaxReplySize (238 and 79).
	maxFit4 = (MaxReplySize - announceReplyHeaderLen) / peer4Len
	maxFit6 = (MaxReplySize - announceReplyHeaderLen) / peer6Len
)

// A compile-time check that a full scrape's answer fits MaxReplySize.
var _ [MaxReplySize - scrapeReplyHeaderLen - scrapeEntryLen*MaxScrapeHashes]struct{}

// The failures the UDP wire layer answers with itself, in error packets.
// Like every client-facing message they are store.Failure values with fixed
// texts: no client input is ever echoed back.
const (
	ErrBadConnectionID   store.Failure = "invalid connection id"
	ErrMalformedAnnounce store.Failure = "malformed announce request"
	ErrMalformedScrape   store.Failure = "malformed scrape request"
	ErrTooManyInfoHashes store.Failure = "too many info_hash values in one scrape"
	ErrInvalidEvent      store.Failure = "invalid event"
	ErrInvalidPort       store.Failure = "invalid port"
	ErrUnknownAction     store.Failure = "unknown action"
	ErrInternal          store.Failure = "internal error"
)

// handler is one socket reader's state: the request, response and reply
// buffers it reuses for every packet, so that answering one allocates
// nothing. It is not safe for concurrent use.
type handler struct {
	srv  *Server
	req  store.Request
	resp store.Response
	// out is the reply; capacity MaxReplySize (a batch reader points it at
	// the answer slot of each datagram in turn).
	out []byte
	// url holds the last announce's BEP 41 URL data. Nothing reads it yet
	// (a passkey or token would): it is parsed to validate the options.
	url []byte
	// rateNow is the rate limiter's clock, read once per packet or batch
	// (readRateClock) when there is a limiter.
	rateNow time.Duration
	// counts is this reader's stripe of the server's counts; sampler
	// picks the announces it times.
	counts  *tally.Counts
	sampler tally.Sampler
}

func (s *Server) newHandler() *handler {
	return &handler{
		srv: s,
		resp: store.Response{
			Peers4: make([]byte, 0, peer4Len*s.maxPeers4),
			Peers6: make([]byte, 0, peer6Len*s.maxPeers6),
		},
		out:    make([]byte, 0, MaxReplySize),
		url:    make([]byte, 0, MaxURLData),
		counts: s.tally.New(),
	}
}

// handlePacket answers one packet from client, returning the reply to send
// (nil for none). The reply aliases h's buffer until the next call. A panic
// is recovered and logged, and the packet goes unanswered: one bad packet
// must not take a socket's reader down.
func (h *handler) handlePacket(pkt []byte, client netip.AddrPort) []byte {
	h.readRateClock()
	return h.answer(pkt, client, epochOf(h.srv.now()))
}

// answer is handlePacket at a given connection-id epoch: a reader reads the
// clock once for a whole batch of packets, as the clock is slow on some
// virtual machines (200 ns here) and ids are minute-grained anyway.
func (h *handler) answer(pkt []byte, client netip.AddrPort, epoch uint64) (reply []byte) {
	// A source port of 0 cannot be answered, and no client sends it.
	if !client.IsValid() || client.Port() == 0 {
		return nil
	}
	defer func() {
		if p := recover(); p != nil {
			h.srv.logPanic(p)
			reply = nil
		}
	}()
	return h.handleAt(pkt, client, epoch)
}

// handleAt answers one packet. What gets which answer:
//   - shorter than a header, or a connect without the protocol id: silence,
//     as there is nobody we know to answer and nothing to say;
//   - a connect: its 16-byte reply, no larger than the request;
//   - an announce or scrape with a connection id that is not valid (forged,
//     expired, or issued to another address): an "invalid connection id"
//     error packet when it is no larger than the request, silence
//     otherwise. A client holding a stale id then hears why at once instead
//     of retrying for minutes, and a spoofed packet is answered with fewer
//     bytes than it sent, which no attacker can use to amplify;
//   - any other action without a valid id: silence;
//   - with a valid id, the client has shown it receives at its address, so
//     it gets a full answer or an error packet. Error packets are still
//     capped at the request's length (silence past it): a truncated request
//     is not a client that needs the text;
//   - an announce or scrape with a valid id from a source over its rate
//     (Config.RateLimit): an error packet saying when to retry, capped the
//     same way. Only requests with a valid id are counted, so a spoofer
//     cannot use up another address's rate; connects are not counted, as
//     their answer is no larger than the request and costs next to nothing.
func (h *handler) handleAt(pkt []byte, client netip.AddrPort, epoch uint64) []byte {
	if len(pkt) < headerLen {
		return nil
	}
	be := binary.BigEndian
	id := be.Uint64(pkt[0:8])
	action := be.Uint32(pkt[8:12])
	tx := be.Uint32(pkt[12:16])

	if action == actionConnect {
		if id != protocolID {
			return nil
		}
		h.counts.Connects.Add(1)
		out := be.AppendUint32(h.out[:0], actionConnect)
		out = be.AppendUint32(out, tx)
		return be.AppendUint64(out, h.srv.key.connID(epoch, client))
	}
	if !h.srv.key.validID(id, epoch, client) {
		if action != actionAnnounce && action != actionScrape {
			return nil
		}
		return h.fail(tx, ErrBadConnectionID, len(pkt))
	}
	if (action == actionAnnounce || action == actionScrape) && h.srv.cfg.RateLimit != nil {
		if ok, wait := h.srv.cfg.RateLimit.Allow(limit.SourceOf(client.Addr()), h.rateNow); !ok {
			h.counts.Fail(tally.ReasonRateLimited)
			return h.failRetry(tx, wait, len(pkt))
		}
	}
	switch action {
	case actionAnnounce:
		return h.announce(pkt, client, tx)
	case actionScrape:
		return h.scrape(pkt, tx)
	default:
		return h.fail(tx, ErrUnknownAction, len(pkt))
	}
}

// announce answers an authenticated announce request.
func (h *handler) announce(pkt []byte, client netip.AddrPort, tx uint32) []byte {
	start := h.sampler.Start()
	defer h.counts.Observe(start)
	if len(pkt) < announceLen {
		return h.fail(tx, ErrMalformedAnnounce, len(pkt))
	}
	be := binary.BigEndian
	event := be.Uint32(pkt[offEvent:])
	if event > uint32(store.EventStopped) {
		return h.fail(tx, ErrInvalidEvent, len(pkt))
	}
	port := be.Uint16(pkt[offPort:])
	if port == 0 {
		return h.fail(tx, ErrInvalidPort, len(pkt))
	}

	req := &h.req
	*req = store.Request{} // BothFamilies false: UDP answers its own family
	copy(req.InfoHash[:], pkt[offInfoHash:offPeerID])
	copy(req.PeerID[:], pkt[offPeerID:offDownloaded])
	req.Downloaded = be.Uint64(pkt[offDownloaded:])
	req.Left = be.Uint64(pkt[offLeft:])
	req.Uploaded = be.Uint64(pkt[offUploaded:])
	req.Event = store.Event(event)
	req.Port = port
	req.Proto = store.ProtoUDP
	// The socket's address family decides the peers' (BEP 15): an
	// IPv4-mapped address on a dual-stack socket is an IPv4 client.
	limit := h.srv.maxPeers4
	if addr := client.Addr().Unmap(); addr.Is4() {
		a4 := addr.As4()
		copy(req.Addr[:4], a4[:])
	} else {
		req.Addr = addr.As16()
		req.Is6 = true
		limit = h.srv.maxPeers6
	}
	// num_want: -1 (0xFFFFFFFF) is BEP 15's "default", and any other
	// negative number is taken to mean the same. The default is left to the
	// store unless it would not fit a reply.
	want := int32(be.Uint32(pkt[offNumWant:]))
	switch {
	case want >= 0 && int(want) <= limit:
	case want < 0 && limit >= h.srv.cfg.MaxPeers:
		want = -1
	default:
		want = int32(limit)
	}
	req.NumWant = want

	h.url, _ = parseOptions(pkt[announceLen:], h.url[:0])

	resp := &h.resp
	resp.Reset()
	if err := h.srv.tracker.Announce(req, resp); err != nil {
		return h.fail(tx, h.srv.failure(err, req), len(pkt))
	}
	peers, stride := resp.Peers4, peer4Len
	if req.Is6 {
		peers, stride = resp.Peers6, peer6Len
	}
	if len(peers) > limit*stride {
		peers = peers[:limit*stride]
	}
	out := be.AppendUint32(h.out[:0], actionAnnounce)
	out = be.AppendUint32(out, tx)
	out = be.AppendUint32(out, uint32(max(resp.Interval, 0)))
	out = be.AppendUint32(out, resp.Incomplete)
	out = be.AppendUint32(out, resp.Complete)
	return append(out, peers...)
}

// scrape answers an authenticated scrape request. BEP 15 has no way to leave
// an infohash out, so an unknown one is answered with zeros. Bytes after
// the last whole infohash are ignored, as BEP 15 asks trackers not to
// assume a packet's size.
func (h *handler) scrape(pkt []byte, tx uint32) []byte {
	n := (len(pkt) - headerLen) / 20
	switch {
	case n == 0:
		return h.fail(tx, ErrMalformedScrape, len(pkt))
	case n > MaxScrapeHashes:
		return h.fail(tx, ErrTooManyInfoHashes, len(pkt))
	}
	be := binary.BigEndian
	out := be.AppendUint32(h.out[:0], actionScrape)
	out = be.AppendUint32(out, tx)
	for i := range n {
		var hash [20]byte
		copy(hash[:], pkt[headerLen+20*i:])
		c, _ := h.srv.tracker.Scrape(hash)
		out = be.AppendUint32(out, c.Complete)
		out = be.AppendUint32(out, c.Downloaded)
		out = be.AppendUint32(out, c.Incomplete)
	}
	h.counts.Scrapes.Add(1)
	return out
}

// fail returns an error packet with f's text, or nil when that packet
// would be longer than limit (the request's length).
// Every failure is counted by its reason, answered or not.
func (h *handler) fail(tx uint32, f store.Failure, limit int) []byte {
	if f == ErrBadConnectionID {
		h.counts.Fail(tally.ReasonBadConnectionID)
	} else {
		h.counts.Fail(tally.ReasonOf(f, ErrInternal))
	}
	if errorHeaderLen+len(f) > limit {
		return nil
	}
	be := binary.BigEndian
	out := be.AppendUint32(h.out[:0], actionError)
	out = be.AppendUint32(out, tx)
	return append(out, string(f)...)
}

// failRetry returns the error packet for a client over its rate that may
// try again after wait ("rate limited; retry in N s"), or nil when that
// packet would be longer than maxLen (the request's length).
func (h *handler) failRetry(tx uint32, wait time.Duration, maxLen int) []byte {
	be := binary.BigEndian
	out := be.AppendUint32(h.out[:0], actionError)
	out = be.AppendUint32(out, tx)
	out = append(out, "rate limited; retry in "...)
	out = strconv.AppendInt(out, max(1, int64((wait+time.Second-1)/time.Second)), 10)
	out = append(out, " s"...)
	if len(out) > maxLen {
		return nil
	}
	return out
}

// readRateClock reads the rate limiter's clock for the packets answered
// next; without a limiter it reads nothing.
func (h *handler) readRateClock() {
	if r := h.srv.cfg.RateLimit; r != nil {
		h.rateNow = r.Now()
	}
}

// failure returns what the client is told for a tracker error: its own
// text for a store.Failure, ErrInternal (after logging it) for anything
// else.
func (s *Server) failure(err error, req *store.Request) store.Failure {
	if f, ok := err.(store.Failure); ok {
		return f
	}
	var f store.Failure
	if errors.As(err, &f) {
		return f
	}
	s.log.Error().Err(err).Hex("info_hash", req.InfoHash[:]).Msg("udp announce failed")
	return ErrInternal
}
