// Package cluster replicates store changes between johnlocke nodes over NATS:
// peer changes captured by the store's announce path, registry changes, and a
// snapshot for a node that joins or rejoins. It owns the NATS wire (subjects,
// batch format, embedded server); the store owns every rule about what a
// change may do.
package cluster

import (
	_ "github.com/nats-io/nats-server/v2/server"
	_ "github.com/nats-io/nats.go"
)
