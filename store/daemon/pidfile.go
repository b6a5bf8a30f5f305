package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

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
