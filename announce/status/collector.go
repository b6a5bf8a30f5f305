package status

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"

	"johnlocke/announce/tally"
	"johnlocke/store"
)

// collector turns a snapshot of the counts into metrics at each scrape:
// the counts live in the shards and sockets that make them, summed here.
type collector struct {
	src *Sources

	announces, scrapes, scraped, failures, connects     *prometheus.Desc
	pacedReads                                          *prometheus.Desc
	badIDs                                              *prometheus.Desc
	torrents, peers, budget, turnedAway, announceTime   *prometheus.Desc
	flushTime, flushBytes, flushTorrents, flushFailures *prometheus.Desc
	lastFlush, dbSize, openConns, refusedConns, build   *prometheus.Desc
	reclaimedConns                                      *prometheus.Desc
	// Cluster mode only.
	nodesSeen, changesSent, changesApplied, batchesLost, lag *prometheus.Desc
	changesDropped, changesRefused                           *prometheus.Desc
}

func newCollector(src *Sources) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("johnlocke_"+name, help, labels, nil)
	}
	return &collector{
		src:            src,
		announces:      d("announces_total", "Announces answered, by protocol, the torrent's mode and the event.", "protocol", "mode", "event"),
		scrapes:        d("scrapes_total", "Scrape requests answered, by protocol.", "protocol"),
		scraped:        d("scraped_torrents_total", "Registered torrents that scrapes asked for, by the torrent's mode.", "mode"),
		failures:       d("failures_total", "Announces, scrapes and UDP packets refused, by protocol and reason.", "protocol", "reason"),
		connects:       d("udp_connects_total", "UDP connect requests answered."),
		badIDs:         d("udp_bad_connection_ids_total", "UDP announces and scrapes with a connection id that is not valid."),
		pacedReads:     d("udp_paced_reads_total", "UDP reads made after waiting for a window (--udp-window): busy readers pacing."),
		torrents:       d("torrents", "Torrents held, by mode and origin.", "mode", "origin"),
		peers:          d("peers", "Peers held, by mode, address family and role.", "mode", "family", "role"),
		budget:         d("peer_budget", "The peer budget (--max-peers-total)."),
		turnedAway:     d("peer_budget_refusals_total", "New peers the peer budget left unstored."),
		announceTime:   d("announce_duration_seconds", "Time to handle an announce, from parsing to the answer built, one announce in 64 timed.", "protocol"),
		flushTime:      d("flush_duration_seconds", "Time of the flushes that wrote something."),
		flushBytes:     d("flush_written_bytes_total", "Swarm bytes the flushes wrote."),
		flushTorrents:  d("flush_written_torrents_total", "Torrent records the flushes wrote."),
		flushFailures:  d("flush_failures_total", "Flushes that failed (retried at the next interval)."),
		lastFlush:      d("last_flush_timestamp_seconds", "Unix time of the last successful flush; 0 before any."),
		dbSize:         d("database_size_bytes", "Size of the database file."),
		openConns:      d("http_open_connections", "HTTP connections open now."),
		refusedConns:   d("http_refused_connections_total", "HTTP connections refused by a cap: per_source (--max-conns-per-ip) or global.", "cap"),
		reclaimedConns: d("http_reclaimed_connections_total", "Idle keep-alive HTTP connections closed to make room for new ones at the global connection cap."),
		build:          d("build_info", "Always 1; the labels name the build.", "version", "goversion"),

		nodesSeen:      d("cluster_nodes_seen", "Other cluster nodes heard from within the liveness window (live)."),
		changesSent:    d("cluster_changes_sent_total", "Peer and registry changes this node published to the cluster."),
		changesApplied: d("cluster_changes_applied_total", "Peer and registry changes from other nodes this node applied."),
		batchesLost:    d("cluster_batches_lost_total", "Batches from other nodes never received (gaps in their sequence numbers)."),
		changesDropped: d("cluster_changes_dropped_total", "Changes captured here but never published (the capture buffer was full)."),
		changesRefused: d("cluster_changes_refused_total", "Changes from other nodes not applied here (the rules of an announce: locked tracker, bounds)."),
		lag:            d("cluster_lag_seconds", "From a batch's send time to its apply here, over recent batches: the median (p50) and the largest (max).", "stat"),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.announces, c.scrapes, c.scraped, c.failures, c.connects, c.pacedReads, c.badIDs,
		c.torrents, c.peers, c.budget, c.turnedAway, c.announceTime, c.flushTime, c.flushBytes,
		c.flushTorrents, c.flushFailures, c.lastFlush, c.dbSize, c.openConns, c.refusedConns, c.reclaimedConns, c.build} {
		ch <- d
	}
	if c.src.Cluster != nil {
		for _, d := range []*prometheus.Desc{c.nodesSeen, c.changesSent, c.changesApplied, c.batchesLost, c.lag, c.changesDropped, c.changesRefused} {
			ch <- d
		}
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.snapshot()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, p := range protos {
		for _, m := range everyMode {
			for e, name := range eventNames {
				counter(c.announces, s.store.Announces[p][m][e], p.String(), m.String(), name)
			}
		}
	}
	for _, p := range protos {
		if p == store.ProtoHTTP && !s.hasHTTP || p == store.ProtoUDP && !s.hasUDP {
			continue
		}
		w := s.wire(p)
		counter(c.scrapes, w.Scrapes, p.String())
		for r := range tally.NumReasons {
			counter(c.failures, w.Failures[r], p.String(), r.String())
		}
		ch <- latencyHistogram(c.announceTime, w, p.String())
	}
	for _, m := range everyMode {
		counter(c.scraped, s.store.Scraped[m], m.String())
	}
	if s.hasUDP {
		counter(c.connects, s.udp.Connects)
		counter(c.pacedReads, s.udp.PacedReads)
		counter(c.badIDs, s.udp.Failures[tally.ReasonBadConnectionID])
	}
	for _, m := range everyMode {
		for o, name := range originNames {
			gauge(c.torrents, float64(s.store.Torrents[m][o]), m.String(), name)
		}
		for f, fam := range familyNames {
			for r, role := range roleNames {
				gauge(c.peers, float64(s.store.Peers[m][f][r]), m.String(), fam, role)
			}
		}
	}
	gauge(c.budget, float64(s.store.PeerBudget))
	counter(c.turnedAway, s.store.TurnedAway)
	fl := &s.store.Flush
	ch <- histogram(c.flushTime, store.FlushBounds[:], fl.Took[:], fl.TookSum)
	counter(c.flushBytes, fl.Bytes)
	counter(c.flushTorrents, fl.Torrents)
	counter(c.flushFailures, fl.Failures)
	var last float64
	if !fl.Last.IsZero() {
		last = float64(fl.Last.UnixNano()) / 1e9
	}
	gauge(c.lastFlush, last)
	gauge(c.dbSize, float64(s.store.DBSize))
	if s.hasHTTP {
		gauge(c.openConns, float64(s.http.OpenConns))
		counter(c.refusedConns, s.http.RefusedPerSource, "per_source")
		counter(c.refusedConns, s.http.RefusedGlobal, "global")
		counter(c.reclaimedConns, s.http.Reclaimed)
	}
	gauge(c.build, 1, c.src.Version, runtime.Version())
	if c.src.Cluster != nil {
		v := c.src.Cluster.View()
		gauge(c.nodesSeen, float64(v.NodesLive))
		counter(c.changesSent, v.ChangesSent)
		counter(c.changesApplied, v.ChangesApplied)
		counter(c.batchesLost, v.BatchesLost)
		counter(c.changesDropped, v.ChangesDropped)
		counter(c.changesRefused, v.ChangesRefused)
		gauge(c.lag, v.LagP50MS/1e3, "p50")
		gauge(c.lag, v.LagMaxMS/1e3, "max")
	}
}

func latencyHistogram(d *prometheus.Desc, w *tally.Totals, proto string) prometheus.Metric {
	return histogram(d, tally.LatencyBounds[:], w.Latency[:], w.LatencySum, proto)
}

// histogram makes a constant histogram of per-bucket counts (the last one
// past every bound).
func histogram(d *prometheus.Desc, bounds []float64, counts []uint64, sum float64, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(bounds))
	var cum uint64
	for i, b := range bounds {
		cum += counts[i]
		buckets[b] = cum
	}
	cum += counts[len(bounds)]
	return prometheus.MustNewConstHistogram(d, cum, sum, buckets, labels...)
}
