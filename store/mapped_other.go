//go:build !linux

package store

// releaseMapped is a no-op where the mapping's pages cannot be handed back.
func (d *DB) releaseMapped() {}
