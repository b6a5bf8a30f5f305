package status

import (
	"time"

	"johnlocke/modes"
	"johnlocke/store"
)

// point is one sample of the counts the charts draw: cumulative announce
// counts (rates are their differences) and the gauges.
type point struct {
	at       time.Time
	byProto  [store.NumProtos]uint64
	byMode   [modes.Surge + 1]uint64
	peers    int64
	torrents int64
}

// history is a ring of the last historyLen+1 points (historyLen rates).
type history struct {
	points [historyLen + 1]point
	next   int // where the next point goes
	n      int // points held
}

func (h *history) add(s *snapshot) {
	p := point{at: s.at}
	for _, pr := range protos {
		p.byProto[pr] = s.announces(pr, modes.Default)
	}
	for _, m := range everyMode {
		p.byMode[m] = s.announces(store.ProtoHTTP, m) + s.announces(store.ProtoUDP, m)
		seeders, leechers := s.peers(m)
		p.peers += seeders + leechers
		p.torrents += s.torrents(m)
	}
	h.points[h.next] = p
	h.next = (h.next + 1) % len(h.points)
	h.n = min(h.n+1, len(h.points))
}

// Series is the charts' data in /stats.json: one entry per sample after
// the first, oldest first. Rates are announces per second since the
// sample before.
type Series struct {
	Time     []int64   `json:"time"` // unix seconds
	HTTP     []float64 `json:"http_per_second"`
	UDP      []float64 `json:"udp_per_second"`
	Small    []float64 `json:"small_per_second"`
	Large    []float64 `json:"large_per_second"`
	Surge    []float64 `json:"surge_per_second"`
	Peers    []int64   `json:"peers"`
	Torrents []int64   `json:"torrents"`
}

func (h *history) series() Series {
	s := Series{Time: []int64{}, HTTP: []float64{}, UDP: []float64{}, Small: []float64{}, Large: []float64{},
		Surge: []float64{}, Peers: []int64{}, Torrents: []int64{}}
	first := (h.next - h.n + len(h.points)) % len(h.points)
	for i := 1; i < h.n; i++ {
		prev := &h.points[(first+i-1)%len(h.points)]
		p := &h.points[(first+i)%len(h.points)]
		sec := p.at.Sub(prev.at).Seconds()
		if sec <= 0 {
			continue
		}
		rate := func(a, b uint64) float64 { return float64(a-b) / sec }
		s.Time = append(s.Time, p.at.Unix())
		s.HTTP = append(s.HTTP, rate(p.byProto[store.ProtoHTTP], prev.byProto[store.ProtoHTTP]))
		s.UDP = append(s.UDP, rate(p.byProto[store.ProtoUDP], prev.byProto[store.ProtoUDP]))
		s.Small = append(s.Small, rate(p.byMode[modes.Small], prev.byMode[modes.Small]))
		s.Large = append(s.Large, rate(p.byMode[modes.Large], prev.byMode[modes.Large]))
		s.Surge = append(s.Surge, rate(p.byMode[modes.Surge], prev.byMode[modes.Surge]))
		s.Peers = append(s.Peers, p.peers)
		s.Torrents = append(s.Torrents, p.torrents)
	}
	return s
}
