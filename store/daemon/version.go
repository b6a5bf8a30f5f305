package daemon

import "runtime/debug"

// Version names this build for the admin status and the logs: release,
// when the build set one (main's version, set with
// -ldflags "-X main.version=v1.2.3"), or else what the Go toolchain
// recorded.
func Version(release string) string {
	if release != "" {
		return release
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 && (v == "" || v == "(devel)") {
			v = "devel-" + s.Value[:12]
		}
	}
	if v == "" {
		v = "(devel)"
	}
	return v
}
