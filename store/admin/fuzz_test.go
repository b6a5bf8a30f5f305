package admin

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// FuzzDecodeRegister feeds the register decoder arbitrary bodies: it must
// not panic, never return more than the batch limit, and whatever it accepts
// must be what json.Unmarshal makes of the same bytes (the client encodes
// with encoding/json, so the two must agree).
func FuzzDecodeRegister(f *testing.F) {
	h := strings.Repeat("ab", 20)
	for _, s := range []string{
		``, `{}`, `null`, `[]`, `{"torrents":null}`, `{"torrents":[]}`,
		`{"torrents":[{}]}`, `{"torrents":[{},{}]} `, `{"Torrents":[{"NAME":"x"}]}`,
		`{"torrents":[{"infohash":"` + h + `","alias":"` + h + `","name":"ü\u00fc","size":1,"private":true,"mode":1,"source":1,"origin":"/o","added":"2024-01-01T00:00:00Z","completed":3}]}`,
		`{"x":{"torrents":[{}]},"torrents":[{"size":-1}]}`,
		`{"torrents":[],"torrents":[]}`, `{} {}`, `{}}`, `{"torrents":[{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := decodeRegister(strings.NewReader(string(body)))
		if err != nil {
			if got != nil {
				t.Fatalf("torrents and an error: %v", err)
			}
			return
		}
		if len(got) > maxRegisterBatch {
			t.Fatalf("%d torrents accepted, limit %d", len(got), maxRegisterBatch)
		}
		var want registerRequest
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatalf("decodeRegister accepted what json.Unmarshal refuses (%v): %q", err, body)
		}
		if len(got) != len(want.Torrents) || (len(got) > 0 && !reflect.DeepEqual(got, want.Torrents)) {
			t.Fatalf("decodeRegister and json.Unmarshal disagree on %q:\n got %+v\nwant %+v", body, got, want.Torrents)
		}
		for i := range got {
			_, _ = got[i].toStore() // must not panic on anything decoded
		}
	})
}
