package cluster

import (
	"sync"
	"time"

	"github.com/warden-dev/warden/fsm"
)

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

// LockDelay returns until when, on this agent's clock, the lock at path is
// held back after its holder's session expired (the zero time when it is
// not).
func (n *Node) LockDelay(path string) time.Time { return n.delays.until(path) }

// lockDelays time lock-delays on this agent's monotonic clock, from when
// it applied the close that started each (or restored a snapshot holding
// it). No other agent's clock is involved: a leader whose wall clock is
// behind or ahead cannot shorten or stretch a delay.
type lockDelays struct {
	mu sync.Mutex
	m  map[string]time.Time
}

func newLockDelays() *lockDelays { return &lockDelays{m: make(map[string]time.Time)} }

// start is the FSM's OnLockDelay hook.
func (d *lockDelays) start(ld fsm.LockDelay) {
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if until := now.Add(ld.Delay); until.After(d.m[ld.Path]) {
		d.m[ld.Path] = until
	}
	if len(d.m) > 64 {
		for p, until := range d.m {
			if !until.After(now) {
				delete(d.m, p)
			}
		}
	}
}

func (d *lockDelays) until(path string) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	until, ok := d.m[path]
	if !ok || !until.After(time.Now()) {
		return time.Time{}
	}
	return until
}

// Subscribe streams the changes under root from this replica.
func (n *Node) Subscribe(root string, scope fsm.Scope, from uint64) (*fsm.Subscription, error) {
	return n.fsm.Subscribe(root, scope, from)
}
