package admin

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// emptyObjects is a register body of n empty torrent objects, produced as
// it is read so the test itself holds none of it.
type emptyObjects struct {
	left int // objects still to produce
	tail string
}

func (e *emptyObjects) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		switch {
		case e.left > 1:
			if len(p)-n < 3 {
				return n, nil
			}
			n += copy(p[n:], "{},")
			e.left--
		case e.left == 1:
			e.tail, e.left = "{}]}", 0
		case e.tail != "":
			c := copy(p[n:], e.tail)
			e.tail = e.tail[c:]
			n += c
		default:
			if n == 0 {
				return 0, io.EOF
			}
			return n, nil
		}
	}
	return n, nil
}

// TestRegisterStopsAtTheBatchLimit sends the body that used to take the
// server to gigabytes (a register request of millions of `{}`, just under
// the body limit) and checks the server refuses it after reading little more
// than the batch limit's worth: the bytes it consumed are bounded by what
// the test managed to write before the answer came, far short of the body.
func TestRegisterStopsAtTheBatchLimit(t *testing.T) {
	_, _, sock := serve(t)
	const head = `{"torrents":[`
	objects := (maxRegisterBody - len(head) - 2) / 3
	body := io.MultiReader(strings.NewReader(head), &emptyObjects{left: objects})
	size := int64(len(head)) + int64(objects)*3 + 1
	var written int64 // body bytes the socket took before the answer
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	wrote := make(chan error, 1)
	go func() {
		_, err := fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", pathRegister, size)
		if err == nil {
			written, err = io.Copy(conn, body)
		}
		wrote <- err
	}()
	_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	conn.Close() // ends the writer if the server has not
	<-wrote
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !bytes.Contains(answer, []byte("more than 4096 torrents")) {
		t.Fatalf("status %d, %s; want 413 naming the limit", resp.StatusCode, answer)
	}
	// The server reads the first 4097 objects (12 KiB) and then drops the
	// connection; what the test wrote past that sat in socket buffers or the
	// server's 256 KiB drain. Reading the whole body would take all of it.
	if limit := int64(4 << 20); written > limit {
		t.Fatalf("the client got %d of %d bytes into the socket before the answer; want at most %d", written, size, limit)
	}
}

func TestDecodeRegister(t *testing.T) {
	h := strings.Repeat("ab", 20)
	for _, tc := range []struct {
		name, body string
		want       int // torrents, or -1 for an error
		errHas     string
	}{
		{"empty object", `{}`, 0, ""},
		{"null torrents", `{"torrents":null}`, 0, ""},
		{"two", `{"torrents":[{"infohash":"` + h + `"},{"name":"x"}]}`, 2, ""},
		{"unknown field skipped", `{"x":[1,{"y":2}],"torrents":[{}]}`, 1, ""},
		{"case-insensitive key", `{"Torrents":[{}]}`, 1, ""},
		{"repeated key", `{"torrents":[],"torrents":[{}]}`, -1, "twice"},
		{"not an object", `[{}]`, -1, "want"},
		{"torrents not an array", `{"torrents":"` + strings.Repeat("z", 1000) + `"}`, -1, "got a string"},
		{"trailing object", `{} {}`, -1, "trailing"},
		{"trailing bracket", `{}}`, -1, "trailing"},
		{"cut short", `{"torrents":[{}`, -1, "EOF"},
		{"bad element", `{"torrents":[{"size":"x"}]}`, -1, "torrent 0"},
		{"at the limit", `{"torrents":[` + strings.Repeat(`{},`, maxRegisterBatch-1) + `{}]}`, maxRegisterBatch, ""},
		{"past the limit", `{"torrents":[` + strings.Repeat(`{},`, maxRegisterBatch) + `{}]}`, -1, "more than 4096"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, err := decodeRegister(strings.NewReader(tc.body))
			if tc.want < 0 {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("err %v, want one containing %q", err, tc.errHas)
				}
				if len(err.Error()) > 200 {
					t.Fatalf("error message of %d bytes echoes the body", len(err.Error()))
				}
				return
			}
			if err != nil || len(ts) != tc.want {
				t.Fatalf("got %d torrents, %v; want %d", len(ts), err, tc.want)
			}
		})
	}
}
