package cluster

import (
	"encoding/binary"
	"errors"

	"johnlocke/store"
)

// Subjects.
const (
	subjectPeers    = "johnlocke.peers."
	subjectRegistry = "johnlocke.registry"
	subjectHello    = "johnlocke.hello"
	subjectSnapshot = "johnlocke.snapshot"
	// queueSnapshot makes one node, not all, answer a snapshot request.
	queueSnapshot = "johnlocke-snapshot"
)

// A batch of peer changes is:
//
//	[0]      batchFormat
//	[1]      length n of the sender's name
//	[2:2+n]  the sender's name
//	8 bytes  sequence number, from 1, big-endian
//	8 bytes  send time, unix milliseconds, big-endian
//	then whole store.ChangeSize records.
const batchFormat = 1

// maxBatchBytes is the size a batch is filled to: one packet on a
// typical path (1,200 bytes fits an IPv6 minimum MTU with room for
// headers), so a lost packet loses one batch, not part of many.
const maxBatchBytes = 1200

var errBadBatch = errors.New("malformed batch")

// batchHeader returns the header of name's batches, with room for the
// sequence number and send time.
func batchHeader(name string) []byte {
	h := make([]byte, 0, 2+len(name)+16)
	h = append(h, batchFormat, byte(len(name)))
	h = append(h, name...)
	return append(h, make([]byte, 16)...)
}

// stampBatch writes the sequence number and send time into b's header,
// which is hlen bytes.
func stampBatch(b []byte, hlen int, seq uint64, sentMs int64) {
	binary.BigEndian.PutUint64(b[hlen-16:], seq)
	binary.BigEndian.PutUint64(b[hlen-8:], uint64(sentMs))
}

// decodeBatch splits a batch into its header fields and records.
func decodeBatch(b []byte) (name string, seq uint64, sentMs int64, recs []byte, err error) {
	if len(b) < 2 || b[0] != batchFormat {
		return "", 0, 0, nil, errBadBatch
	}
	n := int(b[1])
	if len(b) < 2+n+16 {
		return "", 0, 0, nil, errBadBatch
	}
	name = string(b[2 : 2+n])
	seq = binary.BigEndian.Uint64(b[2+n:])
	sentMs = int64(binary.BigEndian.Uint64(b[2+n+8:]))
	recs = b[2+n+16:]
	if len(recs)%store.ChangeSize != 0 || seq == 0 {
		return "", 0, 0, nil, errBadBatch
	}
	return name, seq, sentMs, recs, nil
}
