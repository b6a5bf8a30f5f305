package clitest

import "testing"

func TestMaxTorrentsPerIPIsValidated(t *testing.T) {
	if r := run(t, nil, "serve", "--max-torrents-per-ip", "-1"); r.code != 2 {
		t.Fatalf("serve --max-torrents-per-ip -1: exit %d, want 2\n%s", r.code, r.stderr)
	}
}
