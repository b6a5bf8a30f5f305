package main

import (
	"context"
	"sync/atomic"

	"johnlocke/store/cluster"
	"johnlocke/store/clusterview"
)

// clusterDisplay feeds the cluster node's figures to `stats` (the admin
// socket), the status page and /metrics. The admin socket answers before
// the node has joined (a join can take seconds), so the node is handed
// over once Start returns; until then the figures are the node's name
// alone. A nil *clusterDisplay (cluster mode off) shows nothing.
type clusterDisplay struct {
	name    string
	node    atomic.Pointer[cluster.Node]
	tracker *clusterview.Tracker
}

// newClusterDisplay returns nil when cluster mode is off; otherwise its
// tracker samples the node's totals until ctx ends.
func newClusterDisplay(ctx context.Context, cc clusterConfig) *clusterDisplay {
	if !cc.Enabled {
		return nil
	}
	d := &clusterDisplay{name: cc.NodeName}
	d.tracker = clusterview.NewTracker(d.figures)
	go d.tracker.Run(ctx)
	return d
}

// Tracker is what admin.Config and status.Sources take: nil without a
// cluster.
func (d *clusterDisplay) Tracker() *clusterview.Tracker {
	if d == nil {
		return nil
	}
	return d.tracker
}

// joined hands over the node Start returned.
func (d *clusterDisplay) joined(n *cluster.Node) {
	if d != nil && n != nil {
		d.node.Store(n)
	}
}

func (d *clusterDisplay) figures() clusterview.Figures {
	n := d.node.Load()
	if n == nil {
		return clusterview.Figures{NodeName: d.name}
	}
	s := n.Stats()
	f := clusterview.Figures{
		NodeName:       s.Node,
		ChangesSent:    s.ChangesSent,
		ChangesApplied: s.ChangesApplied,
		BatchesLost:    s.BatchesLost,
		ChangesDropped: s.ChangesDropped,
		ChangesRefused: s.ChangesRefused,
		LagP50:         s.LagP50,
		LagMax:         s.LagMax,
	}
	for _, seen := range s.NodesSeen {
		f.Seen = append(f.Seen, clusterview.Peer{Name: seen.Name, LastSeen: seen.LastSeen, Live: seen.Live})
	}
	if s.SnapshotApplied {
		f.SnapshotApplied = s.SnapshotAt
	}
	return f
}
