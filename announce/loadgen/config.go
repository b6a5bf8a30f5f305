package loadgen

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Defaults for the zero fields of a Config.
const (
	DefaultPath        = "/announce"
	DefaultConcurrency = 32
	DefaultTorrents    = 1000
	DefaultPeers       = 10000
	// DefaultNumWant is what real clients ask for and what trackers cap at.
	DefaultNumWant = 50
	// DefaultTimeout bounds one request's wait for its answer; a tracker on
	// loopback that takes longer is stalled, not slow.
	DefaultTimeout = 2 * time.Second
	// DefaultSeeders is the fraction of peers that are seeders from their
	// first announce; the rest are leechers until they complete.
	DefaultSeeders = 0.25
	// DefaultSkew is the Zipf exponent of torrent popularity: at 1.1 over
	// 100,000 torrents the busiest one holds about an eighth of all peers
	// and the quietest still a few.
	DefaultSkew = 1.1
)

// Protocols Config.Protocol accepts.
const (
	HTTP = "http"
	UDP  = "udp"
)

// Config describes one load run. The zero value of every field but Addr,
// Protocol and Duration means its default.
type Config struct {
	// Addr is the tracker's host:port. Traffic goes nowhere else.
	Addr string
	// Protocol is "http" or "udp".
	Protocol string
	// Path is the HTTP announce path; default "/announce".
	Path string
	// Concurrency is the number of parallel workers: for HTTP one
	// keep-alive connection each, with one announce in flight; for UDP one
	// socket each, with up to 8 announces in flight (1 when Rate is set).
	// It is capped at Peers.
	Concurrency int
	// Duration bounds the run; required, > 0.
	Duration time.Duration
	// Requests, when positive, also ends the run after this many announces,
	// split evenly among the workers (a UDP retry is not another announce).
	// With Requests equal to Peers every peer announces "started" exactly
	// once: that loads a tracker with all the peers and no churn, for
	// measuring memory.
	Requests int64
	// Torrents is the number of distinct infohashes to announce, generated
	// from Seed; ignored when InfoHashes is given.
	Torrents int
	// Peers is the number of distinct simulated peers (address and port
	// identities). Each peer belongs to one torrent.
	Peers int
	// InfoHashes, when not empty, are exactly the torrents announced (for
	// trackers that serve registered torrents only, such as a whitelist
	// build of opentracker). See LoadInfoHashes.
	InfoHashes [][20]byte
	// NumWant is sent with every announce; default 50.
	NumWant int
	// Seed makes the workload (torrents, popularity, peers, event order)
	// reproducible.
	Seed uint64
	// Rate, when positive, paces the run to about this many announces per
	// second overall; 0 sends as fast as the tracker answers.
	Rate int
	// Seeders is the fraction of peers that start as seeders; 0 means
	// DefaultSeeders, a negative value none.
	Seeders float64
	// Skew is the Zipf exponent of torrent popularity (> 1); 0 means
	// DefaultSkew.
	Skew float64
	// Timeout bounds each request's wait for an answer (and each connect);
	// default 2s. A UDP announce is retried after a timeout, up to twice.
	Timeout time.Duration
	// NoKeepAlive makes HTTP workers open a connection per announce and
	// ask the tracker to close it ("Connection: close"), as real clients
	// announcing minutes apart do.
	NoKeepAlive bool
	// ClientCloses makes HTTP workers open a connection per announce
	// without asking the tracker to close it (HTTP/1.1 keep-alive, as
	// aria2 sends), and close it themselves after the answer: clients
	// announcing minutes apart that keep their connection alive never
	// reuse it. It excludes NoKeepAlive.
	ClientCloses bool
	// GoNet makes connection-per-announce HTTP workers (NoKeepAlive,
	// ClientCloses) use Go's net package, a goroutine each, as they did
	// before the one-goroutine epoll loop that drives them on Linux (see
	// runOneShot): for comparing the two load generators.
	GoNet bool
	// SingleSource turns off the per-worker loopback source addresses (see
	// the package comment): every socket then uses the system's choice.
	SingleSource bool
	// Source, when valid, is the one local address every worker binds to,
	// in place of the per-worker loopback addresses: a run then looks to
	// the tracker like one host (a flood from one address, say, beside a
	// second run from 127.0.0.2). It must be of the target's family.
	Source netip.Addr
}

// normalize fills in defaults and rejects what cannot run.
func (c Config) normalize() (Config, error) {
	c.Protocol = strings.ToLower(c.Protocol)
	if c.Protocol == "" {
		c.Protocol = HTTP
	}
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("addr: empty"))
	}
	if c.Protocol != HTTP && c.Protocol != UDP {
		errs = append(errs, fmt.Errorf("protocol: want http or udp, got %q", c.Protocol))
	}
	if c.Duration <= 0 {
		errs = append(errs, fmt.Errorf("duration: want > 0, got %v", c.Duration))
	}
	if c.Path == "" {
		c.Path = DefaultPath
	}
	if !strings.HasPrefix(c.Path, "/") || strings.ContainsAny(c.Path, "?# \r\n") {
		errs = append(errs, fmt.Errorf("path: want an absolute path without query, got %q", c.Path))
	}
	nonNegative := func(name string, v int) {
		if v < 0 {
			errs = append(errs, fmt.Errorf("%s: want >= 0, got %d", name, v))
		}
	}
	nonNegative("concurrency", c.Concurrency)
	nonNegative("torrents", c.Torrents)
	nonNegative("peers", c.Peers)
	nonNegative("rate", c.Rate)
	if c.Requests < 0 {
		errs = append(errs, fmt.Errorf("requests: want >= 0, got %d", c.Requests))
	}
	if c.NumWant < -1 {
		errs = append(errs, fmt.Errorf("numwant: want >= -1, got %d", c.NumWant))
	}
	if c.Skew != 0 && c.Skew <= 1 {
		errs = append(errs, fmt.Errorf("skew: want > 1, got %v", c.Skew))
	}
	if c.Seeders > 1 {
		errs = append(errs, fmt.Errorf("seeders: want a fraction <= 1, got %v", c.Seeders))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: want >= 0, got %v", c.Timeout))
	}
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if len(c.InfoHashes) > 0 {
		c.Torrents = len(c.InfoHashes)
	} else if c.Torrents == 0 {
		c.Torrents = DefaultTorrents
	}
	if c.Peers == 0 {
		c.Peers = DefaultPeers
	}
	c.Concurrency = min(c.Concurrency, c.Peers)
	if c.NumWant == 0 {
		c.NumWant = DefaultNumWant
	}
	switch {
	case c.Seeders == 0:
		c.Seeders = DefaultSeeders
	case c.Seeders < 0:
		c.Seeders = 0
	}
	if c.Skew == 0 {
		c.Skew = DefaultSkew
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return c, nil
}
