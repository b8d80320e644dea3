// Package fsm is Warden's replicated state: a ZooKeeper-style tree of znodes
// with sessions, applied as a deterministic Raft state machine.
//
// Every change arrives as a log entry (a type byte and a msgpack body, see
// command.go). Apply never reads the clock or a random source: times and ids
// come from the entry, and the Raft index is the zxid. The tree is an
// immutable radix tree, so reads, watches and snapshots see a consistent
// version while applies continue.
package fsm
