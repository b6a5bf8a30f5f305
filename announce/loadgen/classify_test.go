package loadgen

import (
	"encoding/binary"
	"testing"
)

func TestClassifyPeerEntrySize(t *testing.T) {
	answer := func(n int) []byte {
		b := make([]byte, n)
		binary.BigEndian.PutUint32(b, actionAnnounce)
		return b
	}
	tests := []struct {
		name    string
		n       int
		peerLen int
		want    errKind
	}{
		{"ipv4 two peers", announceReplyLen + 12, 6, errNone},
		{"ipv6 one peer", announceReplyLen + 18, 18, errNone},
		{"ipv6 answer with an ipv4-sized entry", announceReplyLen + 6, 18, errPeers},
		{"ipv4 answer with a ragged entry", announceReplyLen + 7, 6, errPeers},
	}
	for _, tt := range tests {
		if got := classify(answer(tt.n), actionAnnounce, tt.peerLen); got != tt.want {
			t.Errorf("%s: classify = %v, want %v", tt.name, got, tt.want)
		}
	}
}
