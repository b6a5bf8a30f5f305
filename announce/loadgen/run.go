package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// backoff is how long a worker waits after it could not reach the tracker
// at all (refused, unreachable), so a dead tracker is not spun on.
const backoff = 10 * time.Millisecond

// client is one worker's side of a protocol.
type client interface {
	// window is how many announces the client can have in flight at once.
	window() int
	// do sends the announces (at most window) and waits for their answers,
	// recording the outcomes in the worker's stats. It reports whether the
	// tracker looked unreachable, so the worker backs off.
	do(jobs []job) (unreachable bool)
	// interrupt makes a blocked do return soon; it is called from another
	// goroutine when the run is cancelled.
	interrupt()
	close()
}

// run is the state one Run shares with its workers.
type run struct {
	cfg    Config
	target netip.AddrPort
	wl     *workload
	ctx    context.Context
	// stopping is set when the run's time is up or its context is done:
	// workers finish their request in flight and return. cancelled is set
	// on a cancelled context only: requests in flight are cut short and
	// not counted as errors.
	stopping  atomic.Bool
	cancelled atomic.Bool
	stop      chan struct{}
}

// Run drives load at cfg.Addr until cfg.Duration has passed or ctx is done,
// and reports what it measured. It returns an error, and no report, when cfg
// is invalid or the tracker cannot be reached at all before the run starts;
// errors during the run are counted in the report instead. A cancelled run
// still returns the report of what it did.
func Run(ctx context.Context, cfg Config) (Report, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return Report{}, fmt.Errorf("loadgen: %w", err)
	}
	target, err := resolve(cfg.Protocol, cfg.Addr)
	if err != nil {
		return Report{}, fmt.Errorf("loadgen: %w", err)
	}
	g := &run{cfg: cfg, target: target, ctx: ctx, stop: make(chan struct{})}
	if err := g.probe(); err != nil {
		return Report{}, fmt.Errorf("loadgen: %s tracker at %s: %w", cfg.Protocol, cfg.Addr, err)
	}
	g.wl = newWorkload(cfg)
	if cfg.Source.IsValid() && cfg.Source.Unmap().Is4() != target.Addr().Unmap().Is4() {
		return Report{}, fmt.Errorf("loadgen: source %v and target %v are of different address families", cfg.Source, target)
	}
	g.wl.ownSources = sourceAddr(target.Addr(), 0, cfg.SingleSource).IsValid() && !cfg.Source.IsValid()

	allStats := make([]*stats, cfg.Concurrency)
	srcs := make([]netip.Addr, cfg.Concurrency)
	sources := 1
	for w := range srcs {
		allStats[w] = &stats{}
		srcs[w] = sourceAddr(target.Addr(), w, cfg.SingleSource)
		if srcs[w].IsValid() {
			sources = cfg.Concurrency
		}
		if cfg.Source.IsValid() {
			srcs[w], sources = cfg.Source.Unmap(), 1
		}
	}
	if cfg.Protocol == HTTP && (cfg.NoKeepAlive || cfg.ClientCloses) && canOneShot && !cfg.GoNet {
		start := time.Now()
		if err := g.runOneShot(allStats, srcs); err != nil {
			return Report{}, fmt.Errorf("loadgen: %w", err)
		}
		elapsed := time.Since(start)
		var total stats
		for _, s := range allStats {
			total.merge(s)
		}
		return newReport(cfg, sources, &total, elapsed), nil
	}

	clients := make([]client, cfg.Concurrency)
	for w := range clients {
		src := srcs[w]
		var c client
		var err error
		if cfg.Protocol == UDP {
			c, err = newUDPClient(g, src, allStats[w])
		} else {
			c, err = newHTTPClient(g, src, allStats[w])
		}
		if err != nil {
			for _, c := range clients[:w] {
				c.close()
			}
			return Report{}, fmt.Errorf("loadgen: worker %d: %w", w, err)
		}
		clients[w] = c
	}

	peerSets := make([]*peers, cfg.Concurrency)
	for w := range peerSets {
		peerSets[w] = newPeers(g.wl, w)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for w, c := range clients {
		wg.Go(func() {
			defer c.close()
			g.work(w, start, c, peerSets[w])
		})
	}

	// The watcher ends the run: at the deadline workers finish what is in
	// flight; on cancellation they are interrupted.
	workersDone := make(chan struct{})
	watcherDone := make(chan struct{})
	go func() {
		defer close(watcherDone)
		timer := time.NewTimer(cfg.Duration)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
			g.cancelled.Store(true)
			for _, c := range clients {
				c.interrupt()
			}
		case <-workersDone:
		}
		g.stopping.Store(true)
		close(g.stop)
	}()
	wg.Wait()
	elapsed := time.Since(start)
	close(workersDone)
	<-watcherDone

	var total stats
	for _, s := range allStats {
		total.merge(s)
	}
	return newReport(cfg, sources, &total, elapsed), nil
}

// A paced worker whose announce interval is shorter than pacedBurstBelow
// sends its announces in groups, one about every pacedBurstEvery (see
// pacing). With 16 workers that starts above 64,000 announces a second,
// more than one worker sending one announce at a time reached on the
// project's machine.
const (
	pacedBurstBelow = 250 * time.Microsecond
	pacedBurstEvery = time.Millisecond
)

// pacing returns how many announces a worker sends at a time and the
// interval between those groups, for a worker whose announces are due
// every interval (0: unpaced) on a client that can keep window in flight.
// An unpaced worker keeps its client's window full; a paced one sends one
// announce at a time, on schedule, except that at high rates its timer
// wake-ups and per-announce system calls would cap it below its target:
// then it sends k announces together every k intervals.
func pacing(interval time.Duration, window int) (int, time.Duration) {
	switch {
	case interval == 0:
		return window, 0
	case interval < pacedBurstBelow:
		k := min(window, int(pacedBurstEvery/interval)+1)
		return k, interval * time.Duration(k)
	}
	return 1, interval
}

// work is one worker's loop: pick the next announce, pace it if a rate is
// set, send it, until the run stops or the worker's share of
// Config.Requests is done.
func (g *run) work(w int, start time.Time, c client, p *peers) {
	var interval time.Duration
	var next time.Time
	var timer *time.Timer
	win := c.window()
	if g.cfg.Rate > 0 {
		// Each worker sends its share at a fixed interval (per group of
		// win announces), the workers staggered across one interval so
		// that their groups do not leave together.
		win, interval = pacing(g.workerInterval(), win)
		next = start.Add(interval * time.Duration(w) / time.Duration(g.cfg.Concurrency))
		timer = time.NewTimer(time.Hour)
		defer timer.Stop()
	}
	budget := int64(-1) // unlimited
	if r := g.cfg.Requests; r > 0 {
		c := int64(g.cfg.Concurrency)
		budget = (r - int64(w) + c - 1) / c
	}
	jobs := make([]job, win)
	for budget != 0 && !g.stopping.Load() {
		if interval > 0 {
			if d := time.Until(next); d > 0 && !g.sleep(timer, d) {
				return
			}
			next = next.Add(interval)
		}
		n := int64(win)
		if budget > 0 {
			n = min(n, budget)
			budget -= n
		}
		for i := range n {
			jobs[i] = p.next()
		}
		if c.do(jobs[:n]) {
			g.sleep(timer, backoff)
		}
	}
}

// workerInterval is how often each worker's announces are due for the
// run to send Config.Rate announces a second overall (Rate > 0).
func (g *run) workerInterval() time.Duration {
	return time.Duration(float64(time.Second) * float64(g.cfg.Concurrency) / float64(g.cfg.Rate))
}

// sleep waits d or until the run stops, reporting whether it slept it all.
func (g *run) sleep(timer *time.Timer, d time.Duration) bool {
	if timer == nil {
		timer = time.NewTimer(d)
		defer timer.Stop()
	} else {
		timer.Reset(d)
	}
	select {
	case <-timer.C:
		return true
	case <-g.stop:
		return false
	}
}

// deadline is when the request starting now must be answered by.
func (g *run) deadline() time.Time {
	return time.Now().Add(g.cfg.Timeout)
}

// resolve turns host:port into one address, preferring a literal.
func resolve(protocol, addr string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	var ap netip.AddrPort
	if protocol == UDP {
		a, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			return ap, fmt.Errorf("resolve %s: %w", addr, err)
		}
		ap = a.AddrPort()
	} else {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			return ap, fmt.Errorf("resolve %s: %w", addr, err)
		}
		ap = a.AddrPort()
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// probe checks, before the clock starts, that something answers at the
// target: an HTTP listener accepts, a UDP tracker answers a connect.
func (g *run) probe() error {
	ctx, cancel := context.WithTimeout(g.ctx, g.cfg.Timeout)
	defer cancel()
	if g.cfg.Protocol == HTTP {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", g.target.String())
		if err != nil {
			return err
		}
		return c.Close()
	}
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(g.target))
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	var pkt [connectLen]byte
	putConnect(pkt[:], 0x6c6f6164)
	var buf [udpBufferSize]byte
	for attempt := 0; ; attempt++ {
		if _, err := conn.Write(pkt[:]); err != nil {
			return err
		}
		conn.SetReadDeadline(time.Now().Add(g.cfg.Timeout / 4))
		n, err := conn.Read(buf[:])
		switch {
		case err == nil && n >= connectReplyLen && be32(buf[0:]) == actionConnect && be32(buf[4:]) == 0x6c6f6164:
			return nil
		case err == nil:
			return fmt.Errorf("unexpected %d-byte answer to connect", n)
		case errors.Is(err, os.ErrDeadlineExceeded) && attempt < 3 && ctx.Err() == nil:
			continue
		case errors.Is(err, os.ErrDeadlineExceeded):
			return errors.New("no answer to connect")
		default:
			return err
		}
	}
}
