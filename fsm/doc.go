// Package fsm is Warden's replicated state: a ZooKeeper-style tree of znodes
// with sessions, applied as a deterministic Raft state machine (FSM).
//
// Every change arrives as a log entry: a type byte and a msgpack body
// (command.go), dispatched through a table. An agent skips an entry of a
// type it does not know only when the type carries IgnoreUnknownFlag. Apply
// never reads the clock or a random source: times come from the entry, and
// the Raft index is the zxid (and a new session's id). An entry that does
// not decode means a corrupt log, and Apply panics; a rule violation (node
// exists, bad version) is the entry's Result, with a Code that never changes
// (errors.go). Check and ActorOf read an entry before it is proposed.
//
// The state (state.go) is the nodes, the sessions with the agent that owns
// each (a resumable session keeps only the SHA-256 of its secret, never the
// secret), every session's ephemeral nodes, the results of numbered writes
// (so that a retry with the same session and sequence returns the first
// outcome instead of applying again) and the lock-delays in force. Each is a
// copy-on-write B-tree: an entry is applied to a clone that is then
// published, so reads, watches and snapshots walk a version without a lock
// while applies go on. Restore reads a snapshot into a fresh state, swaps it
// in and fires every watch.
//
// A write is ops (create, delete, set, check) applied all or nothing. A
// Guarded set or delete of another session's ephemeral node is refused
// (CodePermissionDenied): the agent guards an app's raw writes. A create
// may be IfMissing, or make a container, removed with its last child, or
// a TTL node (ttl.go): the leader proposes CmdExpireTTL for the TTL nodes
// whose TTL has passed since their Mtime and that have no children, and
// applying it deletes each only if that still holds at the entry's time.
//
// Readers learn of changes three ways: one-shot watches (watch.go), fired
// in the apply; the change history (history.go), a ring of the recent
// created, deleted and data-changed events, bounded by count and bytes
// (SetHistoryLimits), that each subscription reads as a cursor, resuming
// after a zxid or resynced when the ring no longer reaches back that far;
// and hooks the agent sets before Raft starts: OnApply, OnSessionClosed,
// and OnLockDelay, called for each lock an expired session's close holds
// back (and each delay a restored snapshot holds), so that every agent
// times the delay on its own monotonic clock.
package fsm
