package metainfo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	entries, err := os.ReadDir(fixtures)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(fixtures, e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"de",
		"d4:infodee",
		"d4:infod6:lengthi1e4:name1:a12:piece lengthi1e6:pieces20:" + strings.Repeat("x", 20) + "ee",
		"d4:infod9:file treed1:ad0:d6:lengthi0eeee12:meta versioni2e4:name1:a12:piece lengthi16384eee",
		"d4:info9223372036854775807:",
		"d4:infoi-0ee",
		strings.Repeat("l", 100),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tor, err := Parse(data)
		if err != nil {
			if tor != nil {
				t.Fatalf("both a torrent and an error: %v", err)
			}
			return
		}
		if !tor.HasV1 && !tor.HasV2 {
			t.Fatal("parsed a torrent with neither version")
		}
		if tor.Name == "" || tor.Length < 0 || tor.Files < 1 {
			t.Fatalf("implausible torrent %+v", tor)
		}
		p := tor.Primary()
		alias, ok := tor.Alias()
		if tor.HasV1 {
			if p != tor.InfoHashV1 {
				t.Fatal("v1 torrent's Primary is not its SHA-1 hash")
			}
		} else if p != truncate(tor.InfoHashV2) {
			t.Fatal("v2-only torrent's Primary is not its truncated SHA-256 hash")
		}
		if ok != (tor.HasV1 && tor.HasV2) || (ok && alias != truncate(tor.InfoHashV2)) {
			t.Fatalf("Alias = %x, %v for HasV1=%v HasV2=%v", alias, ok, tor.HasV1, tor.HasV2)
		}
	})
}
