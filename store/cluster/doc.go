// Package cluster replicates a store's changes between johnlocke nodes over
// NATS, so that every node holds every swarm and one can die without its
// swarms going blind.
//
// It owns the NATS side only: the embedded server (routes between nodes,
// authenticated with a secret derived from the cluster secret) or a
// connection to the operator's own NATS servers, the subjects, the batch
// format, liveness, and the join snapshot. What a change is, when an
// announce captures one and how one from another node is applied (through
// the announce's own path, bounded as announces are) belong to the store:
// see store.CaptureChanges, store.ApplyChanges and store.RegistryListener.
//
// Subjects:
//
//	johnlocke.peers.<node>  batches of peer changes from one node
//	johnlocke.registry      registrations, removals, bans, unbans
//	johnlocke.hello         one heartbeat a second from each node
//	johnlocke.snapshot      a joining node's request for the swarms
//
// Nothing here runs unless serve is given a cluster flag.
package cluster
