package udp

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"time"
)

// Connection ids are stateless: an id is
//
//	SipHash-2-4(key, epoch || client address (16 bytes) || client port)
//
// where key is 128 bits derived from the configured secret and epoch (4
// bytes) counts epochLength periods since 1970. SipHash is a keyed PRF made
// for short inputs like this 22-byte message: an id cannot be made without
// the key (short of guessing 64 bits) nor reused from another address, and
// it costs about 30 ns (BenchmarkConnID). Nothing
// is remembered per client, so a flood of connects costs no memory.
//
// The key is kept in the database (store.DB.Secret), so ids that clients
// hold survive a restart of the tracker. (Ids issued by the SHA-256
// construction of earlier versions are not accepted: a client holding one
// across the upgrade is told "invalid connection id" once and reconnects.)
const (
	// epochLength is the granularity of an id's age.
	epochLength = time.Minute
	// epochsAccepted is how many epochs an id is good for, counting the one
	// it was issued in. BEP 15 lets a client use an id for one minute after
	// it got it and asks trackers to accept it for two: three one-minute
	// epochs accept an id for at least two minutes and at most three.
	epochsAccepted = 3
	// keyDomain separates this use of the configured key from any other.
	keyDomain = "johnlocke udp connection id v2\x00"
)

// macKey is the derived 128-bit key of the connection-id MAC, as SipHash's
// two key words.
type macKey struct{ k0, k1 uint64 }

// deriveKey turns the configured secret (any length) into the MAC key. An
// empty secret gets a random key: ids then do not survive a restart.
func deriveKey(secret []byte) (k macKey, random bool) {
	if len(secret) == 0 {
		secret = make([]byte, 32)
		rand.Read(secret) // never fails since Go 1.24
		random = true
	}
	buf := make([]byte, 0, len(keyDomain)+len(secret))
	buf = append(append(buf, keyDomain...), secret...)
	sum := sha256.Sum256(buf)
	le := binary.LittleEndian
	return macKey{k0: le.Uint64(sum[0:8]), k1: le.Uint64(sum[8:16])}, random
}

// epochOf returns the epoch number of t.
func epochOf(t time.Time) uint64 {
	return uint64(t.Unix()) / uint64(epochLength/time.Second)
}

// connID returns the connection id of client for epoch. IPv4 and
// IPv4-mapped IPv6 addresses give the same id.
func (k *macKey) connID(epoch uint64, client netip.AddrPort) uint64 {
	var msg [4 + 16 + 2]byte
	binary.BigEndian.PutUint32(msg[0:4], uint32(epoch))
	addr := client.Addr().As16()
	copy(msg[4:20], addr[:])
	binary.BigEndian.PutUint16(msg[20:22], client.Port())
	return sipHash24(k.k0, k.k1, msg[:])
}

// validID reports whether id was issued to client in one of the
// epochsAccepted epochs ending at now's. The newest epoch is tried first,
// as most ids are fresh; a forged id costs epochsAccepted hashes.
func (k *macKey) validID(id uint64, now uint64, client netip.AddrPort) bool {
	for age := range min(uint64(epochsAccepted), now+1) {
		if k.connID(now-age, client) == id {
			return true
		}
	}
	return false
}
