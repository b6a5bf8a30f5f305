package daemon

import (
	"runtime/debug"
	"strings"
)

// revisionLen is how much of a commit hash Version shows: enough to be
// unique in any repository johnlocke will have.
const revisionLen = 12

// Version names this build for --version, the admin status and the logs:
// release, when the build set one (main's version, set with
// -ldflags "-X main.version=v1.2.3"), or else the module version the Go
// toolchain recorded; then, when the build recorded it, the source
// revision and whether the tree had uncommitted changes, as in
// "v0.0.0-20250101120000-abcdef123456+dirty (rev abcdef123456, dirty)".
//
// `go build` records the revision only inside a git checkout whose .git is
// a directory (not in a `git worktree`, whose .git is a file) and without
// -buildvcs=false; elsewhere the version is "(devel)" alone.
func Version(release string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return describeBuild(release, bi)
}

// describeBuild is Version for a given build info (nil when there is none).
func describeBuild(release string, bi *debug.BuildInfo) string {
	v := release
	if v == "" && bi != nil {
		v = bi.Main.Version
	}
	if v == "" {
		v = "(devel)"
	}
	if bi == nil {
		return v
	}
	var rev string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value[:min(len(s.Value), revisionLen)]
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return v
	}
	var b strings.Builder
	b.WriteString(v)
	b.WriteString(" (rev ")
	b.WriteString(rev)
	if dirty {
		b.WriteString(", dirty")
	}
	b.WriteString(")")
	return b.String()
}
