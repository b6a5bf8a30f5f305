package clitest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSimulateCommand runs a small simulation through the command line and
// checks its report, its files and its usage errors.
func TestSimulateCommand(t *testing.T) {
	out := t.TempDir()
	r := run(t, nil, "simulate", "--scenario", "small", "--peers", "8", "--seeds", "2", "--out", out)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"| median download s |", "johnlocke", "random"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, name := range []string{"small-runs.csv", "small-downloads.csv", "small-downloads.png"} {
		if fi, err := os.Stat(filepath.Join(out, name)); err != nil || fi.Size() == 0 {
			t.Errorf("%s not written: %v", name, err)
		}
	}
	for _, bad := range [][]string{
		{"--scenario", "huge"},
		{"--tracker", "opentracker"},
		{"--seeds", "0"},
		{"--peers", "-1"},
		{"--scenario", "small", "--peers", "1"},
	} {
		r := run(t, nil, append([]string{"simulate"}, bad...)...)
		if r.code != 2 || !strings.Contains(r.stderr, bad[0]) {
			t.Errorf("%v: exit %d, %q; want a usage error naming %s", bad, r.code, r.stderr, bad[0])
		}
	}
}
