package cluster

import (
	"encoding/json"

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

// Registered passes torrents registered here on to the other nodes.
func (n *Node) Registered(ts []store.Torrent) {
	for start := 0; start < len(ts); start += registryChunk {
		n.sendRegistry(registryMsg{Op: opRegister, Torrents: ts[start:min(start+registryChunk, len(ts))]})
	}
}

// Removed passes a removal (and ban) made here on to the other nodes.
func (n *Node) Removed(hashes [][20]byte, ban bool, reason string) {
	for start := 0; start < len(hashes); start += registryChunk {
		n.sendRegistry(registryMsg{Op: opRemove, Hashes: hashes[start:min(start+registryChunk, len(hashes))], Ban: ban, Reason: reason})
	}
}

// Unbanned passes lifted bans on to the other nodes.
func (n *Node) Unbanned(hashes [][20]byte) {
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
	me := n.isMe(m.Node)
	n.mu.Unlock()
	if me {
		return
	}
	var err error
	switch m.Op {
	case opRegister:
		_, err = n.st.RegisterRemote(m.Torrents)
	case opRemove:
		_, err = n.st.RemoveRemote(m.Hashes, m.Ban, m.Reason)
	case opUnban:
		_, err = n.st.UnbanRemote(m.Hashes)
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
