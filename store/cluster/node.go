package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"johnlocke/store"
)

// lagWindow is how many recent batches the lag figures are taken over.
const lagWindow = 256

// maxPendingBatches bounds the live batches a joining node holds while it
// applies the snapshot (at most 1,200 bytes each: 12 MB); past it they
// are dropped and counted lost, and the next announces repair them.
const maxPendingBatches = 10_000

// drainWithin bounds how long Close waits for the connection to send
// what it holds.
const drainWithin = 5 * time.Second

// duplicateNameLogEvery bounds how often a node logs that another node
// uses its name.
const duplicateNameLogEvery = 10 * time.Second

// Node is one johnlocke process's membership of a cluster.
type Node struct {
	cfg Config
	st  *store.Store
	ns  *server.Server // nil with NATSURLs
	nc  *nats.Conn

	closed  chan struct{} // closed when the connection is
	closing atomic.Bool   // set by Close: start no snapshot answer
	stop    context.CancelFunc
	done    sync.WaitGroup
	subs    []*nats.Subscription
	answers sync.WaitGroup // snapshot answers in flight

	// Publishing (the publisher goroutine's own).
	batch   []byte
	hdrLen  int
	seq     uint64
	subject string

	// mu guards the receiving side: the senders' sequence numbers, nodes
	// seen, lags, and the join buffer.
	mu      sync.Mutex
	senders map[string]*sender
	lags    [lagWindow]int64
	lagN    int
	lastLag int64
	joining bool
	pending [][]byte
	// pendingRegistry holds other nodes' registry changes while joining,
	// pendingRegistryBytes their size on the wire.
	pendingRegistry      []registryMsg
	pendingRegistryBytes int
	journal              registryJournal
	dupLoggedAt          time.Time
	snapshotAt           time.Time

	changesSent, batchesSent           atomic.Uint64
	changesApplied, changesRefused     atomic.Uint64
	batchesReceived, batchesLost       atomic.Uint64
	changesDropped, badMessages        atomic.Uint64
	registrySent, registryApplied      atomic.Uint64
	snapshotChanges, snapshotsAnswered atomic.Uint64
	snapshotTorrents, registryFailed   atomic.Uint64
	partialRegistry                    atomic.Uint64
}

// sender is what a node knows of another.
type sender struct {
	lastSeq  uint64
	lastSeen time.Time
}

// NodeSeen is another node as this one last heard it.
type NodeSeen struct {
	Name     string
	LastSeen time.Time
	// Live is true when it was heard within the last five seconds.
	Live bool
}

// Stats are a node's replication figures: totals since it started, from
// which a display derives rates.
type Stats struct {
	Node string
	// NodesSeen lists every other node heard from, by name.
	NodesSeen []NodeSeen
	// ChangesSent and BatchesSent are what this node published.
	ChangesSent, BatchesSent uint64
	// ChangesDropped were captured but found the shard's buffer full
	// before the publisher took it (never sent).
	ChangesDropped uint64
	// ChangesApplied and ChangesRefused are other nodes' changes this one
	// applied or refused (an unregistered torrent on a locked tracker, a
	// bound reached), live and from snapshots.
	ChangesApplied, ChangesRefused uint64
	// BatchesReceived counts other nodes' batches; BatchesLost the gaps in
	// their sequence numbers (batches that never arrived) and live batches
	// dropped while joining.
	BatchesReceived, BatchesLost uint64
	// LagP50 and LagMax are over the last 256 batches received, LastLag
	// the latest: from the sender's clock at sending to this node's at
	// applying (so they include any clock difference between hosts).
	LagP50, LagMax, LastLag time.Duration
	// SnapshotApplied tells that a join snapshot was applied, at
	// SnapshotAt, with SnapshotChanges peers and SnapshotTorrents
	// registry entries.
	SnapshotApplied                   bool
	SnapshotAt                        time.Time
	SnapshotChanges, SnapshotTorrents uint64
	// SnapshotsAnswered counts snapshots this node sent to joining nodes.
	SnapshotsAnswered uint64
	// PartialRegistry counts join snapshots whose registry part was
	// partial: the answering node could not list every removal and mode
	// change since this node's last write (it started later, or its
	// journal wrapped), so some torrents here may be stale (logged).
	PartialRegistry uint64
	// RegistrySent and RegistryApplied count registry messages;
	// RegistryFailed those that could not be applied here.
	RegistrySent, RegistryApplied, RegistryFailed uint64
	// BadMessages counts messages that could not be read.
	BadMessages uint64
}

// Start joins the cluster: it starts the embedded NATS server (or connects
// to cfg.NATSURLs), attaches to st so announces capture changes, subscribes
// to the other nodes' changes (holding them back), asks a live node for a
// snapshot and applies it, then applies the changes held back. It returns
// once that is done, or once no node answered within cfg.JoinTimeout (it
// logs that and goes on: this node serves from its file). ctx bounds
// Start only; Close stops the node.
func Start(ctx context.Context, cfg Config, st *store.Store) (*Node, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, st: st, senders: map[string]*sender{}, joining: true,
		subject: subjectPeers + cfg.NodeName, closed: make(chan struct{})}
	var err error
	opts := []nats.Option{nats.Name("johnlocke " + cfg.NodeName), nats.NoEcho(), nats.MaxReconnects(-1),
		nats.ClosedHandler(func(*nats.Conn) { close(n.closed) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			cfg.Log.Warn().Err(err).Msg("cluster: NATS")
		})}
	if cfg.Listen != "" {
		if n.ns, err = startEmbedded(&n.cfg); err != nil {
			return nil, err
		}
		n.nc, err = nats.Connect("", append(opts, nats.InProcessServer(n.ns), nats.UserInfo(clientUser, clientPassword(cfg.Secret)))...)
	} else {
		n.nc, err = nats.Connect(strings.Join(cfg.NATSURLs, ","), opts...)
	}
	if err != nil {
		n.shutdownServer()
		return nil, fmt.Errorf("cluster: connect to NATS: %w", err)
	}
	for _, s := range []struct {
		subject string
		cb      nats.MsgHandler
	}{{subjectPeers + "*", n.onPeers}, {subjectRegistry, n.onRegistry}, {subjectHello, n.onHello}} {
		sub, err := n.nc.Subscribe(s.subject, s.cb)
		if err == nil {
			// A burst (a snapshot's worth of live changes) must not make
			// this node a slow consumer; maxPendingBatches bounds what
			// joining holds.
			err = sub.SetPendingLimits(-1, -1)
		}
		if err != nil {
			n.closeConn()
			return nil, fmt.Errorf("cluster: subscribe to %s: %w", s.subject, err)
		}
		n.subs = append(n.subs, sub)
	}
	// From here announces capture changes; the publisher sends them.
	st.CaptureChanges()
	st.SetRegistryListener(n)
	// Every registry change made here from now on is journaled, and those
	// of other nodes are (held back, then) applied and journaled too.
	n.journal.start(time.Now())
	runCtx, stop := context.WithCancel(context.Background())
	n.stop = stop
	n.batch = batchHeader(cfg.NodeName)
	n.hdrLen = len(n.batch)
	n.done.Add(2)
	go n.publish(runCtx)
	go n.heartbeat(runCtx)

	n.join(ctx)
	sub, err := n.nc.QueueSubscribe(subjectSnapshot, queueSnapshot, n.onSnapshotRequest)
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("cluster: subscribe to %s: %w", subjectSnapshot, err)
	}
	n.subs = append(n.subs, sub)
	cfg.Log.Info().Str("node", cfg.NodeName).Str("listen", n.ClusterAddr()).Strs("peers", cfg.Peers).
		Strs("nats", cfg.NATSURLs).Msg("cluster node started")
	return n, nil
}

// ClusterAddr returns the address the embedded server accepts routes on
// ("" with NATS servers of the operator's).
func (n *Node) ClusterAddr() string {
	if n.ns == nil {
		return ""
	}
	if a := n.ns.ClusterAddr(); a != nil {
		return a.String()
	}
	return ""
}

// Close leaves the cluster: the last captured changes are sent, then the
// connection and the embedded server are shut down.
func (n *Node) Close() error {
	n.closing.Store(true)
	n.st.SetRegistryListener(nil)
	n.stop()
	n.done.Wait()
	err := n.nc.Drain()
	// Drain returns at once; the connection closes when it is done.
	select {
	case <-n.closed:
	case <-time.After(drainWithin):
	}
	n.nc.Close()
	// No callback runs now, so no answer starts; those under way end
	// with the connection.
	n.answers.Wait()
	n.shutdownServer()
	if err != nil {
		return fmt.Errorf("cluster: drain: %w", err)
	}
	return nil
}

func (n *Node) closeConn() {
	n.nc.Close()
	n.shutdownServer()
}

func (n *Node) shutdownServer() {
	if n.ns != nil {
		n.ns.Shutdown()
		n.ns.WaitForShutdown()
	}
}

// publish sends captured changes every publish interval, and once more
// when the node stops.
func (n *Node) publish(ctx context.Context) {
	defer n.done.Done()
	tick := time.NewTicker(n.cfg.PublishInterval)
	defer tick.Stop()
	ready := n.st.ChangesReady()
	for {
		select {
		case <-ctx.Done():
			n.sendChanges()
			_ = n.nc.Flush()
			return
		case <-tick.C:
			n.sendChanges()
		case <-ready:
			// A shard filled half its buffer between two rounds.
			n.sendChanges()
		}
	}
}

// sendChanges takes every shard's captured changes and publishes them in
// batches of at most maxBatchBytes.
func (n *Node) sendChanges() {
	dropped := n.st.TakeChanges(func(c []byte) {
		for len(c) > 0 {
			room := (maxBatchBytes - len(n.batch)) / store.ChangeSize * store.ChangeSize
			take := min(room, len(c))
			n.batch = append(n.batch, c[:take]...)
			c = c[take:]
			if len(n.batch)+store.ChangeSize > maxBatchBytes {
				n.sendBatch()
			}
		}
	})
	if len(n.batch) > n.hdrLen {
		n.sendBatch()
	}
	n.changesDropped.Add(uint64(dropped))
}

func (n *Node) sendBatch() {
	n.seq++
	stampBatch(n.batch, n.hdrLen, n.seq, time.Now().UnixMilli())
	if err := n.nc.Publish(n.subject, n.batch); err != nil {
		// The connection is closed or reconnecting past its buffer: the
		// receivers count the gap.
		n.cfg.Log.Debug().Err(err).Msg("cluster: publish changes")
	} else {
		n.changesSent.Add(uint64((len(n.batch) - n.hdrLen) / store.ChangeSize))
		n.batchesSent.Add(1)
	}
	n.batch = n.batch[:n.hdrLen]
}

// heartbeat says hello every second.
func (n *Node) heartbeat(ctx context.Context) {
	defer n.done.Done()
	tick := time.NewTicker(heartbeatEvery)
	defer tick.Stop()
	hello := []byte(n.cfg.NodeName)
	_ = n.nc.Publish(subjectHello, hello)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			_ = n.nc.Publish(subjectHello, hello)
		}
	}
}

func (n *Node) onHello(m *nats.Msg) {
	name := string(m.Data)
	if CheckNodeName(name) != nil {
		n.badMessages.Add(1)
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.isMe(name) {
		return
	}
	n.senderLocked(name).lastSeen = time.Now()
}

// isMe reports whether a message came under this node's own name. With
// NoEcho, this node never hears itself: another node has its name, which
// would make the two ignore each other's changes. n.mu must be held.
func (n *Node) isMe(name string) bool {
	if name != n.cfg.NodeName {
		return false
	}
	if now := time.Now(); now.Sub(n.dupLoggedAt) >= duplicateNameLogEvery {
		n.dupLoggedAt = now
		n.cfg.Log.Error().Str("node", name).Msg("cluster: another node uses this node's name; give each node its own --node-name")
	}
	return true
}

func (n *Node) senderLocked(name string) *sender {
	s := n.senders[name]
	if s == nil {
		s = &sender{}
		n.senders[name] = s
	}
	return s
}

func (n *Node) onPeers(m *nats.Msg) {
	name, _, _, _, err := decodeBatch(m.Data)
	if err != nil {
		n.badMessages.Add(1)
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.isMe(name) {
		return
	}
	if n.joining {
		if len(n.pending) >= maxPendingBatches {
			n.batchesLost.Add(1)
			return
		}
		// The message's data is its own (nats.go gives each message a
		// fresh slice), so it can be held as it is.
		n.pending = append(n.pending, m.Data)
		return
	}
	n.applyBatchLocked(m.Data)
}

// applyBatchLocked applies one batch and accounts for it; n.mu must be
// held (callbacks of one subscription run one at a time anyway; the lock
// orders them with the end of a join).
func (n *Node) applyBatchLocked(b []byte) {
	name, seq, sentMs, recs, err := decodeBatch(b)
	if err != nil {
		n.badMessages.Add(1)
		return
	}
	s := n.senderLocked(name)
	now := time.Now()
	s.lastSeen = now
	switch {
	case s.lastSeq == 0 || seq <= s.lastSeq:
		// First batch heard from it, or it restarted and counts again.
	case seq > s.lastSeq+1:
		n.batchesLost.Add(seq - s.lastSeq - 1)
	}
	s.lastSeq = seq
	n.batchesReceived.Add(1)
	lag := max(0, now.UnixMilli()-sentMs)
	n.lastLag = lag
	n.lags[n.lagN%lagWindow] = lag
	n.lagN++
	applied, refused := n.st.ApplyChanges(recs)
	n.changesApplied.Add(uint64(applied))
	n.changesRefused.Add(uint64(refused))
}

// endJoin applies the registry changes, then the batches, held back
// while joining, each in the order they came, and lets the next ones
// through. Registry changes go first: a peer held back may belong to a
// torrent registered meanwhile.
func (n *Node) endJoin() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, m := range n.pendingRegistry {
		n.applyRegistry(m)
	}
	n.pendingRegistry, n.pendingRegistryBytes = nil, 0
	for _, b := range n.pending {
		n.applyBatchLocked(b)
	}
	n.pending = nil
	n.joining = false
}

// Stats returns the node's figures.
func (n *Node) Stats() Stats {
	s := Stats{
		Node:              n.cfg.NodeName,
		ChangesSent:       n.changesSent.Load(),
		BatchesSent:       n.batchesSent.Load(),
		ChangesDropped:    n.changesDropped.Load(),
		ChangesApplied:    n.changesApplied.Load(),
		ChangesRefused:    n.changesRefused.Load(),
		BatchesReceived:   n.batchesReceived.Load(),
		BatchesLost:       n.batchesLost.Load(),
		SnapshotChanges:   n.snapshotChanges.Load(),
		SnapshotTorrents:  n.snapshotTorrents.Load(),
		SnapshotsAnswered: n.snapshotsAnswered.Load(),
		PartialRegistry:   n.partialRegistry.Load(),
		RegistrySent:      n.registrySent.Load(),
		RegistryApplied:   n.registryApplied.Load(),
		RegistryFailed:    n.registryFailed.Load(),
		BadMessages:       n.badMessages.Load(),
	}
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	for name, sd := range n.senders {
		s.NodesSeen = append(s.NodesSeen, NodeSeen{Name: name, LastSeen: sd.lastSeen, Live: now.Sub(sd.lastSeen) < liveWithin})
	}
	slices.SortFunc(s.NodesSeen, func(a, b NodeSeen) int { return strings.Compare(a.Name, b.Name) })
	if k := min(n.lagN, lagWindow); k > 0 {
		lags := slices.Clone(n.lags[:k])
		slices.Sort(lags)
		s.LagP50 = time.Duration(lags[k/2]) * time.Millisecond
		s.LagMax = time.Duration(lags[k-1]) * time.Millisecond
		s.LastLag = time.Duration(n.lastLag) * time.Millisecond
	}
	s.SnapshotApplied = !n.snapshotAt.IsZero()
	s.SnapshotAt = n.snapshotAt
	return s
}
