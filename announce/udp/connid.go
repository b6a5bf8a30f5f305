package udp

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"time"
)

// Connection ids are stateless: an id is the first 8 bytes of
//
//	SHA-256(key || epoch || client address (16 bytes) || client port)
//
// where key is 32 secret bytes and epoch (4 bytes) counts epochLength
// periods since 1970. The message is 54 bytes so that it fits one SHA-256
// block: an id costs one compression, about 100 ns. Nothing is remembered per client, so a flood of connects costs no
// memory, and an id cannot be made without the key nor reused from another
// address. Every input has a fixed length, so the secret-prefix construction
// is a sound MAC here (length extension needs a longer message, which is
// never checked), and sha256.Sum256 over a stack array allocates nothing.
//
// The key is kept in the database (store.DB.Secret), so ids that clients
// hold survive a restart of the tracker.
const (
	// epochLength is the granularity of an id's age.
	epochLength = time.Minute
	// epochsAccepted is how many epochs an id is good for, counting the one
	// it was issued in. BEP 15 lets a client use an id for one minute after
	// it got it and asks trackers to accept it for two: three one-minute
	// epochs accept an id for at least two minutes and at most three.
	epochsAccepted = 3
	// keyDomain separates this use of the configured key from any other.
	keyDomain = "johnlocke udp connection id v1\x00"
)

// macKey is the derived 32-byte key of the connection-id MAC.
type macKey [32]byte

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
	return sha256.Sum256(buf), random
}

// epochOf returns the epoch number of t.
func epochOf(t time.Time) uint64 {
	return uint64(t.Unix()) / uint64(epochLength/time.Second)
}

// connID returns the connection id of client for epoch. IPv4 and
// IPv4-mapped IPv6 addresses give the same id.
func (k *macKey) connID(epoch uint64, client netip.AddrPort) uint64 {
	var msg [32 + 4 + 16 + 2]byte
	copy(msg[:32], k[:])
	binary.BigEndian.PutUint32(msg[32:36], uint32(epoch))
	addr := client.Addr().As16()
	copy(msg[36:52], addr[:])
	binary.BigEndian.PutUint16(msg[52:54], client.Port())
	sum := sha256.Sum256(msg[:])
	return binary.BigEndian.Uint64(sum[:8])
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
