package simulate

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// childEnv turns this test binary into one simulation run that writes its
// result to a file: "tracker:path". TestDeterministicAcrossProcesses sets
// it for the processes it starts.
const childEnv = "JOHNLOCKE_SIMULATE_CHILD"

// crossProcessScenario is big enough that the store's peer lists split
// into buckets (more than 64 leechers at once), where the hash key decides
// the order peers are handed out in.
func crossProcessScenario() Scenario { return Surge(400, 4) }

// TestDeterministicAcrossProcesses runs one seed in two separate processes
// per tracker and compares the results byte for byte. Within one process
// a per-process hash key would go unnoticed (both runs share it), so this
// runs the test binary itself as the child.
func TestDeterministicAcrossProcesses(t *testing.T) {
	if child := os.Getenv(childEnv); child != "" {
		tr, path, _ := strings.Cut(child, ":")
		res, err := Run(crossProcessScenario(), Tracker(tr), 11)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(fmt.Sprintf("%+v\n", *res)), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	dir := t.TempDir()
	for _, tr := range []Tracker{Johnlocke, Random} {
		var outs [2][]byte
		for i := range outs {
			path := filepath.Join(dir, fmt.Sprintf("%s-%d", tr, i))
			cmd := exec.Command(os.Args[0], "-test.run=^TestDeterministicAcrossProcesses$", "-test.count=1")
			cmd.Env = append(os.Environ(), childEnv+"="+string(tr)+":"+path)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s run %d: %v\n%s", tr, i, err, out)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			outs[i] = b
		}
		if !bytes.Equal(outs[0], outs[1]) {
			t.Errorf("%s: seed 11 gave two results in two processes:\n%.400s\n%.400s", tr, outs[0], outs[1])
		}
	}
}
