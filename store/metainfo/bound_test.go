package metainfo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bomb is a well-formed torrent of about size bytes whose info dictionary
// holds a list of tiny dictionaries: cheap to write, dear to decode.
func bomb(size int) []byte {
	const item = "d0:dee"
	return []byte("d4:infod5:filesl" + strings.Repeat(item, size/len(item)) + "e4:name1:xee")
}

func TestDecodedSizeIsBounded(t *testing.T) {
	const bound = 64 << 10
	o := Options{MaxFileSize: bound}
	data := bomb(bound - 100)
	if len(data) > bound {
		t.Fatalf("the bomb is %d bytes, over the %d bound", len(data), bound)
	}
	_, err := o.Parse(data)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), fmt.Sprint(DecodedLimit(bound))) {
		t.Fatalf("Parse of %d bytes of tiny dictionaries: %v; want ErrTooLarge naming the decoded limit %d", len(data), err, DecodedLimit(bound))
	}

	// Through ParseFile the error names the file; under a bound 3 times
	// larger the same file decodes (and is then refused for what it is).
	path := filepath.Join(t.TempDir(), "bomb.torrent")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := o.ParseFile(path); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), path) {
		t.Fatalf("ParseFile: %v; want ErrTooLarge naming %s", err, path)
	}
	if _, err := (Options{MaxFileSize: 3 * bound}).ParseFile(path); errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrInvalidInfo) {
		t.Fatalf("ParseFile under a larger bound: %v; want ErrInvalidInfo", err)
	}
}

func TestFileSizeBound(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(filepath.Join(fixtures, "v1-single.torrent"))
	if err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.torrent")
	// Valid bencode padded past the bound: refused by size, unread.
	if err := os.WriteFile(big, append(good[:len(good)-1], []byte(fmt.Sprintf("3:pad%d:%se", 2<<10, strings.Repeat("x", 2<<10)))...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "good.torrent"), good, 0o600); err != nil {
		t.Fatal(err)
	}
	var got []string
	err = Options{MaxFileSize: 1 << 10}.Walk(dir, func(path string, tor *Torrent, err error) {
		switch {
		case err == nil:
			got = append(got, "ok "+filepath.Base(path))
		case errors.Is(err, ErrTooLarge) && strings.Contains(err.Error(), big) && strings.Contains(err.Error(), "limit 1024"):
			got = append(got, "too large "+filepath.Base(path))
		default:
			got = append(got, "error "+err.Error())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "too large big.torrent,ok good.torrent"; strings.Join(got, ",") != want {
		t.Fatalf("walk: %q, want %q", got, want)
	}
}

// TestLargeRealTorrentsFit checks the decoded bound against the torrents it
// must let through: the most files a torrent libtorrent still loads (10 MB)
// can list, with names of a few bytes, in v1 and v2 form, under the default
// bound.
func TestLargeRealTorrentsFit(t *testing.T) {
	const libtorrentMax = 10_000_000
	var b strings.Builder
	b.WriteString("d4:infod5:filesl")
	n := 0
	for b.Len() < libtorrentMax-100 {
		name := fmt.Sprint(n)
		fmt.Fprintf(&b, "d6:lengthi1e4:pathl%d:%see", len(name), name)
		n++
	}
	fmt.Fprintf(&b, "e4:name1:x12:piece lengthi%de6:pieces20:%see", 1<<30, strings.Repeat("p", 20))
	tor, err := Parse([]byte(b.String()))
	if err != nil {
		t.Fatalf("v1 torrent of %d files, %d bytes: %v", n, b.Len(), err)
	}
	if tor.Files != n {
		t.Fatalf("%d files, want %d", tor.Files, n)
	}

	b.Reset()
	b.WriteString("d4:infod9:file treed")
	n = 0
	for b.Len() < libtorrentMax-200 {
		name := fmt.Sprintf("%08d", n) // sorted, as BEP 52 wants
		fmt.Fprintf(&b, "%d:%sd0:d6:lengthi0eee", len(name), name)
		n++
	}
	b.WriteString("e12:meta versioni2e4:name1:x12:piece lengthi16384eee")
	if tor, err = Parse([]byte(b.String())); err != nil || tor.Files != n {
		t.Fatalf("v2 torrent of %d files, %d bytes: %v, %+v", n, b.Len(), err, tor)
	}
}
