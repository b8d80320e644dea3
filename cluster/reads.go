package cluster

import "github.com/warden-dev/warden/fsm"

// Reads are served from this replica's copy of the tree. A session that
// waited for its own write's reply reads that write here: the reply is sent
// only after the entry is applied on this replica.

// Get reads a node's data and Stat, optionally setting a data watch.
func (n *Node) Get(path string, watch bool) ([]byte, fsm.Stat, *fsm.Watch, error) {
	return n.fsm.Get(path, watch)
}

// Exists reads a node's Stat, optionally setting an exists watch.
func (n *Node) Exists(path string, watch bool) (fsm.Stat, bool, *fsm.Watch, error) {
	return n.fsm.Exists(path, watch)
}

// Children lists a node's children, optionally setting a child watch.
func (n *Node) Children(path string, watch bool) ([]string, fsm.Stat, *fsm.Watch, error) {
	return n.fsm.Children(path, watch)
}

// StopWatch removes a watch that has not fired.
func (n *Node) StopWatch(w *fsm.Watch) { n.fsm.StopWatch(w) }

// LockDelay returns until when (ms since the epoch) the lock at path is
// held back after its holder's session expired, or 0.
func (n *Node) LockDelay(path string) int64 { return n.fsm.LockDelay(path) }

// Subscribe streams the changes under root from this replica.
func (n *Node) Subscribe(root string, scope fsm.Scope, from uint64) (*fsm.Subscription, error) {
	return n.fsm.Subscribe(root, scope, from)
}
