package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"
)

// lifecycle is what `serve` needs around the tracker to run as a daemon:
// the logger and its file, the pid file, signals, and telling whoever
// started it (a --daemon parent, systemd) that it is serving or failed.
type lifecycle struct {
	log     zerolog.Logger
	logFile *logFile // nil without --log-file
	pidFile string   // "" when this process writes none
	pipe    *os.File // the daemon child's readiness pipe, or nil

	// ctx is done at the first SIGINT or SIGTERM.
	ctx    context.Context
	cancel context.CancelFunc
	// rescan receives on SIGHUP, for the --dir watcher.
	rescan chan struct{}
	sigs   chan os.Signal
	done   chan struct{}

	mu       sync.Mutex
	socket   string // the admin socket, removed on a forced exit
	reported bool
}

// newLifecycle picks up the readiness pipe of a daemon child. Pair it with
// a deferred finish, which reports a failure to the parent.
func newLifecycle() *lifecycle {
	lc := &lifecycle{pipe: daemonPipe(), rescan: make(chan struct{}, 1), log: zerolog.Nop()}
	_ = os.Unsetenv(envDaemon)
	lc.ctx, lc.cancel = context.WithCancel(context.Background())
	return lc
}

// start opens the log file, claims the pid file and takes over SIGINT,
// SIGTERM and SIGHUP. Until finish, a second SIGINT or SIGTERM exits at
// once, SIGHUP reopens the log file and asks for a rescan.
func (lc *lifecycle) start(c *cli.Context, stdout io.Writer) error {
	out := stdout
	if p := c.String("log-file"); p != "" {
		lf, err := newLogFile(p, lc.pipe != nil)
		if err != nil {
			return &exitError{code: exitFailed, err: err}
		}
		lc.logFile = lf
		out = lf
	}
	lc.log = newLogger(c, out)
	if c.Bool("daemon") || c.IsSet("pidfile") {
		path := c.String("pidfile")
		if err := claimPidFile(path); err != nil {
			return &exitError{code: exitFailed, err: err}
		}
		lc.pidFile = path
	}
	lc.sigs = make(chan os.Signal, 4)
	lc.done = make(chan struct{})
	signal.Notify(lc.sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go lc.handleSignals()
	return nil
}

func (lc *lifecycle) handleSignals() {
	defer close(lc.done)
	stopping := false
	for sig := range lc.sigs {
		switch {
		case sig == syscall.SIGHUP:
			lc.reload()
		case stopping:
			lc.log.Warn().Str("signal", sig.String()).Msg("second signal: exiting now, without the final flush")
			lc.cleanupFiles()
			os.Exit(exitFailed)
		default:
			stopping = true
			lc.log.Info().Str("signal", sig.String()).Msg("shutting down: flushing state (send it again to exit at once)")
			sdNotify("STOPPING=1")
			lc.cancel()
		}
	}
}

// reload is SIGHUP: reopen the log file (after logrotate moved it) and
// rescan --dir. Swarms are untouched.
func (lc *lifecycle) reload() {
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

// setSocket records the admin socket so a forced exit removes it.
func (lc *lifecycle) setSocket(path string) {
	lc.mu.Lock()
	lc.socket = path
	lc.mu.Unlock()
}

// cleanupFiles removes the files a forced exit would leave behind.
func (lc *lifecycle) cleanupFiles() {
	lc.mu.Lock()
	sock := lc.socket
	lc.mu.Unlock()
	if sock != "" {
		_ = os.Remove(sock)
	}
	if lc.pidFile != "" {
		releasePidFile(lc.pidFile)
	}
}

// serving tells the parent (or systemd) that the tracker answers on the
// addresses its listeners bound (empty for a listener it does not run).
func (lc *lifecycle) serving(httpAddr, udpAddr string) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.reported {
		return
	}
	lc.reported = true
	sendReport(lc.pipe, readyReport{Ready: true, PID: os.Getpid(), HTTP: httpAddr, UDP: udpAddr})
	sdNotify(fmt.Sprintf("READY=1\nMAINPID=%d", os.Getpid()))
}

// finish ends the lifecycle once serve is done with everything else: it
// reports err to a parent still waiting, removes the pid file and gives
// the signals back.
func (lc *lifecycle) finish(err error) {
	lc.mu.Lock()
	if !lc.reported {
		lc.reported = true
		rep := readyReport{Error: "serve stopped before it was ready", Code: exitFailed}
		if err != nil {
			rep = readyReport{Error: err.Error(), Code: exitCode(err)}
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
