package metainfo

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Walk finds every regular file whose name ends in ".torrent"
// (case-insensitive) under root, in lexical order, and calls fn for each with
// the parse result or the parse error. Root may itself be a single file, which
// is then parsed whatever its name: naming it was the caller's choice.
//
// A directory that cannot be read is reported through fn with its own path
// and the error, and the walk goes on. Symlinks to files are followed;
// symlinks to directories are not, so a link loop cannot hang the walk (root
// itself is followed if it is a symlink). Walk returns an error only when
// root cannot be found.
func Walk(root string, fn func(path string, t *Torrent, err error)) error {
	return Options{}.Walk(root, fn)
}

// Walk is the package's Walk with o's bounds; a file o.Skip leaves is not
// reported.
func (o Options) Walk(root string, fn func(path string, t *Torrent, err error)) error {
	fi, err := os.Stat(root)
	if err != nil {
		return err
	}
	switch {
	case fi.IsDir():
		o.walkDir(root, fn)
	case fi.Mode().IsRegular():
		o.visit(root, fn)
	default:
		// A pipe or device could block the read forever.
		fn(root, nil, fmt.Errorf("%s: not a regular file or directory", root))
	}
	return nil
}

// walkDir reports the .torrent files in dir and recurses into its
// subdirectories. os.ReadDir sorts entries by name, which gives the same
// lexical order as filepath.WalkDir.
func (o Options) walkDir(dir string, fn func(path string, t *Torrent, err error)) {
	entries, err := readDir(dir)
	if err != nil {
		// ReadDir returns what it managed to read; report the failure
		// and still walk those.
		fn(dir, nil, err)
	}
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		switch typ := e.Type(); {
		case typ.IsDir():
			o.walkDir(path, fn)
		case !isTorrentName(e.Name()):
		case typ.IsRegular():
			o.visit(path, fn)
		case typ&os.ModeSymlink != 0:
			// Follow a link to a file, never one to a directory.
			target, err := os.Stat(path)
			if err != nil {
				fn(path, nil, err) // dangling link named like a torrent
			} else if target.Mode().IsRegular() {
				o.visit(path, fn)
			}
		}
		// Anything else (devices, pipes, sockets) is not a regular file
		// and could block a read, so it is skipped.
	}
}

// visit parses one file and reports it, unless o.Skip leaves it.
func (o Options) visit(path string, fn func(path string, t *Torrent, err error)) {
	t, skipped, err := o.parseFile(path, true)
	if !skipped {
		fn(path, t, err)
	}
}

// readDir is os.ReadDir, replaceable so tests can make a directory
// unreadable even when they run as root.
var readDir = os.ReadDir

func isTorrentName(name string) bool {
	return len(name) >= len(".torrent") &&
		strings.EqualFold(name[len(name)-len(".torrent"):], ".torrent")
}
