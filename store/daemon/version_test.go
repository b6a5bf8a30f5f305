package daemon

import (
	"runtime/debug"
	"testing"
)

func TestDescribeBuild(t *testing.T) {
	rev := "0123456789abcdef0123456789abcdef01234567"
	stamped := func(version string, modified string) *debug.BuildInfo {
		return &debug.BuildInfo{
			Main:     debug.Module{Path: "johnlocke", Version: version},
			Settings: []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}},
		}
	}
	tests := []struct {
		name    string
		release string
		bi      *debug.BuildInfo
		want    string
	}{
		{"no build info", "", nil, "(devel)"},
		{"release, no build info", "v1.2.3", nil, "v1.2.3"},
		{"no vcs stamp", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "(devel)"},
		{"clean checkout", "", stamped("v0.0.0-20250101120000-0123456789ab", "false"), "v0.0.0-20250101120000-0123456789ab (rev 0123456789ab)"},
		{"dirty checkout", "", stamped("v0.0.0-20250101120000-0123456789ab+dirty", "true"), "v0.0.0-20250101120000-0123456789ab+dirty (rev 0123456789ab, dirty)"},
		{"release wins over the module version", "v1.2.3", stamped("v0.0.0-x", "false"), "v1.2.3 (rev 0123456789ab)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := describeBuild(tt.release, tt.bi); got != tt.want {
				t.Errorf("describeBuild = %q, want %q", got, tt.want)
			}
		})
	}
}
