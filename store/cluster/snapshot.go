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
// each starting with a kind byte: the registry part, the deny list
// (JSON), the swarms (change records with their ages), the completed
// counts (store.CompletedSize records), and an end message carrying how
// many messages came before it.
//
// The registry part is, when the answering node's journal covers the
// asker's "since", the state now of every torrent changed since (journal
// messages: removals first, then registrations); otherwise the torrents
// added since (JSON torrents) and a message saying that this part is
// partial. A new file (since 0) gets the whole registry, which is complete.
const (
	chunkRegistry  = 'R'
	chunkJournal   = 'J'
	chunkPartial   = 'P'
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
)

type snapshotRequest struct {
	Node string `json:"node"`
	// Since is the unix second of the asker's last write to its file, less
	// its SinceMargin, 0 for a new file: registry entries added since are
	// sent.
	Since int64 `json:"since"`
	// SinceNanos is Since to the nanosecond, which the answering node's
	// journal is checked against.
	SinceNanos int64 `json:"since_ns,omitempty"`
}

// journalChunk is one journal message of an answer: torrents changed
// since the asker's last write that are no longer registered (removed,
// banned, unbanned) and those registered now, with their mode.
type journalChunk struct {
	Removed  [][20]byte      `json:"removed,omitempty"`
	Torrents []store.Torrent `json:"torrents,omitempty"`
}

// partialNote says why an answer's registry part is partial: the
// answering node's journal covers changes from CoveredFrom (unix
// nanoseconds; 0: not at all), later than the asker's since.
type partialNote struct {
	Node        string `json:"node"`
	CoveredFrom int64  `json:"covered_from_ns"`
}

// joinState is what a join learns of the registry part as it applies
// the answer.
type joinState struct {
	journal   bool // a journal message arrived: the registry part is complete
	partial   *partialNote
	bannedNow map[[20]byte]bool // this node's deny list, read at the first journal message
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
	sr := snapshotRequest{Node: n.cfg.NodeName}
	if !since.IsZero() {
		since = since.Add(-n.cfg.SinceMargin)
		sr.Since, sr.SinceNanos = max(1, since.Unix()), since.UnixNano()
	}
	req, _ := json.Marshal(sr)
	started := time.Now()
	var js joinState
	err := n.askForSnapshot(ctx, req, &js)
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
		if !since.IsZero() && !js.journal {
			n.partialRegistry.Add(1)
			ev := n.cfg.Log.Warn().Time("since", since)
			if js.partial != nil {
				ev = ev.Str("from", js.partial.Node)
				if js.partial.CoveredFrom > 0 {
					ev = ev.Time("its_journal_from", time.Unix(0, js.partial.CoveredFrom))
				}
			}
			ev.Msg("cluster: the join snapshot's registry part is partial (the answering node started after this one's last write, or its journal wrapped): torrents removed, unbanned or given another mode elsewhere since may be stale here; re-run the removal, unban or import on any node")
		}
	}
}

// askForSnapshot sends the request until a node answers, then applies
// the answer as it streams in.
func (n *Node) askForSnapshot(ctx context.Context, req []byte, js *joinState) error {
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
		err = n.applySnapshot(sub, first, js)
		_ = sub.Unsubscribe()
		return err
	}
	return errNoAnswer
}

// applySnapshot applies an answer's messages, from first to the end.
func (n *Node) applySnapshot(sub *nats.Subscription, m *nats.Msg, js *joinState) error {
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
			n.journalTorrents(ts)
			n.snapshotTorrents.Add(uint64(len(ts)))
		case chunkJournal:
			var jc journalChunk
			if err := json.Unmarshal(body, &jc); err != nil {
				return fmt.Errorf("snapshot journal: %w", err)
			}
			if err := n.applyJournal(&jc, js); err != nil {
				return fmt.Errorf("snapshot journal: %w", err)
			}
		case chunkPartial:
			var p partialNote
			if err := json.Unmarshal(body, &p); err != nil {
				return fmt.Errorf("snapshot partial note: %w", err)
			}
			js.partial = &p
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
				n.journal.add(time.Now(), hashes...)
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

// applyJournal applies one journal message: bans lifted elsewhere are
// lifted here, removals removed, registrations registered (taking a new
// mode), in that order, so that a torrent removed and registered again
// ends registered.
func (n *Node) applyJournal(jc *journalChunk, js *joinState) error {
	js.journal = true
	if js.bannedNow == nil {
		bans, err := n.st.Banned()
		if err != nil {
			return fmt.Errorf("deny list: %w", err)
		}
		js.bannedNow = make(map[[20]byte]bool, len(bans))
		for _, b := range bans {
			js.bannedNow[b.InfoHash] = true
		}
	}
	// Not banned on the answering node (its bans come in full later):
	// lift the bans this node still has on them.
	var unban [][20]byte
	for _, h := range jc.Removed {
		if js.bannedNow[h] {
			unban = append(unban, h)
		}
	}
	for i := range jc.Torrents {
		if h := jc.Torrents[i].InfoHash; js.bannedNow[h] {
			unban = append(unban, h)
		}
	}
	if len(unban) > 0 {
		if _, err := n.st.UnbanRemote(unban); err != nil {
			return err
		}
		for _, h := range unban {
			delete(js.bannedNow, h)
		}
	}
	if len(jc.Removed) > 0 {
		if _, err := n.st.RemoveRemote(jc.Removed, false, ""); err != nil {
			return err
		}
		n.journal.add(time.Now(), jc.Removed...)
	}
	if len(jc.Torrents) > 0 {
		if _, err := n.st.RegisterRemote(jc.Torrents); err != nil {
			return err
		}
		n.journalTorrents(jc.Torrents)
		n.snapshotTorrents.Add(uint64(len(jc.Torrents)))
	}
	return nil
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

// answer streams the snapshot to reply: the registry part (see the
// message kinds), the whole deny list, and every swarm from memory,
// copied a shard at a time under that shard's lock.
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
	switch {
	case req.SinceNanos > 0:
		since = time.Unix(0, req.SinceNanos)
	case req.Since > 0:
		since = time.Unix(req.Since, 0)
	}
	if changed, covered := n.journal.since(since); covered {
		if err := n.answerJournal(changed, pubJSON); err != nil {
			return sent, fmt.Errorf("registry journal: %w", err)
		}
	} else if err := n.answerAdded(since, pubJSON); err != nil {
		return sent, err
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

// answerJournal sends the state now of the torrents changed since the
// asker's last write: every removal before any registration, so that a
// removal named by a hybrid alias cannot undo the registration of its
// primary hash.
func (n *Node) answerJournal(changed [][20]byte, pubJSON func(byte, any) error) error {
	var removed [][20]byte
	var ts []store.Torrent
	err := n.st.RegistryState(changed, func(h [20]byte, t *store.Torrent) error {
		if t == nil {
			removed = append(removed, h)
		} else {
			ts = append(ts, *t)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(removed) == 0 && len(ts) == 0 {
		// Nothing changed: the message still says the part is complete.
		return pubJSON(chunkJournal, journalChunk{})
	}
	for start := 0; start < len(removed); start += registryChunk {
		if err := pubJSON(chunkJournal, journalChunk{Removed: removed[start:min(start+registryChunk, len(removed))]}); err != nil {
			return err
		}
	}
	for start := 0; start < len(ts); start += registryChunk {
		if err := pubJSON(chunkJournal, journalChunk{Torrents: ts[start:min(start+registryChunk, len(ts))]}); err != nil {
			return err
		}
	}
	return nil
}

// answerAdded sends the torrents added since (all of them for a new
// file), and, unless the asker's file is new, says that this registry
// part is partial.
func (n *Node) answerAdded(since time.Time, pubJSON func(byte, any) error) error {
	var ts []store.Torrent
	err := n.st.RegistrySince(since, func(t *store.Torrent) error {
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
		return fmt.Errorf("registry: %w", err)
	}
	if since.IsZero() {
		return nil
	}
	note := partialNote{Node: n.cfg.NodeName}
	if from := n.journal.coveredFrom(); !from.IsZero() {
		note.CoveredFrom = from.UnixNano()
	}
	return pubJSON(chunkPartial, note)
}
