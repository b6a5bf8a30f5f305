package store

import (
	"go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// releaseMapped tells the kernel that this process no longer needs the
// database file's pages mapped (MADV_DONTNEED on bbolt's read-only shared
// mapping). bbolt reads the file through that mapping, so every page a
// load or a flush touches stays counted in the process's resident set
// until then, although announces never read it. The pages stay in the
// page cache, which the kernel reclaims at will; the next transaction that
// needs one faults it back from there. Doing it inside a read transaction
// keeps bbolt from remapping the file meanwhile.
func (d *DB) releaseMapped() {
	_ = d.bolt.View(func(tx *bbolt.Tx) error {
		// Info is bbolt's raw view of its mapping: read here, not written.
		data := tx.DB().Info().Data
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, data, uintptr(tx.Size()), unix.MADV_DONTNEED)
		return nil
	})
}
