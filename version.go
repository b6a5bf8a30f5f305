package main

import "runtime/debug"

// version is set when building a release:
//
//	go build -ldflags "-X main.version=v1.2.3"
//
// Without it, versionString falls back on what the Go toolchain recorded.
var version string

// versionString names this build for the admin status and the logs.
func versionString() string {
	if version != "" {
		return version
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
