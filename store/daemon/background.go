package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"github.com/rs/zerolog"
)

// envDaemon marks the re-executed child of Background; its value is the
// number of the file descriptor on which the child reports readiness.
const envDaemon = "JOHNLOCKE_DAEMON_FD"

// DefaultPidFile is where `serve --daemon` writes its pid unless told
// otherwise (the original design's path).
const DefaultPidFile = "/var/run/johnlocke.pid"

// maxReadyReport bounds what the parent reads from the readiness pipe.
const maxReadyReport = 64 << 10

// exitFailed is the exit code of a daemon that failed without saying how.
const exitFailed = 1

// Options are what the process around the tracker is told.
type Options struct {
	// Args are the arguments Background runs the program with again,
	// usually os.Args[1:].
	Args []string
	// LogFile, when set, receives the logs instead of the caller's stdout,
	// and a background daemon's stdout and stderr; SIGHUP reopens it.
	LogFile string
	// PidFile, when set, is claimed by Start and removed by Finish.
	PidFile string
	// Verbose lowers the log level to debug.
	Verbose bool
	// Abort is called, on the Lifecycle's signal goroutine, after a second
	// SIGINT or SIGTERM, once the pid file and the files given to
	// RemoveOnAbort are gone. It should end the process at once. Start
	// requires it.
	Abort func()
}

// ExitError is how Background fails: the message, and the exit code the
// caller should exit with (the daemon child's own, or 1).
type ExitError struct {
	Code int
	Err  error
}

// Error returns the child's message.
func (e *ExitError) Error() string { return e.Err.Error() }

// ExitCode returns Code.
func (e *ExitError) ExitCode() int { return e.Code }

// Unwrap returns the child's error.
func (e *ExitError) Unwrap() error { return e.Err }

// readyReport is the one message a daemon child sends its parent: it is
// serving, or it failed before it could (with the exit code it exits with).
type readyReport struct {
	Ready bool   `json:"ready,omitempty"`
	PID   int    `json:"pid,omitempty"`
	HTTP  string `json:"http,omitempty"`
	UDP   string `json:"udp,omitempty"`
	Error string `json:"error,omitempty"`
	Code  int    `json:"code,omitempty"`
}

// IsChild reports whether this process is the detached child of
// Background, which should serve rather than detach again.
func IsChild() bool { return os.Getenv(envDaemon) != "" }

// Background runs the program again with o.Args in the background: Go
// cannot fork a running runtime, so it re-executes this binary in a new
// session (no controlling terminal), stdin from /dev/null and stdout and
// stderr to o.LogFile (or /dev/null), then waits until the child says it
// is serving — printing where to stdout — or has failed. Every failure is
// an *ExitError: the child's own message and exit code when it gave them,
// exit code 1 when the child could not be started or said nothing.
func Background(o Options, stdout io.Writer) error {
	failed := func(err error) error { return &ExitError{Code: exitFailed, Err: err} }
	exe, err := os.Executable()
	if err != nil {
		return failed(fmt.Errorf("--daemon: finding this program: %w", err))
	}
	r, w, err := os.Pipe()
	if err != nil {
		return failed(fmt.Errorf("--daemon: %w", err))
	}
	defer r.Close()
	cmd := exec.Command(exe, o.Args...)
	// ExtraFiles[0] is descriptor 3 in the child.
	cmd.Env = append(os.Environ(), envDaemon+"=3")
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if o.LogFile != "" {
		f, err := openLogFile(o.LogFile)
		if err != nil {
			w.Close()
			return failed(err)
		}
		defer f.Close()
		cmd.Stdout, cmd.Stderr = f, f
	}
	// Nil Stdin, Stdout and Stderr are /dev/null.
	err = cmd.Start()
	w.Close()
	if err != nil {
		return failed(fmt.Errorf("--daemon: starting %s: %w", exe, err))
	}
	raw, _ := io.ReadAll(io.LimitReader(r, maxReadyReport))
	var rep readyReport
	_ = json.Unmarshal(bytes.TrimSpace(raw), &rep)
	if rep.Ready {
		msg := fmt.Sprintf("johnlocke is serving in the background: pid %d", rep.PID)
		if rep.HTTP != "" {
			msg += ", http " + rep.HTTP
		}
		if rep.UDP != "" {
			msg += ", udp " + rep.UDP
		}
		fmt.Fprintln(stdout, msg)
		_ = cmd.Process.Release()
		return nil
	}
	waitErr := cmd.Wait()
	if rep.Error != "" {
		code := rep.Code
		if code == 0 {
			code = exitFailed
		}
		return &ExitError{Code: code, Err: errors.New(rep.Error)}
	}
	where := "run it without --daemon to see why"
	if o.LogFile != "" {
		where = "see " + o.LogFile
	}
	code := exitFailed
	var ee *exec.ExitError
	if errors.As(waitErr, &ee) && ee.ExitCode() > 0 {
		code = ee.ExitCode()
	}
	return &ExitError{Code: code, Err: fmt.Errorf("the daemon exited before serving (%v); %s", waitErr, where)}
}

// daemonPipe returns the readiness pipe a daemon child inherited, or nil.
func daemonPipe() *os.File {
	v := os.Getenv(envDaemon)
	if v == "" {
		return nil
	}
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil
	}
	return os.NewFile(uintptr(fd), "daemon-ready")
}

// sendReport sends rep to the parent and closes the pipe; a nil pipe is fine.
func sendReport(pipe *os.File, rep readyReport) {
	if pipe == nil {
		return
	}
	b, _ := json.Marshal(rep)
	_, _ = pipe.Write(append(b, '\n'))
	_ = pipe.Close()
}

// LogFailure writes err to w as one JSON log line, the shape of every
// other line of a log file. A daemon child's stderr is its --log-file, so
// the error that ends it belongs there in that shape, not as plain text.
func LogFailure(w io.Writer, err error) {
	log := zerolog.New(w).With().Timestamp().Logger()
	log.Error().Err(err).Msg("serve failed")
}
