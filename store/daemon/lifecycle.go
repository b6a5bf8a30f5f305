package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// Lifecycle is what `serve` needs around the tracker: the logger and its
// file, the pid file, signals, and telling whoever started it (a
// Background parent, systemd) that it is serving or failed.
//
// Between Start and Finish it owns SIGINT, SIGTERM and SIGHUP: the first
// SIGINT or SIGTERM ends Context, a second one removes the pid file and
// the RemoveOnAbort files and calls Options.Abort; SIGHUP reopens the log
// file and sends on Rescan.
type Lifecycle struct {
	log     zerolog.Logger
	logFile *logFile // nil without a log file
	pidFile string   // "" when this process writes none
	pipe    *os.File // the daemon child's readiness pipe, or nil
	abort   func()

	ctx    context.Context
	cancel context.CancelFunc
	rescan chan struct{}
	sigs   chan os.Signal
	done   chan struct{}

	mu       sync.Mutex
	remove   []string // removed on a forced exit
	reported bool
}

// NewLifecycle picks up the readiness pipe of a daemon child. Pair it
// with a deferred Finish, which reports a failure to the parent, before
// calling Start.
func NewLifecycle() *Lifecycle {
	lc := &Lifecycle{pipe: daemonPipe(), rescan: make(chan struct{}, 1), log: zerolog.Nop()}
	_ = os.Unsetenv(envDaemon)
	lc.ctx, lc.cancel = context.WithCancel(context.Background())
	return lc
}

// Start opens o.LogFile (or logs to stdout), claims o.PidFile and takes
// over SIGINT, SIGTERM and SIGHUP until Finish. o.Abort is required.
func (lc *Lifecycle) Start(o Options, stdout io.Writer) error {
	if o.Abort == nil {
		return errors.New("daemon: Options.Abort is nil: a second signal could not end the process")
	}
	out := stdout
	if o.LogFile != "" {
		lf, err := newLogFile(o.LogFile, lc.pipe != nil)
		if err != nil {
			return err
		}
		lc.logFile = lf
		out = lf
	}
	lc.log = newLogger(out, o.Verbose)
	if o.PidFile != "" {
		if err := claimPidFile(o.PidFile); err != nil {
			return err
		}
		lc.pidFile = o.PidFile
	}
	lc.abort = o.Abort
	lc.sigs = make(chan os.Signal, 4)
	lc.done = make(chan struct{})
	signal.Notify(lc.sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go lc.handleSignals()
	return nil
}

// Log returns the logger Start built: JSON, or readable lines on a
// terminal.
func (lc *Lifecycle) Log() zerolog.Logger { return lc.log }

// Context is done at the first SIGINT or SIGTERM, and at Finish.
func (lc *Lifecycle) Context() context.Context { return lc.ctx }

// Rescan receives at each SIGHUP (at most one pending).
func (lc *Lifecycle) Rescan() <-chan struct{} { return lc.rescan }

// RemoveOnAbort records a file a forced exit removes, such as the admin
// socket, whose server gets no chance to remove it.
func (lc *Lifecycle) RemoveOnAbort(path string) {
	lc.mu.Lock()
	lc.remove = append(lc.remove, path)
	lc.mu.Unlock()
}

// newLogger logs JSON when w is not a terminal and readable lines when it
// is; verbose lowers the level to debug.
func newLogger(w io.Writer, verbose bool) zerolog.Logger {
	level := zerolog.InfoLevel
	if verbose {
		level = zerolog.DebugLevel
	}
	out := w
	if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		out = zerolog.ConsoleWriter{Out: w, TimeFormat: time.DateTime}
	}
	return zerolog.New(out).Level(level).With().Timestamp().Logger()
}

func (lc *Lifecycle) handleSignals() {
	defer close(lc.done)
	stopping := false
	for sig := range lc.sigs {
		switch {
		case sig == syscall.SIGHUP:
			lc.reload()
		case stopping:
			lc.log.Warn().Str("signal", sig.String()).Msg("second signal: exiting now, without the final flush")
			lc.cleanupFiles()
			if lc.abort != nil {
				lc.abort()
			}
		default:
			stopping = true
			lc.log.Info().Str("signal", sig.String()).Msg("shutting down: flushing state (send it again to exit at once)")
			sdNotify("STOPPING=1")
			lc.cancel()
		}
	}
}

// reload is SIGHUP: reopen the log file (after logrotate moved it) and
// ask for a rescan. Swarms are untouched.
func (lc *Lifecycle) reload() {
	reopened := false
	if lc.logFile != nil {
		if err := lc.logFile.reopen(); err != nil {
			lc.log.Error().Err(err).Msg("SIGHUP: reopening the log file failed; still logging to the old one")
		} else {
			reopened = true
		}
	}
	select {
	case lc.rescan <- struct{}{}:
	default:
	}
	lc.log.Info().Bool("log_reopened", reopened).Msg("SIGHUP: reloading")
}

// cleanupFiles removes the files a forced exit would leave behind.
func (lc *Lifecycle) cleanupFiles() {
	lc.mu.Lock()
	remove := lc.remove
	lc.mu.Unlock()
	for _, p := range remove {
		_ = os.Remove(p)
	}
	if lc.pidFile != "" {
		releasePidFile(lc.pidFile)
	}
}

// Serving tells the parent (or systemd) that the tracker answers on the
// addresses its listeners bound (empty for a listener it does not run).
func (lc *Lifecycle) Serving(httpAddr, udpAddr string) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.reported {
		return
	}
	lc.reported = true
	sendReport(lc.pipe, readyReport{Ready: true, PID: os.Getpid(), HTTP: httpAddr, UDP: udpAddr})
	sdNotify(fmt.Sprintf("READY=1\nMAINPID=%d", os.Getpid()))
}

// Finish ends the lifecycle once serve is done with everything else: it
// reports err, with the exit code the caller exits with, to a parent still
// waiting, removes the pid file, gives the signals back and closes the log
// file.
func (lc *Lifecycle) Finish(err error, code int) {
	lc.mu.Lock()
	if !lc.reported {
		lc.reported = true
		rep := readyReport{Error: "serve stopped before it was ready", Code: exitFailed}
		if err != nil {
			rep = readyReport{Error: err.Error(), Code: code}
		}
		sendReport(lc.pipe, rep)
	}
	lc.mu.Unlock()
	if lc.sigs != nil {
		signal.Stop(lc.sigs)
		close(lc.sigs)
		<-lc.done
	}
	lc.cancel()
	if lc.pidFile != "" {
		releasePidFile(lc.pidFile)
	}
	if lc.logFile != nil {
		_ = lc.logFile.Close()
	}
}

// sdNotify tells systemd (Type=notify) about the service's state, when it
// runs under systemd; elsewhere it does nothing.
func sdNotify(state string) {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return
	}
	if addr[0] == '@' {
		addr = "\x00" + addr[1:] // abstract socket
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return
	}
	defer conn.Close()
	_, _ = conn.Write([]byte(state))
}
