package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
)

// envDaemon marks the re-executed child of `serve --daemon`; its value is
// the number of the file descriptor on which the child reports readiness.
const envDaemon = "JOHNLOCKE_DAEMON_FD"

// defaultPidFile is where `serve --daemon` writes its pid unless told
// otherwise (the original design's path).
const defaultPidFile = "/var/run/johnlocke.pid"

// maxReadyReport bounds what the parent reads from the readiness pipe.
const maxReadyReport = 64 << 10

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

// isDaemonChild reports whether this process is the detached child.
func isDaemonChild() bool { return os.Getenv(envDaemon) != "" }

// daemonize runs `serve` in the background. Go cannot fork a running
// runtime, so it re-executes this binary with the same arguments in a new
// session (no controlling terminal), stdin from /dev/null and stdout and
// stderr to --log-file (or /dev/null), then waits until the child says it
// is serving — or has failed, whose message and exit code it passes on.
func daemonize(c *cli.Context, stdout io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return &exitError{code: exitFailed, err: fmt.Errorf("--daemon: finding this program: %w", err)}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return &exitError{code: exitFailed, err: fmt.Errorf("--daemon: %w", err)}
	}
	defer r.Close()
	cmd := exec.Command(exe, os.Args[1:]...)
	// ExtraFiles[0] is descriptor 3 in the child.
	cmd.Env = append(os.Environ(), envDaemon+"=3")
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	logPath := c.String("log-file")
	if logPath != "" {
		f, err := openLogFile(logPath)
		if err != nil {
			w.Close()
			return &exitError{code: exitFailed, err: err}
		}
		defer f.Close()
		cmd.Stdout, cmd.Stderr = f, f
	}
	// Nil Stdin, Stdout and Stderr are /dev/null.
	err = cmd.Start()
	w.Close()
	if err != nil {
		return &exitError{code: exitFailed, err: fmt.Errorf("--daemon: starting %s: %w", exe, err)}
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
		if code == exitOK {
			code = exitFailed
		}
		return &exitError{code: code, err: errors.New(rep.Error)}
	}
	where := "run it without --daemon to see why"
	if logPath != "" {
		where = "see " + logPath
	}
	code := exitFailed
	var ee *exec.ExitError
	if errors.As(waitErr, &ee) && ee.ExitCode() > 0 {
		code = ee.ExitCode()
	}
	return &exitError{code: code, err: fmt.Errorf("the daemon exited before serving (%v); %s", waitErr, where)}
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

// claimPidFile writes this process's pid to path (temp file, fsync,
// rename), refusing when the file names another live johnlocke. A pid file
// naming a dead process, or one that is not johnlocke (its pid reused), is
// stale and replaced.
func claimPidFile(path string) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".johnlocke-pid-*")
	if err != nil {
		return fmt.Errorf("pid file %s: %w; choose another with --pidfile", path, err)
	}
	defer os.Remove(tmp.Name())
	_, err = fmt.Fprintf(tmp, "%d\n", os.Getpid())
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pid file %s: %w", path, err)
	}
	// Link creates the pid file only if there is none, so two daemons
	// starting together cannot both believe they own it.
	if err := os.Link(tmp.Name(), path); err == nil {
		return syncDir(dir)
	} else if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("pid file %s: %w", path, err)
	}
	if pid, ok := runningJohnlocke(path); ok {
		return fmt.Errorf("pid file %s names johnlocke pid %d, which is running; stop it first, or choose another --pidfile", path, pid)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("pid file %s: replacing a stale one: %w", path, err)
	}
	return syncDir(dir)
}

// syncDir makes a rename or link in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return nil // not fatal: the pid file exists, it may just not survive a power cut
	}
	defer d.Close()
	_ = d.Sync()
	return nil
}

// releasePidFile removes the pid file if it still names this process.
func releasePidFile(path string) {
	if pid, err := readPid(path); err == nil && pid == os.Getpid() {
		_ = os.Remove(path)
	}
}

func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s does not hold a pid", path)
	}
	return pid, nil
}

// runningJohnlocke reports whether the pid file at path names a live
// johnlocke process other than this one.
func runningJohnlocke(path string) (int, bool) {
	pid, err := readPid(path)
	if err != nil || pid == os.Getpid() {
		return 0, false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return pid, false // no such process
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		// No /proc (or it vanished): the process exists, so assume it is
		// ours rather than start a second tracker.
		return pid, !errors.Is(err, fs.ErrNotExist) || !procMounted()
	}
	argv0, _, _ := bytes.Cut(cmdline, []byte{0})
	// A zombie has an empty command line; a reused pid names another
	// program.
	return pid, strings.Contains(filepath.Base(string(argv0)), "johnlocke")
}

func procMounted() bool {
	_, err := os.Stat("/proc/self/cmdline")
	return err == nil
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
