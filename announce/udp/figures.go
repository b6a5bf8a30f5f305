package udp

import "johnlocke/announce/tally"

// Figures sums the readers' counts, for the status listener: connects
// answered, scrapes answered, failures by reason (a bad connection id
// among them, answered or not) and the sampled announce times.
func (s *Server) Figures() tally.Totals { return s.tally.Sum() }
