package announce

import (
	"bytes"
	"compress/gzip"
	"context"
	"strconv"
	"time"

	"johnlocke/store"
)

// FullScraper is what a full scrape needs from the store besides Tracker:
// every torrent's counts in ascending infohash order (see
// store.Store.ScrapeAll).
type FullScraper interface {
	ScrapeAll(buf []store.ScrapeEntry, fn func(store.ScrapeEntry)) []store.ScrapeEntry
}

// DefaultFullScrapeInterval is how often, at most, the full scrape answer
// is rebuilt when HTTPConfig.FullScrapeInterval is zero.
const DefaultFullScrapeInterval = 5 * time.Minute

// fullScrapeWriteTimeout bounds writing one answer larger than
// bigAnswer: a full scrape of a million torrents is tens of MiB, which a
// client on a slow link cannot take within WriteTimeout.
const (
	bigAnswer              = 1 << 20
	fullScrapeWriteTimeout = 5 * time.Minute
)

// ErrFullScrapeNotReady answers a full scrape asked for before the first
// answer has been built.
const ErrFullScrapeNotReady store.Failure = "full scrape not ready yet, try again later"

// fullScrape is a built full scrape answer: whole HTTP responses (status
// line, headers, body), plain and gzipped, shared read-only by every
// connection that sends one. Each says Connection: close, so one answer
// fits every request.
type fullScrape struct {
	built      time.Time
	plain, gz  []byte
	torrents   int
	plainBytes int
}

// runFullScrape builds the full scrape answer at once, then again when a
// request finds it older than the interval, at most once an interval,
// until ctx is done or the server shuts down. Requests never build: they
// are answered from the last answer built.
func (s *HTTPServer) runFullScrape(ctx context.Context, fs FullScraper) {
	defer s.fullWG.Done()
	var buf []store.ScrapeEntry
	for {
		buf = s.buildFullScrape(fs, buf)
		select {
		case <-ctx.Done():
			return
		case <-s.quit:
			return
		case <-s.fullWanted:
		}
		last := s.full.Load().built
		if wait := s.cfg.FullScrapeInterval - time.Since(last); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-s.quit:
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// buildFullScrape builds and publishes the answer; buf is scratch space for
// the store, returned for the next build.
func (s *HTTPServer) buildFullScrape(fs FullScraper, buf []store.ScrapeEntry) []store.ScrapeEntry {
	start := time.Now()
	var size int
	if old := s.full.Load(); old != nil {
		size = old.plainBytes
	}
	// Both answers are built behind fullHeadroom bytes, where their
	// headers go once the length is known: tens of MiB are never copied.
	plain := AppendScrapeStart(make([]byte, fullHeadroom, fullHeadroom+size+64))
	n := 0
	buf = fs.ScrapeAll(buf, func(e store.ScrapeEntry) {
		plain = AppendScrapeFile(plain, e.InfoHash, e.Counts)
		n++
	})
	plain = AppendScrapeEnd(plain)
	zbuf := bytes.NewBuffer(make([]byte, fullHeadroom, fullHeadroom+len(plain)/2))
	zw, _ := gzip.NewWriterLevel(zbuf, gzip.BestSpeed) // a valid level: no error
	_, _ = zw.Write(plain[fullHeadroom:])              // a bytes.Buffer takes everything
	_ = zw.Close()
	f := &fullScrape{
		built:      time.Now(),
		plain:      withHeader(plain, ""),
		gz:         withHeader(zbuf.Bytes(), "Content-Encoding: gzip\r\n"),
		torrents:   n,
		plainBytes: len(plain) - fullHeadroom,
	}
	s.full.Store(f)
	select {
	case s.fullBuilt <- struct{}{}:
	default: // nobody waits
	}
	s.log.Debug().Int("torrents", n).Int("bytes", f.plainBytes).Int("gzip_bytes", zbuf.Len()-fullHeadroom).
		Int64("took_ms", time.Since(start).Milliseconds()).Msg("built the full scrape")
	return buf
}

// fullHeadroom is room before a full scrape body for its status line and
// headers.
const fullHeadroom = 192

// withHeader writes the status line and headers of the body at
// buf[fullHeadroom:] right before it and returns the whole HTTP response.
func withHeader(buf []byte, extra string) []byte {
	var hb [fullHeadroom]byte
	h := append(hb[:0], "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "...)
	h = strconv.AppendInt(h, int64(len(buf)-fullHeadroom), 10)
	h = append(h, "\r\nVary: Accept-Encoding\r\nConnection: close\r\n"...)
	h = append(h, extra...)
	h = append(h, "\r\n"...)
	start := fullHeadroom - len(h)
	copy(buf[start:], h)
	return buf[start:]
}

// fullScrapeAnswer returns the cached full scrape answer for a request that
// accepts gzip or not, asking for a rebuild when it is older than the
// interval; nil when none has been built yet.
func (s *HTTPServer) fullScrapeAnswer(gz bool) []byte {
	f := s.full.Load()
	if f == nil {
		return nil
	}
	if time.Since(f.built) >= s.cfg.FullScrapeInterval {
		select {
		case s.fullWanted <- struct{}{}:
		default: // a rebuild is asked for already
		}
	}
	if gz {
		return f.gz
	}
	return f.plain
}

// acceptsGzip reads an Accept-Encoding header: gzip (or *) listed without
// q=0.
func acceptsGzip(val []byte) bool {
	for len(val) > 0 {
		tok := val
		if i := bytes.IndexByte(val, ','); i >= 0 {
			tok, val = val[:i], val[i+1:]
		} else {
			val = nil
		}
		name, params := tok, []byte(nil)
		if i := bytes.IndexByte(tok, ';'); i >= 0 {
			name, params = tok[:i], tok[i+1:]
		}
		name = trimSpace(name)
		if !equalFold(name, "gzip") && !equalFold(name, "x-gzip") && string(name) != "*" {
			continue
		}
		return !zeroQuality(params)
	}
	return false
}

// zeroQuality reports whether parameters say q=0 (q=0, q=0.0, q=0.000).
func zeroQuality(params []byte) bool {
	p := trimSpace(params)
	if len(p) < 3 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=' {
		return false
	}
	v := p[2:]
	if v[0] != '0' {
		return false
	}
	for _, b := range v[1:] {
		if b != '.' && b != '0' {
			return false
		}
	}
	return true
}
