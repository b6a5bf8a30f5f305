//go:build unix && !linux

package daemon

import (
	"fmt"
	"os"
	"syscall"
)

// redirectStdio points descriptors 1 and 2 at f.
func redirectStdio(f *os.File) error {
	for _, fd := range []int{1, 2} {
		if err := syscall.Dup2(int(f.Fd()), fd); err != nil {
			return fmt.Errorf("redirecting descriptor %d to the log file: %w", fd, err)
		}
	}
	return nil
}
