package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"

	"johnlocke/store"
)

// TestRemoveThroughTheSocket: remove, ban, banned and unban through the
// client, batches longer than one request included.
func TestRemoveThroughTheSocket(t *testing.T) {
	st, _, sock := serve(t)
	c := dial(t, sock)
	if _, err := c.Register([]store.Torrent{{InfoHash: hash(1)}, {InfoHash: hash(2), Alias: hash(9), HasAlias: true}}); err != nil {
		t.Fatal(err)
	}
	// More infohashes than one request carries.
	hashes := make([][20]byte, maxRemoveBatch+3)
	hashes[0], hashes[1] = hash(1), hash(9)
	for i := 2; i < len(hashes); i++ {
		hashes[i] = [20]byte{0xee, byte(i), byte(i >> 8)}
	}
	res, err := c.Remove(hashes, true, "why")
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(hashes) || !res[0].Removed || !res[1].Removed || res[2].Removed || !res[len(res)-1].Banned {
		t.Fatalf("%d results, first three %+v", len(res), res[:3])
	}
	if n, _ := st.Counts(); n != 0 {
		t.Fatalf("%d torrents left, want 0", n)
	}
	bans, err := c.Banned()
	// hash(1), both names of the hybrid (asked by its alias), the rest.
	if err != nil || len(bans) != len(hashes)+1 {
		t.Fatalf("%d bans, %v; want %d", len(bans), err, len(hashes)+1)
	}
	was, err := c.Unban([][20]byte{hash(2), hash(3)})
	if err != nil || len(was) != 2 || !was[0] || was[1] {
		t.Fatalf("Unban = %v, %v", was, err)
	}
	if bans, _ = c.Banned(); len(bans) != len(hashes)-1 {
		t.Fatalf("%d bans after lifting the hybrid's, want %d", len(bans), len(hashes)-1)
	}
}

// TestRemoveRefusesBadRequests: a malformed infohash or too many in one
// request are refused whole, nothing removed.
func TestRemoveRefusesBadRequests(t *testing.T) {
	st, _, sock := serve(t)
	if _, err := st.Register([]store.Torrent{{InfoHash: hash(1)}}); err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	many := make([]string, maxRemoveBatch+1)
	for i := range many {
		many[i] = strings.Repeat("01", 20)
	}
	for _, tc := range []struct {
		body removeRequest
		code int
	}{
		{removeRequest{InfoHashes: []string{strings.Repeat("01", 20), "xyz"}}, http.StatusBadRequest},
		{removeRequest{InfoHashes: many}, http.StatusRequestEntityTooLarge},
	} {
		b, _ := json.Marshal(tc.body)
		resp, err := hc.Post("http://x"+pathRemove, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("status %d, want %d", resp.StatusCode, tc.code)
		}
	}
	if n, _ := st.Counts(); n != 1 {
		t.Fatalf("%d torrents, want the one kept", n)
	}
}
