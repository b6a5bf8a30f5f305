package loadgen

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// errKind names what went wrong with one request.
type errKind uint8

const (
	errNone errKind = iota
	// The I/O kinds come first: a cancelled run does not count them (see
	// httpClient.do and udpClient.do).
	errDial      // connecting failed
	errWrite     // sending failed
	errRead      // the connection failed or closed mid-answer
	errTimeout   // no answer within Config.Timeout
	errStatus    // an HTTP status other than 200
	errHTTP      // a malformed HTTP response head or framing
	errTooLarge  // an answer larger than the read buffer
	errBencode   // a body that is not one well-formed bencoded dictionary
	errFields    // a dictionary without interval or peers
	errFailure   // the tracker answered with a failure reason
	errPeers     // a peers string whose length is not a multiple of 6 (18 for peers6)
	errUDPError  // a UDP error packet (action 3)
	errUDPPacket // a UDP answer of the wrong action or length
	numErrKinds
)

var errKindNames = [numErrKinds]string{
	errNone:      "none",
	errDial:      "dial",
	errWrite:     "write",
	errRead:      "read",
	errTimeout:   "timeout",
	errStatus:    "status",
	errHTTP:      "http",
	errTooLarge:  "too_large",
	errBencode:   "bencode",
	errFields:    "fields",
	errFailure:   "failure",
	errPeers:     "peers",
	errUDPError:  "udp_error",
	errUDPPacket: "udp_packet",
}

func (k errKind) String() string { return errKindNames[k] }

// Tallying failure reasons allocates, but only on failures, and at most
// maxReasons distinct ones of at most maxReasonLen bytes are kept.
const (
	maxReasons   = 32
	maxReasonLen = 120
	otherReasons = "(other reasons)"
)

// stats is one worker's tally; workers' are merged into the Report.
type stats struct {
	requests, responses, peers int64
	reconnects, connects       int64
	stale                      int64
	events                     [4]int64
	kinds                      [numErrKinds]int64
	reasons                    map[string]int64
	hist                       histogram
}

func (s *stats) fail(k errKind) { s.kinds[k]++ }

// reason tallies a tracker's failure reason or UDP error message.
func (s *stats) reason(msg []byte) {
	if s.reasons == nil {
		s.reasons = make(map[string]int64)
	}
	if len(msg) > maxReasonLen {
		msg = msg[:maxReasonLen]
	}
	if _, ok := s.reasons[string(msg)]; !ok && len(s.reasons) >= maxReasons {
		s.reasons[otherReasons]++
		return
	}
	s.reasons[string(msg)]++
}

func (s *stats) merge(o *stats) {
	s.requests += o.requests
	s.responses += o.responses
	s.peers += o.peers
	s.reconnects += o.reconnects
	s.connects += o.connects
	s.stale += o.stale
	for i := range s.events {
		s.events[i] += o.events[i]
	}
	for i := range s.kinds {
		s.kinds[i] += o.kinds[i]
	}
	for r, n := range o.reasons {
		if s.reasons == nil {
			s.reasons = make(map[string]int64)
		}
		s.reasons[r] += n
	}
	s.hist.merge(&o.hist)
}

// Report is the outcome of a run.
type Report struct {
	Protocol    string
	Addr        string
	Concurrency int
	// Sources is how many local addresses the peers were spread over (1
	// when the system chose).
	Sources int
	// Rate is the target rate asked for (0: as fast as possible).
	Rate int

	// Requests counts announces sent (a UDP retry is another request),
	// Responses the valid announce answers, Errors everything that went
	// wrong: Requests is about Responses+Errors, give or take the few in
	// flight when a cancelled run stopped.
	Requests, Responses, Errors int64
	// ErrorKinds breaks Errors down by kind (dial, timeout, status,
	// bencode, failure, peers, udp_error, ...); only non-zero kinds appear.
	ErrorKinds map[string]int64
	// Reasons tallies the failure reasons (HTTP) and error messages (UDP)
	// trackers sent.
	Reasons map[string]int64
	// Reconnects counts HTTP connections opened after a worker's first,
	// (a tracker that closes after every answer costs one per request);
	// Connects counts UDP connect exchanges (connection ids obtained).
	Reconnects, Connects int64
	// Stale counts UDP answers to an earlier, timed-out transaction.
	Stale int64
	// Started, Completed, Stopped and Periodic count the events sent.
	Started, Completed, Stopped, Periodic int64

	// Duration is the measured length of the run, PerSecond its valid
	// answers per second.
	Duration  time.Duration
	PerSecond float64
	// P50, P99 and Max are the latencies of answered announces, from the
	// request's first byte sent (a reconnect included) to its answer's
	// last byte read; percentiles are within about 3%.
	P50, P99, Max time.Duration
	// AvgPeers is the compact peer entries returned per valid answer.
	AvgPeers float64
}

func newReport(cfg Config, sources int, s *stats, elapsed time.Duration) Report {
	r := Report{
		Protocol:    cfg.Protocol,
		Addr:        cfg.Addr,
		Concurrency: cfg.Concurrency,
		Sources:     sources,
		Rate:        cfg.Rate,
		Requests:    s.requests,
		Responses:   s.responses,
		ErrorKinds:  map[string]int64{},
		Reasons:     s.reasons,
		Reconnects:  s.reconnects,
		Connects:    s.connects,
		Stale:       s.stale,
		Started:     s.events[evStarted],
		Completed:   s.events[evCompleted],
		Stopped:     s.events[evStopped],
		Periodic:    s.events[evNone],
		Duration:    elapsed,
		P50:         s.hist.quantile(0.50),
		P99:         s.hist.quantile(0.99),
		Max:         time.Duration(s.hist.max),
	}
	if r.Reasons == nil {
		r.Reasons = map[string]int64{}
	}
	for k, n := range s.kinds {
		if n > 0 {
			r.ErrorKinds[errKind(k).String()] = n
			r.Errors += n
		}
	}
	if elapsed > 0 {
		r.PerSecond = float64(r.Responses) / elapsed.Seconds()
	}
	if r.Responses > 0 {
		r.AvgPeers = float64(s.peers) / float64(r.Responses)
	}
	return r
}

func micros(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 1, 64)
}

// Line is the report as one machine-readable line of space-separated
// key=value fields, always in this order:
//
//	loadtest protocol=udp addr=127.0.0.1:6969 concurrency=32 rate=0 duration_s=2.000 requests=N responses=N errors=N rps=N p50_us=F p99_us=F max_us=F avg_peers=F reconnects=N connects=N
//
// rps is rounded to a whole number; latencies are microseconds with one
// decimal; avg_peers has two decimals.
func (r Report) Line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "loadtest protocol=%s addr=%s concurrency=%d rate=%d duration_s=%.3f",
		r.Protocol, r.Addr, r.Concurrency, r.Rate, r.Duration.Seconds())
	fmt.Fprintf(&b, " requests=%d responses=%d errors=%d rps=%.0f", r.Requests, r.Responses, r.Errors, r.PerSecond)
	fmt.Fprintf(&b, " p50_us=%s p99_us=%s max_us=%s avg_peers=%.2f", micros(r.P50), micros(r.P99), micros(r.Max), r.AvgPeers)
	fmt.Fprintf(&b, " reconnects=%d connects=%d", r.Reconnects, r.Connects)
	return b.String()
}

// String is the report for people: a few lines, error kinds and failure
// reasons included, without the machine-readable line.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d workers over %d source addresses", r.Protocol, r.Addr, r.Concurrency, r.Sources)
	if r.Rate > 0 {
		fmt.Fprintf(&b, ", target %d/s", r.Rate)
	}
	fmt.Fprintf(&b, ", %.2fs\n", r.Duration.Seconds())
	fmt.Fprintf(&b, "  %d requests, %d valid responses (%.0f/s), %d errors\n", r.Requests, r.Responses, r.PerSecond, r.Errors)
	fmt.Fprintf(&b, "  latency p50 %v, p99 %v, max %v; %.2f peers per answer\n", r.P50, r.P99, r.Max, r.AvgPeers)
	fmt.Fprintf(&b, "  events: %d started, %d periodic, %d completed, %d stopped\n", r.Started, r.Periodic, r.Completed, r.Stopped)
	if r.Reconnects > 0 || r.Connects > 0 || r.Stale > 0 {
		fmt.Fprintf(&b, "  %d reconnects, %d connects, %d stale answers\n", r.Reconnects, r.Connects, r.Stale)
	}
	for _, k := range slices.Sorted(maps.Keys(r.ErrorKinds)) {
		fmt.Fprintf(&b, "  error %s: %d\n", k, r.ErrorKinds[k])
	}
	for _, m := range slices.Sorted(maps.Keys(r.Reasons)) {
		fmt.Fprintf(&b, "  tracker said %q: %d\n", m, r.Reasons[m])
	}
	return b.String()
}
