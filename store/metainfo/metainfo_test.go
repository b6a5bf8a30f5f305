package metainfo

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const fixtures = "../../testdata/torrents"

// The hashes below come from python3-libtorrent (see
// testdata/torrents/README.md), not from this package.
func TestFixtures(t *testing.T) {
	tests := []struct {
		file    string
		v1, v2  string // hex, "" when the torrent lacks that version
		name    string
		files   int
		length  int64
		private bool
	}{
		{"v1-single.torrent", "e555daab1fe3a02583db3e6f4146f8a98abfb538", "", "hello.txt", 1, 5000, false},
		{"v1-multi.torrent", "736605ab15899c93d8532788f63cf1b9fbebc1fb", "", "album", 3, 50000, false},
		{"v1-private.torrent", "36e8b53d0dfbb893c08cc432526de41fc5abe8a4", "", "secret.txt", 1, 4096, true},
		{"v2-only.torrent", "", "787645446cb82e5eaa0f311317c0a98d91b621249b818f13b0894ba5f5150d20", "v2album", 2, 26000, false},
		{"hybrid.torrent", "90ca69e182bf7b93f2245b72cce8971e63d0e9bb", "9e12287163ccfbf62634350fc3f31a2003f6cd82e334e49524c7829daaff46c9", "hybridalbum", 3, 28000, false},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			got, err := ParseFile(filepath.Join(fixtures, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if got.HasV1 != (tc.v1 != "") || got.HasV2 != (tc.v2 != "") {
				t.Fatalf("HasV1=%v HasV2=%v, want %v %v", got.HasV1, got.HasV2, tc.v1 != "", tc.v2 != "")
			}
			if tc.v1 != "" {
				if h := hex.EncodeToString(got.InfoHashV1[:]); h != tc.v1 {
					t.Errorf("InfoHashV1 = %s, want %s", h, tc.v1)
				}
			} else if got.InfoHashV1 != ([20]byte{}) {
				t.Errorf("InfoHashV1 set on a torrent without v1")
			}
			if tc.v2 != "" {
				if h := hex.EncodeToString(got.InfoHashV2[:]); h != tc.v2 {
					t.Errorf("InfoHashV2 = %s, want %s", h, tc.v2)
				}
			} else if got.InfoHashV2 != ([32]byte{}) {
				t.Errorf("InfoHashV2 set on a torrent without v2")
			}
			if got.Name != tc.name || got.Files != tc.files || got.Length != tc.length || got.Private != tc.private {
				t.Errorf("got name=%q files=%d length=%d private=%v, want %q %d %d %v",
					got.Name, got.Files, got.Length, got.Private, tc.name, tc.files, tc.length, tc.private)
			}

			primary := got.Primary()
			alias, ok := got.Alias()
			switch {
			case tc.v1 != "" && tc.v2 != "":
				if hex.EncodeToString(primary[:]) != tc.v1 || !ok || hex.EncodeToString(alias[:]) != tc.v2[:40] {
					t.Errorf("hybrid Primary=%x Alias=%x,%v", primary, alias, ok)
				}
			case tc.v1 != "":
				if hex.EncodeToString(primary[:]) != tc.v1 || ok {
					t.Errorf("v1 Primary=%x Alias ok=%v", primary, ok)
				}
			default:
				if hex.EncodeToString(primary[:]) != tc.v2[:40] || ok {
					t.Errorf("v2 Primary=%x Alias ok=%v", primary, ok)
				}
			}
		})
	}
}

func TestBrokenFixtures(t *testing.T) {
	tests := []struct {
		file string
		want error
	}{
		{"broken-truncated.torrent", ErrNotTorrent},
		{"broken-not-bencode.torrent", ErrNotTorrent},
		{"broken-no-info.torrent", ErrNotTorrent},
		{"broken-bad-pieces.torrent", ErrInvalidInfo},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join(fixtures, tc.file)
			got, err := ParseFile(path)
			if err == nil {
				t.Fatalf("parsed %+v, want an error", got)
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("error %q is not %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s", err, path)
			}
		})
	}
}

// TestUnsortedKeysHashExactBytes builds a v1 info dictionary whose keys are
// out of order: re-encoding it would sort them and change the hash.
func TestUnsortedKeysHashExactBytes(t *testing.T) {
	pieces := strings.Repeat("\xab", 20)
	info := "d6:pieces20:" + pieces + "4:name5:a.txt12:piece lengthi16384e6:lengthi100ee"
	data := []byte("d4:info" + info + "8:announce30:http://127.0.0.1:6969/announcee")
	got, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if want := sha1.Sum([]byte(info)); got.InfoHashV1 != want {
		t.Errorf("InfoHashV1 = %x, want %x", got.InfoHashV1, want)
	}
	if !got.HasV1 || got.HasV2 || got.Name != "a.txt" || got.Length != 100 || got.Files != 1 {
		t.Errorf("got %+v", got)
	}
}

func TestHybridHashesSameBytes(t *testing.T) {
	root := strings.Repeat("r", 32)
	info := "d9:file treed1:fd0:d6:lengthi10e11:pieces root32:" + root + "eee" +
		"6:lengthi10e12:meta versioni2e4:name1:f12:piece lengthi16384e6:pieces20:" + strings.Repeat("p", 20) + "e"
	got, err := Parse([]byte("d4:info" + info + "e"))
	if err != nil {
		t.Fatal(err)
	}
	if !got.HasV1 || !got.HasV2 || got.InfoHashV1 != sha1.Sum([]byte(info)) || got.InfoHashV2 != sha256.Sum256([]byte(info)) {
		t.Errorf("got %+v", got)
	}
}

func TestSyntaxErrors(t *testing.T) {
	v1 := "d6:lengthi1e4:name1:a12:piece lengthi1e6:pieces20:" + strings.Repeat("x", 20) + "e"
	if _, err := Parse([]byte("d4:info" + v1 + "e")); err != nil {
		t.Fatalf("baseline does not parse: %v", err)
	}
	deep := "d4:info" + strings.Repeat("l", 70) + strings.Repeat("e", 70) + "e"
	tests := map[string]string{
		"empty":             "",
		"not a dict":        "li1ee",
		"string top level":  "4:spam",
		"truncated":         "d4:info" + v1[:len(v1)-5],
		"trailing garbage":  "d4:info" + v1 + "ex",
		"two values":        "d4:info" + v1 + "ed4:infoe",
		"leading zero":      "d4:infod6:lengthi01eee",
		"minus zero":        "d4:infod6:lengthi-0eee",
		"empty integer":     "d4:infod6:lengthieee",
		"bare minus":        "d4:infod6:lengthi-eee",
		"absurd integer":    "d4:infod6:lengthi" + strings.Repeat("9", 40) + "eee",
		"integer overflow":  "d4:infod6:lengthi9223372036854775808eee",
		"string past end":   "d4:info999999999999:x",
		"huge string":       "d4:info9223372036854775807:x",
		"string len zero":   "d4:info01:xe",
		"bad key":           "di1ei2ee",
		"unterminated":      "d4:info",
		"too deep":          deep,
		"bad byte":          "d4:infoxe",
		"no info":           "d8:announce3:urle",
		"info not dict":     "d4:info4:spame",
		"duplicate info":    "d4:info" + v1 + "4:info" + v1 + "e",
		"unterminated list": "d4:infol",
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Parse([]byte(in))
			if err == nil {
				t.Fatalf("parsed %+v, want an error", got)
			}
			if !errors.Is(err, ErrNotTorrent) {
				t.Errorf("error %q is not ErrNotTorrent", err)
			}
		})
	}
}

func TestInvalidInfo(t *testing.T) {
	p20 := strings.Repeat("x", 20)
	root := strings.Repeat("r", 32)
	tests := map[string]string{
		"no name":              "d6:lengthi1e12:piece lengthi1e6:pieces20:" + p20 + "e",
		"empty name":           "d6:lengthi1e4:name0:12:piece lengthi1e6:pieces20:" + p20 + "e",
		"negative length":      "d6:lengthi-1e4:name1:a12:piece lengthi1e6:pieces0:e",
		"no pieces":            "d6:lengthi1e4:name1:a12:piece lengthi1ee",
		"too few pieces":       "d6:lengthi2e4:name1:a12:piece lengthi1e6:pieces20:" + p20 + "e",
		"zero piece length":    "d6:lengthi1e4:name1:a12:piece lengthi0e6:pieces20:" + p20 + "e",
		"length and files":     "d5:filesld6:lengthi1e4:pathl1:aeee6:lengthi1e4:name1:a12:piece lengthi1e6:pieces20:" + p20 + "e",
		"neither":              "d4:name1:a12:piece lengthi1e6:pieces20:" + p20 + "e",
		"empty files":          "d5:filesle4:name1:a12:piece lengthi1e6:pieces0:e",
		"file without path":    "d5:filesld6:lengthi1eee4:name1:a12:piece lengthi1e6:pieces20:" + p20 + "e",
		"empty path component": "d5:filesld6:lengthi1e4:pathl0:eee4:name1:a12:piece lengthi1e6:pieces20:" + p20 + "e",
		"no version at all":    "d4:name1:a12:piece lengthi16384ee",
		"meta version 3":       "d9:file treed1:ad0:d6:lengthi0eeee12:meta versioni3e4:name1:a12:piece lengthi16384ee",
		"v2 no file tree":      "d12:meta versioni2e4:name1:a12:piece lengthi16384ee",
		"v2 small pieces":      "d9:file treed1:ad0:d6:lengthi0eeee12:meta versioni2e4:name1:a12:piece lengthi1024ee",
		"v2 no pieces root":    "d9:file treed1:ad0:d6:lengthi5eeee12:meta versioni2e4:name1:a12:piece lengthi16384ee",
		"v2 empty tree":        "d9:file treede12:meta versioni2e4:name1:a12:piece lengthi16384ee",
		"v2 empty dir":         "d9:file treed1:adee12:meta versioni2e4:name1:a12:piece lengthi16384ee",
		"v2 file and dir":      "d9:file treed1:ad0:d6:lengthi0ee1:bd0:d6:lengthi0eeeee12:meta versioni2e4:name1:a12:piece lengthi16384ee",
		"hybrid mismatch": "d9:file treed1:fd0:d6:lengthi11e11:pieces root32:" + root + "eee" +
			"6:lengthi10e12:meta versioni2e4:name1:f12:piece lengthi16384e6:pieces20:" + p20 + "e",
	}
	for name, info := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Parse([]byte("d4:info" + info + "e"))
			if err == nil {
				t.Fatalf("parsed %+v, want an error", got)
			}
			if !errors.Is(err, ErrInvalidInfo) {
				t.Errorf("error %q is not ErrInvalidInfo", err)
			}
		})
	}
}

func TestPadFilesNotCounted(t *testing.T) {
	info := "d5:filesl" +
		"d6:lengthi3e4:pathl1:aee" +
		"d4:attr1:p6:lengthi5e4:pathl4:.pad1:5ee" +
		"d6:lengthi4e4:pathl1:bee" +
		"e4:name1:d12:piece lengthi8e6:pieces40:" + strings.Repeat("x", 40) + "e"
	got, err := Parse([]byte("d4:info" + info + "e"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Files != 2 || got.Length != 7 {
		t.Errorf("Files=%d Length=%d, want 2 7", got.Files, got.Length)
	}
}

func TestParseFileTooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.torrent")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: costs no disk, and ParseFile must stop reading at the limit.
	if err := f.Truncate(MaxFileSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = ParseFile(path)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), path) {
		t.Errorf("got %v, want ErrTooLarge naming %s", err, path)
	}
}

func TestParseFileMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.torrent")
	_, err := ParseFile(path)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("got %v, want a not-exist error naming %s", err, path)
	}
}
