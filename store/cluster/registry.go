package cluster

import (
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go"

	"johnlocke/store"
)

// Registry changes are rare and small next to peer changes, and read by
// people debugging a cluster: they travel as JSON.
type registryMsg struct {
	Node     string          `json:"node"`
	Op       string          `json:"op"` // opRegister, opRemove or opUnban
	Torrents []store.Torrent `json:"torrents,omitempty"`
	Hashes   [][20]byte      `json:"hashes,omitempty"`
	Ban      bool            `json:"ban,omitempty"`
	Reason   string          `json:"reason,omitempty"`
}

const (
	opRegister = "register"
	opRemove   = "remove"
	opUnban    = "unban"
)

// registryChunk bounds the torrents or infohashes of one message: a
// torrent is a few hundred bytes of JSON at most (names are cut at 4 KiB,
// but few are long), so a message stays well below NATS's 1 MB payload.
const registryChunk = 500

// maxPendingRegistryBytes bounds the registry messages a joining node
// holds while it applies the snapshot: a bulk import elsewhere during a
// join is a few thousand messages of at most a few hundred KB each; past
// 64 MB they are dropped, counted failed and logged, since no announce
// repairs a registry change.
const maxPendingRegistryBytes = 64 << 20

// Registered passes torrents registered here on to the other nodes.
func (n *Node) Registered(ts []store.Torrent) {
	n.journalTorrents(ts)
	for start := 0; start < len(ts); start += registryChunk {
		n.sendRegistry(registryMsg{Op: opRegister, Torrents: ts[start:min(start+registryChunk, len(ts))]})
	}
}

// Removed passes a removal (and ban) made here on to the other nodes.
func (n *Node) Removed(hashes [][20]byte, ban bool, reason string) {
	n.journal.add(time.Now(), hashes...)
	for start := 0; start < len(hashes); start += registryChunk {
		n.sendRegistry(registryMsg{Op: opRemove, Hashes: hashes[start:min(start+registryChunk, len(hashes))], Ban: ban, Reason: reason})
	}
}

// Unbanned passes lifted bans on to the other nodes.
func (n *Node) Unbanned(hashes [][20]byte) {
	n.journal.add(time.Now(), hashes...)
	for start := 0; start < len(hashes); start += registryChunk {
		n.sendRegistry(registryMsg{Op: opUnban, Hashes: hashes[start:min(start+registryChunk, len(hashes))]})
	}
}

func (n *Node) sendRegistry(m registryMsg) {
	m.Node = n.cfg.NodeName
	b, err := json.Marshal(m)
	if err == nil {
		err = n.nc.Publish(subjectRegistry, b)
	}
	if err != nil {
		n.cfg.Log.Error().Err(err).Str("op", m.Op).Msg("cluster: registry change not passed on; the other nodes miss it until they rejoin")
		return
	}
	n.registrySent.Add(1)
}

func (n *Node) onRegistry(msg *nats.Msg) {
	var m registryMsg
	if err := json.Unmarshal(msg.Data, &m); err != nil {
		n.badMessages.Add(1)
		return
	}
	n.mu.Lock()
	if n.isMe(m.Node) {
		n.mu.Unlock()
		return
	}
	if n.joining {
		// Applied after the snapshot, which may predate it: the later
		// change must win.
		if n.pendingRegistryBytes+len(msg.Data) > maxPendingRegistryBytes {
			n.registryFailed.Add(1)
			n.cfg.Log.Error().Str("op", m.Op).Str("from", m.Node).
				Msg("cluster: registry change dropped while joining (too many held back); re-run the import or removal on any node")
		} else {
			n.pendingRegistryBytes += len(msg.Data)
			n.pendingRegistry = append(n.pendingRegistry, m)
		}
		n.mu.Unlock()
		return
	}
	n.mu.Unlock()
	n.applyRegistry(m)
}

// applyRegistry applies another node's registry change here, without
// passing it on, and journals it.
func (n *Node) applyRegistry(m registryMsg) {
	var err error
	switch m.Op {
	case opRegister:
		_, err = n.st.RegisterRemote(m.Torrents)
		n.journalTorrents(m.Torrents)
	case opRemove:
		_, err = n.st.RemoveRemote(m.Hashes, m.Ban, m.Reason)
		n.journal.add(time.Now(), m.Hashes...)
	case opUnban:
		_, err = n.st.UnbanRemote(m.Hashes)
		n.journal.add(time.Now(), m.Hashes...)
	default:
		n.badMessages.Add(1)
		return
	}
	if err != nil {
		n.registryFailed.Add(1)
		n.cfg.Log.Error().Err(err).Str("op", m.Op).Str("from", m.Node).Msg("cluster: applying another node's registry change")
		return
	}
	n.registryApplied.Add(1)
}

// journalTorrents journals the registration of ts.
func (n *Node) journalTorrents(ts []store.Torrent) {
	hashes := make([][20]byte, len(ts))
	for i := range ts {
		hashes[i] = ts[i].InfoHash
	}
	n.journal.add(time.Now(), hashes...)
}
