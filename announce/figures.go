package announce

import "johnlocke/announce/tally"

// HTTPFigures are an HTTP server's counts, for the status listener.
type HTTPFigures struct {
	tally.Totals
	// OpenConns is how many connections the server holds now.
	OpenConns int
	// RefusedPerSource and RefusedGlobal count the connections turned
	// away by the per-source cap (MaxConnsPerIP) and the global one
	// (MaxConns).
	RefusedPerSource, RefusedGlobal uint64
	// Reclaimed counts the idle connections closed to make room for new
	// ones at the global cap.
	Reclaimed uint64
}

// Figures sums the server's counts.
func (s *HTTPServer) Figures() HTTPFigures {
	f := HTTPFigures{Totals: s.tally.Sum()}
	s.mu.Lock()
	f.OpenConns = len(s.conns)
	s.mu.Unlock()
	f.RefusedPerSource = s.refusedSource.Load()
	f.RefusedGlobal = s.refusedGlobal.Load()
	f.Reclaimed = s.reclaimed.Load()
	return f
}
