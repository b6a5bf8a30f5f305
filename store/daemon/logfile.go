package daemon

import (
	"errors"
	"fmt"
	"os"
	"sync"
)

// logFileMode: logs name torrents and (outside small mode) peers.
const logFileMode = 0o640

// logFile is Options.LogFile: an append-only file that SIGHUP reopens, so
// logrotate can move it away and the tracker carries on in a new one.
type logFile struct {
	path string
	// stdio: also point stdout and stderr at the file after a reopen, as
	// the daemon's were pointed at the first one; a panic's trace then
	// lands in the current log too.
	stdio bool

	mu sync.Mutex
	f  *os.File
}

func openLogFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, logFileMode)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	return f, nil
}

func newLogFile(path string, stdio bool) (*logFile, error) {
	f, err := openLogFile(path)
	if err != nil {
		return nil, err
	}
	return &logFile{path: path, stdio: stdio, f: f}, nil
}

// Write writes one log entry.
func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return 0, errors.New("log file closed")
	}
	return l.f.Write(p)
}

// reopen opens the path anew and switches to it.
func (l *logFile) reopen() error {
	f, err := openLogFile(l.path)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		_ = f.Close()
		return errors.New("log file closed")
	}
	if l.stdio {
		if err := redirectStdio(f); err != nil {
			_ = f.Close()
			return err
		}
	}
	old := l.f
	l.f = f
	return old.Close()
}

// Close closes the file; later writes fail.
func (l *logFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
