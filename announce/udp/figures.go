package udp

import "johnlocke/announce/tally"

// Figures sums the readers' counts, for the status listener: connects
// answered, scrapes answered, failures by reason (a bad connection id
// among them, answered or not), the sampled announce times, and the reads
// made after waiting for a window.
func (s *Server) Figures() tally.Totals {
	t := s.tally.Sum()
	t.PacedReads = s.pacedReads.Load()
	return t
}
