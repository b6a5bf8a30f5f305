// Package status is the status listener (serve --status): Prometheus
// metrics at /metrics, a page a person reads at /, and the page's figures
// for scripts at /stats.json. It reads the counts the store and the
// listeners keep already — per shard and per socket, summed only when
// asked — so it costs the announce path nothing while nobody looks.
package status

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// DefaultAddr is where serve's status listener listens unless told: the
// loopback interface, so nothing is exposed that an operator did not ask
// for.
const DefaultAddr = "127.0.0.1:6970"

// Bounds of the listener.
const (
	// DefaultSampleInterval and historyLen make the page's charts: a
	// sample every 10 s, an hour of them (360 samples of a few dozen
	// bytes).
	DefaultSampleInterval = 10 * time.Second
	historyLen            = 360
	// readTimeout and writeTimeout bound a slow client; a page or a
	// metrics scrape is a few tens of KiB.
	readTimeout  = 10 * time.Second
	writeTimeout = 30 * time.Second
)

// Server is the status listener.
type Server struct {
	src     Sources
	every   time.Duration
	log     zerolog.Logger
	handler http.Handler

	mu      sync.Mutex
	history history
}

// New returns a status server reading src, sampling the charts' figures
// every sampleInterval (DefaultSampleInterval when not positive; tests
// take less).
func New(src Sources, sampleInterval time.Duration, log zerolog.Logger) *Server {
	if sampleInterval <= 0 {
		sampleInterval = DefaultSampleInterval
	}
	s := &Server{src: src, every: sampleInterval, log: log}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newCollector(&s.src),
	)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: promLog{log}}))
	mux.HandleFunc("GET /stats.json", s.serveJSON)
	mux.HandleFunc("GET /{$}", s.servePage)
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(assetsFS())))
	s.handler = mux
	s.sample() // the first point, so the page has one at once
	return s
}

// Handler returns the listener's routes.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers on ln and samples the figures for the page until ctx is
// done; it closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.handler, ReadTimeout: readTimeout, WriteTimeout: writeTimeout,
		ReadHeaderTimeout: readTimeout}
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(s.every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Second)
				_ = hs.Shutdown(shutdownCtx)
				cancel()
				return
			case <-tick.C:
				s.sample()
			}
		}
	}()
	err := hs.Serve(ln)
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// sample adds the figures now to the history.
func (s *Server) sample() {
	snap := s.src.snapshot()
	s.mu.Lock()
	s.history.add(&snap)
	s.mu.Unlock()
}

// promLog sends promhttp's errors to the log.
type promLog struct{ log zerolog.Logger }

func (l promLog) Println(v ...any) { l.log.Warn().Msgf("metrics: %v", v) }
