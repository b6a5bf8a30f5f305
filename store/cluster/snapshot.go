package cluster

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"johnlocke/store"
)

// A snapshot answer is a stream of messages to the requester's inbox,
// each starting with a kind byte: the registry (JSON torrents), the deny
// list (JSON), the swarms (change records with their ages), the completed
// counts (store.CompletedSize records), and an end message carrying how
// many messages came before it.
const (
	chunkRegistry  = 'R'
	chunkBans      = 'B'
	chunkSwarms    = 'S'
	chunkCompleted = 'C'
	chunkEnd       = 'E'
)

const (
	// swarmChunkBytes bounds one message of swarms: well below NATS's
	// 1 MB payload, large enough that a million peers take 600 messages.
	swarmChunkBytes = 64 << 10
	// askEvery is how long one snapshot request waits for its first
	// answer before asking again (a route's interest may not have
	// reached the answering node yet).
	askEvery = time.Second
	// chunkWithin bounds the wait for each next message of an answer.
	chunkWithin = 5 * time.Second
	// routeWait is how often a joining embedded server checks for a route.
	routeWait = 50 * time.Millisecond
	// sinceMargin widens the "changed since" window: a torrent registered
	// in the last seconds before the file was written may not be in it.
	sinceMargin = time.Minute
)

type snapshotRequest struct {
	Node string `json:"node"`
	// Since is the unix second of the asker's last write to its file, 0
	// for a new file: registry entries added since are sent.
	Since int64 `json:"since"`
}

type banEntry struct {
	Hash   [20]byte `json:"hash"`
	Reason string   `json:"reason,omitempty"`
}

var errNoAnswer = errors.New("no node answered")

// join asks another node for a snapshot and applies it, then lets the
// live changes held back meanwhile through. It gives up (and logs) when
// no node answers within the join timeout.
func (n *Node) join(ctx context.Context) {
	defer n.endJoin()
	if n.cfg.JoinTimeout < 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.JoinTimeout)
	defer cancel()
	since := n.st.DB().WrittenAt()
	if !since.IsZero() {
		since = since.Add(-sinceMargin)
	}
	req, _ := json.Marshal(snapshotRequest{Node: n.cfg.NodeName, Since: unixOrZero(since)})
	started := time.Now()
	err := n.askForSnapshot(ctx, req)
	switch {
	case errors.Is(err, errNoAnswer):
		n.cfg.Log.Info().Dur("waited", time.Since(started)).Msg("cluster: no other node answered; serving from the database alone")
	case err != nil:
		n.cfg.Log.Error().Err(err).Msg("cluster: snapshot incomplete; the swarms fill in as clients announce")
	default:
		n.mu.Lock()
		n.snapshotAt = time.Now()
		n.mu.Unlock()
		n.cfg.Log.Info().Uint64("peers", n.snapshotChanges.Load()).Uint64("torrents", n.snapshotTorrents.Load()).
			Dur("took", time.Since(started)).Msg("cluster: applied the join snapshot")
	}
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// askForSnapshot sends the request until a node answers, then applies
// the answer as it streams in.
func (n *Node) askForSnapshot(ctx context.Context, req []byte) error {
	if n.ns != nil {
		// Nobody can answer before a route is up.
		for n.ns.NumRoutes() == 0 {
			select {
			case <-ctx.Done():
				return errNoAnswer
			case <-time.After(routeWait):
			}
		}
	}
	for ctx.Err() == nil {
		inbox := nats.NewInbox()
		sub, err := n.nc.SubscribeSync(inbox)
		if err != nil {
			return fmt.Errorf("subscribe to %s: %w", inbox, err)
		}
		_ = sub.SetPendingLimits(-1, -1)
		if err := n.nc.PublishRequest(subjectSnapshot, inbox, req); err != nil {
			_ = sub.Unsubscribe()
			return fmt.Errorf("ask for a snapshot: %w", err)
		}
		wait, cancel := context.WithTimeout(ctx, askEvery)
		first, err := sub.NextMsgWithContext(wait)
		cancel()
		if err != nil {
			_ = sub.Unsubscribe()
			continue
		}
		err = n.applySnapshot(sub, first)
		_ = sub.Unsubscribe()
		return err
	}
	return errNoAnswer
}

// applySnapshot applies an answer's messages, from first to the end.
func (n *Node) applySnapshot(sub *nats.Subscription, m *nats.Msg) error {
	for count := uint64(0); ; count++ {
		if len(m.Data) == 0 {
			return errors.New("empty snapshot message")
		}
		body := m.Data[1:]
		switch m.Data[0] {
		case chunkRegistry:
			var ts []store.Torrent
			if err := json.Unmarshal(body, &ts); err != nil {
				return fmt.Errorf("snapshot registry: %w", err)
			}
			if _, err := n.st.RegisterRemote(ts); err != nil {
				return fmt.Errorf("snapshot registry: %w", err)
			}
			n.snapshotTorrents.Add(uint64(len(ts)))
		case chunkBans:
			var bans []banEntry
			if err := json.Unmarshal(body, &bans); err != nil {
				return fmt.Errorf("snapshot deny list: %w", err)
			}
			// One removal per reason, not per ban: each is a flush and a
			// transaction.
			byReason := map[string][][20]byte{}
			for _, b := range bans {
				byReason[b.Reason] = append(byReason[b.Reason], b.Hash)
			}
			for reason, hashes := range byReason {
				if _, err := n.st.RemoveRemote(hashes, true, reason); err != nil {
					return fmt.Errorf("snapshot deny list: %w", err)
				}
			}
		case chunkSwarms:
			applied, refused := n.st.ApplyChanges(body)
			n.snapshotChanges.Add(uint64(applied))
			n.changesApplied.Add(uint64(applied))
			n.changesRefused.Add(uint64(refused))
		case chunkCompleted:
			n.st.ApplyCompleted(body)
		case chunkEnd:
			if len(body) != 8 || binary.BigEndian.Uint64(body) != count {
				return fmt.Errorf("snapshot: %d messages arrived, the sender sent another number", count)
			}
			return nil
		default:
			return fmt.Errorf("snapshot: unknown message kind %q", m.Data[0])
		}
		var err error
		if m, err = sub.NextMsg(chunkWithin); err != nil {
			return fmt.Errorf("snapshot: after %d messages: %w", count+1, err)
		}
	}
}

// onSnapshotRequest answers a joining node in the background, so the
// subscription goes on.
func (n *Node) onSnapshotRequest(m *nats.Msg) {
	var req snapshotRequest
	if err := json.Unmarshal(m.Data, &req); err != nil || m.Reply == "" {
		n.badMessages.Add(1)
		return
	}
	if n.closing.Load() {
		return // the asker asks again, and another node answers
	}
	n.answers.Add(1)
	go func() {
		defer n.answers.Done()
		started := time.Now()
		sent, err := n.answer(m.Reply, req)
		if err != nil {
			n.cfg.Log.Warn().Err(err).Str("to", req.Node).Msg("cluster: snapshot answer failed")
			return
		}
		n.snapshotsAnswered.Add(1)
		n.cfg.Log.Info().Str("to", req.Node).Int("messages", sent).Dur("took", time.Since(started)).Msg("cluster: sent a snapshot")
	}()
}

// answer streams the snapshot to reply: the registry entries added since
// the asker's last write, the whole deny list, and every swarm from
// memory, copied a shard at a time under that shard's lock.
func (n *Node) answer(reply string, req snapshotRequest) (sent int, err error) {
	pub := func(kind byte, body []byte) error {
		msg := append([]byte{kind}, body...)
		if err := n.nc.Publish(reply, msg); err != nil {
			return err
		}
		sent++
		return nil
	}
	pubJSON := func(kind byte, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		return pub(kind, b)
	}
	var since time.Time
	if req.Since > 0 {
		since = time.Unix(req.Since, 0)
	}
	var ts []store.Torrent
	err = n.st.RegistrySince(since, func(t *store.Torrent) error {
		ts = append(ts, *t)
		if len(ts) == registryChunk {
			err := pubJSON(chunkRegistry, ts)
			ts = ts[:0]
			return err
		}
		return nil
	})
	if err == nil && len(ts) > 0 {
		err = pubJSON(chunkRegistry, ts)
	}
	if err != nil {
		return sent, fmt.Errorf("registry: %w", err)
	}
	bans, err := n.st.Banned()
	if err != nil {
		return sent, fmt.Errorf("deny list: %w", err)
	}
	if len(bans) > 0 {
		entries := make([]banEntry, len(bans))
		for i, b := range bans {
			entries[i] = banEntry{Hash: b.InfoHash, Reason: b.Reason}
		}
		for start := 0; start < len(entries); start += registryChunk {
			if err := pubJSON(chunkBans, entries[start:min(start+registryChunk, len(entries))]); err != nil {
				return sent, err
			}
		}
	}
	// Swarms, then completed counts, each a shard at a time in messages
	// of whole records.
	buf := make([]byte, 0, swarmChunkBytes)
	for _, part := range []struct {
		kind    byte
		size    int
		appendf func(int, []byte) []byte
	}{{chunkSwarms, store.ChangeSize, n.st.AppendSwarms}, {chunkCompleted, store.CompletedSize, n.st.AppendCompleted}} {
		buf = buf[:0]
		for i := range store.NumShards {
			buf = part.appendf(i, buf)
			for len(buf) >= swarmChunkBytes {
				cut := swarmChunkBytes / part.size * part.size
				if err := pub(part.kind, buf[:cut]); err != nil {
					return sent, err
				}
				buf = append(buf[:0], buf[cut:]...)
			}
		}
		if len(buf) > 0 {
			if err := pub(part.kind, buf); err != nil {
				return sent, err
			}
		}
	}
	var end [8]byte
	binary.BigEndian.PutUint64(end[:], uint64(sent))
	if err := pub(chunkEnd, end[:]); err != nil {
		return sent, err
	}
	return sent, n.nc.Flush()
}
