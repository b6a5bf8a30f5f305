//go:build race

package announce

// raceEnabled: the race detector makes sync.Pool drop some of what is put
// back, so pooled connections are rebuilt and allocation counts that rely
// on the pool are not checked.
const raceEnabled = true
