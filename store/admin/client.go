package admin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"johnlocke/store"
)

// Client-side limits.
const (
	// dialTimeout bounds connecting: a live server accepts at once.
	dialTimeout = time.Second
	// statusTimeout bounds the status request every command starts with.
	statusTimeout = 5 * time.Second
	// opTimeout bounds one operation (a register batch, a purge, the
	// torrent stream), matching the server's writeTimeout.
	opTimeout = writeTimeout
	// clientBatch is how many torrents one register request carries.
	clientBatch = 1024
	// maxAnswer bounds an answer the client reads whole.
	maxAnswer = 64 << 20
	// maxStreamLine bounds one line of the torrent stream.
	maxStreamLine = 1 << 20
)

// ErrNoServer means no server answers on the socket: there is no socket
// file, or a stale one (connection refused). The caller may open the
// database itself.
var ErrNoServer = errors.New("no johnlocke server on the admin socket")

// State is what Probe found at a socket path.
type State int

const (
	// None: no file at the path.
	None State = iota
	// Stale: a socket file nobody listens on (left by a crash).
	Stale
	// Live: a johnlocke server answered.
	Live
)

// Probe looks at the socket path: nothing there, a stale socket, or a live
// server (with its status). A path that is not a socket, a socket that
// refuses this user, or one that accepts but does not answer as johnlocke
// are errors: none of them may be replaced or ignored.
func Probe(path string) (Status, State, error) {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Status{}, None, nil
	case err != nil:
		return Status{}, None, fmt.Errorf("admin socket %s: %w", path, err)
	case fi.Mode().Type() != fs.ModeSocket:
		return Status{}, None, fmt.Errorf("admin socket %s exists and is not a socket; remove it or choose another --admin path", path)
	}
	c, err := Dial(path)
	switch {
	case errors.Is(err, ErrNoServer):
		return Status{}, Stale, nil
	case err != nil:
		return Status{}, None, err
	}
	defer c.Close()
	return c.Status(), Live, nil
}

// Client talks to a running server over its admin socket.
type Client struct {
	path   string
	hc     *http.Client
	status Status
}

// Dial connects to the server on the socket at path and reads its status.
// It returns ErrNoServer when nobody serves there.
func Dial(path string) (*Client, error) {
	if len(path) > maxSocketPath {
		return nil, ErrNoServer // no server can listen there
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			d := net.Dialer{Timeout: dialTimeout}
			conn, err := d.DialContext(ctx, "unix", path)
			if err != nil {
				return nil, err
			}
			if err := checkPeer(conn, path); err != nil {
				_ = conn.Close()
				return nil, err
			}
			return conn, nil
		},
		MaxIdleConns:           1,
		IdleConnTimeout:        idleTimeout,
		MaxResponseHeaderBytes: maxHeaderBytes,
		DisableCompression:     true,
	}
	c := &Client{path: path, hc: &http.Client{Transport: tr}}
	ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
	defer cancel()
	err := c.do(ctx, http.MethodGet, pathStatus, nil, &c.status)
	var untrusted *UntrustedError
	switch {
	case err == nil:
		return c, nil
	case noServer(err):
		c.Close()
		return nil, ErrNoServer
	case errors.As(err, &untrusted):
		c.Close()
		return nil, untrusted
	case errors.Is(err, syscall.EACCES):
		c.Close()
		return nil, fmt.Errorf("admin socket %s: permission denied; run this as the user johnlocke serve runs as", path)
	}
	c.Close()
	return nil, fmt.Errorf("admin socket %s does not answer as johnlocke: %w", path, err)
}

// peer is the process at the other end of a Unix socket.
type peer struct{ UID, PID int }

// UntrustedError says the process answering on the socket runs as a user
// the client must not trust: anyone who can write the database's directory
// can put a socket there, and a fake server could swallow imports and keep
// serve from starting.
type UntrustedError struct {
	Socket string
	// PeerUID and PeerPID are the listening process's, from SO_PEERCRED;
	// PeerUID is -1 when they could not be read.
	PeerUID, PeerPID int
	UID              int // the client's
	Err              error
}

func (e *UntrustedError) Error() string {
	if e.PeerUID < 0 {
		return fmt.Sprintf("admin socket %s: cannot tell which user serves it (%v); refusing to trust it", e.Socket, e.Err)
	}
	return fmt.Sprintf("admin socket %s is served by uid %d (pid %d), neither this user (uid %d) nor root (checked with SO_PEERCRED); "+
		"refusing to trust it: a socket there that is not johnlocke's own may be planted by whoever can write its directory. "+
		"Run this as the user johnlocke serve runs as, or remove the socket if no johnlocke of yours serves it",
		e.Socket, e.PeerUID, e.PeerPID, e.UID)
}

func (e *UntrustedError) Unwrap() error { return e.Err }

// checkPeer accepts a server running as the client's own user or as root
// (who could read the database anyway) and refuses any other.
func checkPeer(conn net.Conn, path string) error {
	p, err := peerOf(conn, path)
	if err != nil {
		return &UntrustedError{Socket: path, PeerUID: -1, PeerPID: -1, UID: os.Getuid(), Err: err}
	}
	if p.UID != os.Getuid() && p.UID != 0 {
		return &UntrustedError{Socket: path, PeerUID: p.UID, PeerPID: p.PID, UID: os.Getuid()}
	}
	return nil
}

// noServer reports whether a connection error means nobody listens.
func noServer(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT)
}

// Close releases the client's connection.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Status returns the server's status as read by Dial.
func (c *Client) Status() Status { return c.status }

// RemoteError is a failure the server reported.
type RemoteError struct {
	// Code is the HTTP status: 4xx for a request the server refused,
	// 5xx for a failure of the server's store (its database).
	Code    int
	Message string
}

func (e *RemoteError) Error() string { return e.Message }

// Register registers ts through the server, in batches of clientBatch
// torrents (each batch one transaction), and returns one result per
// torrent, in order.
func (c *Client) Register(ts []store.Torrent) ([]store.RegisterResult, error) {
	results := make([]store.RegisterResult, 0, len(ts))
	for start := 0; start < len(ts); start += clientBatch {
		batch := ts[start:min(start+clientBatch, len(ts))]
		req := registerRequest{Torrents: make([]wireTorrent, len(batch))}
		for i := range batch {
			req.Torrents[i] = toWire(&batch[i])
		}
		var resp registerResponse
		if err := c.call(http.MethodPost, pathRegister, req, &resp); err != nil {
			return results, err
		}
		if len(resp.Results) != len(batch) {
			return results, fmt.Errorf("admin socket %s: %d results for %d torrents", c.path, len(resp.Results), len(batch))
		}
		for _, r := range resp.Results {
			h, err := parseHex(r.InfoHash)
			if err != nil {
				return results, fmt.Errorf("admin socket %s: result: %w", c.path, err)
			}
			results = append(results, store.RegisterResult{InfoHash: h, Added: r.Added, ModeChanged: r.ModeChanged, Banned: r.Banned})
		}
	}
	return results, nil
}

// Torrent looks one torrent up, with live counts; ok is false when it is
// not registered.
func (c *Client) Torrent(hash [20]byte) (t store.Torrent, ok bool, err error) {
	var w wireTorrent
	err = c.call(http.MethodGet, pathTorrents+"/"+hex.EncodeToString(hash[:]), nil, &w)
	var re *RemoteError
	if errors.As(err, &re) && re.Code == http.StatusNotFound {
		return t, false, nil
	}
	if err != nil {
		return t, false, err
	}
	if t, err = w.toStore(); err != nil {
		return t, false, fmt.Errorf("admin socket %s: %w", c.path, err)
	}
	return t, true, nil
}

// Torrents calls fn for every registered torrent, with live counts, in
// infohash order.
func (c *Client) Torrents(fn func(*store.Torrent) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://johnlocke"+pathTorrents, nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin socket %s: %w", c.path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return c.remoteError(resp)
	}
	lines := bufio.NewScanner(resp.Body)
	lines.Buffer(make([]byte, 0, 64<<10), maxStreamLine)
	n := 0
	for lines.Scan() {
		var item streamItem
		if err := json.Unmarshal(lines.Bytes(), &item); err != nil {
			return fmt.Errorf("admin socket %s: torrent stream: %w", c.path, err)
		}
		switch {
		case item.Error != "":
			return &RemoteError{Code: http.StatusInternalServerError, Message: item.Error}
		case item.End:
			if item.Count != n {
				return fmt.Errorf("admin socket %s: torrent stream ended after %d of %d torrents", c.path, n, item.Count)
			}
			return nil
		case item.Torrent == nil:
			return fmt.Errorf("admin socket %s: torrent stream: empty line", c.path)
		}
		t, err := item.Torrent.toStore()
		if err != nil {
			return fmt.Errorf("admin socket %s: torrent stream: %w", c.path, err)
		}
		n++
		if err := fn(&t); err != nil {
			return err
		}
	}
	if err := lines.Err(); err != nil {
		return fmt.Errorf("admin socket %s: torrent stream: %w", c.path, err)
	}
	return fmt.Errorf("admin socket %s: torrent stream cut short after %d torrents", c.path, n)
}

// Purge runs a purge in the server, which removes from memory and file
// together. o.Now and o.PeerTimeout are the server's: its clock and its
// timing.
func (c *Client) Purge(o store.PurgeOptions) (store.PurgeReport, error) {
	var resp purgeResponse
	if err := c.call(http.MethodPost, pathPurge, purgeRequest{OlderThan: o.OlderThan, DryRun: o.DryRun}, &resp); err != nil {
		return store.PurgeReport{}, err
	}
	rep := store.PurgeReport{Peers: resp.Peers, SwarmsDropped: resp.SwarmsDropped}
	for _, s := range resp.Torrents {
		h, err := parseHex(s)
		if err != nil {
			return rep, fmt.Errorf("admin socket %s: purge: %w", c.path, err)
		}
		rep.Torrents = append(rep.Torrents, h)
	}
	for _, k := range resp.Kept {
		h, err := parseHex(k.InfoHash)
		if err != nil {
			return rep, fmt.Errorf("admin socket %s: purge: %w", c.path, err)
		}
		rep.Kept = append(rep.Kept, store.PurgeKept{InfoHash: h, Reason: k.Reason})
	}
	return rep, nil
}

// call is do with the operation timeout, naming the socket in errors other
// than the server's own.
func (c *Client) call(method, path string, body, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	err := c.do(ctx, method, path, body, out)
	var re *RemoteError
	if err != nil && !errors.As(err, &re) {
		return fmt.Errorf("admin socket %s: %w", c.path, err)
	}
	return err
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	// The host is a placeholder: the transport always dials the socket.
	req, err := http.NewRequestWithContext(ctx, method, "http://johnlocke"+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return c.remoteError(resp)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxAnswer)).Decode(out); err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	return nil
}

// remoteError turns a non-200 answer into a *RemoteError.
func (c *Client) remoteError(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxSmallBody))
	var eb errorBody
	msg := strings.TrimSpace(string(raw))
	if json.Unmarshal(raw, &eb) == nil && eb.Error != "" {
		msg = eb.Error
	}
	if msg == "" {
		msg = resp.Status
	}
	return &RemoteError{Code: resp.StatusCode, Message: msg}
}
