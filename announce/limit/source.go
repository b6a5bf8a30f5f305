package limit

import (
	"encoding/binary"
	"net/netip"
)

// Source is the unit every limit counts by: an IPv4 address (/32) or the
// /64 an IPv6 address belongs to. It is comparable and holds no pointer.
type Source struct {
	hi, lo uint64
}

// v4Mark sets a bit no masked IPv6 /64 has (its low word is always zero),
// so an IPv4 source never equals an IPv6 one.
const v4Mark = 1 << 32

// SourceOf returns addr's source. An IPv4-mapped IPv6 address counts as
// the IPv4 address it carries; a zone is ignored.
func SourceOf(addr netip.Addr) Source {
	addr = addr.Unmap()
	if addr.Is4() {
		a := addr.As4()
		return Source{lo: v4Mark | uint64(binary.BigEndian.Uint32(a[:]))}
	}
	a := addr.As16()
	return Source{hi: binary.BigEndian.Uint64(a[:8])}
}
