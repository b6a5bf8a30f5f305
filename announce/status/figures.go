package status

import (
	"time"

	"johnlocke/announce"
	"johnlocke/announce/tally"
	"johnlocke/modes"
	"johnlocke/store"
	"johnlocke/store/clusterview"
)

// Sources are what the status listener reads its figures from; HTTP and
// UDP are nil for a listener serve does not run.
type Sources struct {
	Store   *store.Store
	HTTP    *announce.HTTPServer
	UDP     UDPFigures
	Version string
	Started time.Time
	// Cluster is nil when serve runs without cluster mode.
	Cluster *clusterview.Tracker
}

// UDPFigures is the UDP server's side of the figures (udp.Server).
type UDPFigures interface{ Figures() tally.Totals }

// snapshot is every figure at one moment.
type snapshot struct {
	at    time.Time
	store store.Figures
	http  announce.HTTPFigures
	udp   tally.Totals
	// hasHTTP and hasUDP tell which listeners run.
	hasHTTP, hasUDP bool
}

func (src *Sources) snapshot() snapshot {
	s := snapshot{at: time.Now(), store: src.Store.Figures()}
	if src.HTTP != nil {
		s.http, s.hasHTTP = src.HTTP.Figures(), true
	}
	if src.UDP != nil {
		s.udp, s.hasUDP = src.UDP.Figures(), true
	}
	return s
}

// wire returns protocol p's totals.
func (s *snapshot) wire(p store.Proto) *tally.Totals {
	if p == store.ProtoUDP {
		return &s.udp
	}
	return &s.http.Totals
}

// announces returns the answered announces of protocol p in mode m
// (modes.Default: every mode).
func (s *snapshot) announces(p store.Proto, m modes.Mode) uint64 {
	var n uint64
	for mm := modes.Small; mm <= modes.Surge; mm++ {
		if m != modes.Default && mm != m {
			continue
		}
		for _, c := range s.store.Announces[p][mm] {
			n += c
		}
	}
	return n
}

// torrents and peers total a mode's.
func (s *snapshot) torrents(m modes.Mode) (n int64) {
	for _, c := range s.store.Torrents[m] {
		n += c
	}
	return n
}

func (s *snapshot) peers(m modes.Mode) (seeders, leechers int64) {
	for f := range s.store.Peers[m] {
		seeders += s.store.Peers[m][f][store.RoleSeeder]
		leechers += s.store.Peers[m][f][store.RoleLeecher]
	}
	return seeders, leechers
}

// Label values.
var (
	eventNames  = [store.NumEvents]string{"none", "completed", "started", "stopped"}
	originNames = [store.NumOrigins]string{"imported", "dir", "organic"}
	familyNames = [store.NumFamilies]string{"ipv4", "ipv6"}
	roleNames   = [store.NumRoles]string{"seeder", "leecher"}
	protos      = [store.NumProtos]store.Proto{store.ProtoHTTP, store.ProtoUDP}
)

// everyMode lists the modes a torrent can be in.
var everyMode = [...]modes.Mode{modes.Small, modes.Large, modes.Surge}
