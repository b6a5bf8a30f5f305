package announce

import (
	"net/netip"
	"strconv"
	"time"

	"johnlocke/store"
)

// Compact peer entry sizes (BEP 23, BEP 7): address then big-endian port.
const (
	peer4Len = 4 + 2
	peer6Len = 16 + 2
)

// AppendAnnounce appends the bencoded answer to an announce to dst and
// returns the extended slice. It allocates nothing when dst has room.
//
// The keys are written in sorted order: complete, downloaded, incomplete,
// interval, min interval (when positive), peers, peers6. With compact set,
// peers holds 6-byte IPv4 entries (BEP 23) and peers6, written only when
// there are IPv6 peers, 18-byte entries (BEP 7). Without it, peers is the
// original BEP 3 list of dictionaries holding both families, each with "ip"
// as a string and "port"; this tracker stores no peer ids, so no entry has
// a "peer id" key whatever no_peer_id says. A trailing partial entry in
// resp's buffers is ignored.
func AppendAnnounce(dst []byte, resp *store.Response, compact bool) []byte {
	return AppendAnnounceSeen(dst, resp, compact, netip.Addr{})
}

// AppendAnnounceSeen is AppendAnnounce with BEP 24's "external ip": the
// address the tracker saw the client at, 4 bytes for IPv4 (an IPv4-mapped
// IPv6 address included) and 16 for IPv6, between downloaded and
// incomplete in key order. An invalid seen leaves the key out. libtorrent
// learns its public address from it.
func AppendAnnounceSeen(dst []byte, resp *store.Response, compact bool, seen netip.Addr) []byte {
	p4 := resp.Peers4[:len(resp.Peers4)/peer4Len*peer4Len]
	p6 := resp.Peers6[:len(resp.Peers6)/peer6Len*peer6Len]

	dst = append(dst, "d8:completei"...)
	dst = strconv.AppendUint(dst, uint64(resp.Complete), 10)
	dst = append(dst, "e10:downloadedi"...)
	dst = strconv.AppendUint(dst, uint64(resp.Downloaded), 10)
	dst = append(dst, 'e')
	if seen.IsValid() {
		dst = appendExternalIP(dst, seen.Unmap())
	}
	dst = append(dst, "10:incompletei"...)
	dst = strconv.AppendUint(dst, uint64(resp.Incomplete), 10)
	dst = append(dst, "e8:intervali"...)
	dst = strconv.AppendInt(dst, int64(resp.Interval), 10)
	dst = append(dst, 'e')
	if resp.MinInterval > 0 {
		dst = append(dst, "12:min intervali"...)
		dst = strconv.AppendInt(dst, int64(resp.MinInterval), 10)
		dst = append(dst, 'e')
	}
	if compact {
		dst = append(dst, "5:peers"...)
		dst = appendString(dst, p4)
		if len(p6) > 0 {
			dst = append(dst, "6:peers6"...)
			dst = appendString(dst, p6)
		}
		return append(dst, 'e')
	}
	dst = append(dst, "5:peersl"...)
	for i := 0; i < len(p4); i += peer4Len {
		e := p4[i : i+peer4Len]
		dst = appendPeerDict(dst, netip.AddrFrom4([4]byte(e[:4])), e[4:])
	}
	for i := 0; i < len(p6); i += peer6Len {
		e := p6[i : i+peer6Len]
		dst = appendPeerDict(dst, netip.AddrFrom16([16]byte(e[:16])), e[16:])
	}
	return append(dst, "ee"...)
}

// appendExternalIP appends BEP 24's key and the address in network byte
// order: 11:external ip4:<4 bytes> or 11:external ip16:<16 bytes>.
func appendExternalIP(dst []byte, a netip.Addr) []byte {
	if a.Is4() {
		b := a.As4()
		dst = append(dst, "11:external ip4:"...)
		return append(dst, b[:]...)
	}
	b := a.As16()
	dst = append(dst, "11:external ip16:"...)
	return append(dst, b[:]...)
}

// appendPeerDict appends one dictionary-model peer: d2:ip<ip>4:porti<port>ee.
func appendPeerDict(dst []byte, addr netip.Addr, port []byte) []byte {
	var ipbuf [64]byte
	ip := addr.AppendTo(ipbuf[:0])
	dst = append(dst, "d2:ip"...)
	dst = appendString(dst, ip)
	dst = append(dst, "4:porti"...)
	dst = strconv.AppendUint(dst, uint64(port[0])<<8|uint64(port[1]), 10)
	return append(dst, "ee"...)
}

// appendString appends s as a bencoded byte string: <len>:<bytes>.
func appendString(dst, s []byte) []byte {
	dst = strconv.AppendInt(dst, int64(len(s)), 10)
	dst = append(dst, ':')
	return append(dst, s...)
}

// AppendFailure appends a bencoded failure (BEP 3):
// d14:failure reason<len>:<reason>e.
func AppendFailure(dst []byte, reason string) []byte {
	dst = append(dst, "d14:failure reason"...)
	dst = strconv.AppendInt(dst, int64(len(reason)), 10)
	dst = append(dst, ':')
	dst = append(dst, reason...)
	return append(dst, 'e')
}

// AppendRateLimited appends the failure for a client over its request rate
// that may try again after wait: a failure reason naming the seconds, and
// BEP 31's "retry in" in whole minutes (at least one), which clients that
// know it honour by backing off, so a client flooding the tracker is told
// to go quiet for a while. It allocates nothing when dst has room.
func AppendRateLimited(dst []byte, wait time.Duration) []byte {
	secs := max(1, int64((wait+time.Second-1)/time.Second))
	var rb [48]byte
	reason := append(rb[:0], "rate limited; retry in "...)
	reason = strconv.AppendInt(reason, secs, 10)
	reason = append(reason, " s"...)
	dst = append(dst, "d14:failure reason"...)
	dst = appendString(dst, reason)
	dst = append(dst, "8:retry ini"...)
	dst = strconv.AppendInt(dst, (secs+59)/60, 10)
	return append(dst, "ee"...)
}

// AppendScrapeStart opens a scrape answer (BEP 48): d5:filesd. Follow it
// with one AppendScrapeFile per torrent, in ascending infohash order, and
// close it with AppendScrapeEnd.
func AppendScrapeStart(dst []byte) []byte {
	return append(dst, "d5:filesd"...)
}

// AppendScrapeFile appends one torrent's entry to a scrape answer:
// 20:<infohash>d8:completei..e10:downloadedi..e10:incompletei..ee.
func AppendScrapeFile(dst []byte, infoHash [20]byte, c store.ScrapeCounts) []byte {
	dst = append(dst, "20:"...)
	dst = append(dst, infoHash[:]...)
	dst = append(dst, "d8:completei"...)
	dst = strconv.AppendUint(dst, uint64(c.Complete), 10)
	dst = append(dst, "e10:downloadedi"...)
	dst = strconv.AppendUint(dst, uint64(c.Downloaded), 10)
	dst = append(dst, "e10:incompletei"...)
	dst = strconv.AppendUint(dst, uint64(c.Incomplete), 10)
	return append(dst, "ee"...)
}

// AppendScrapeEnd closes a scrape answer opened by AppendScrapeStart.
func AppendScrapeEnd(dst []byte) []byte {
	return append(dst, "ee"...)
}
