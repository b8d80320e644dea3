package recipes

import (
	"errors"
	"strings"
	"time"

	"github.com/warden-dev/warden/fsm"
)

// Kinds of Holding, by the recipe whose layout a node follows.
const (
	HoldLock      = "lock"      // PATH/lock-N: a lock, or a read-write lock's writer
	HoldReadLock  = "read_lock" // PATH/lock-N holding "read"
	HoldSemaphore = "semaphore" // PATH/leases/lease-N, or PATH/_lock/lock-N while acquiring
	HoldQueueTake = "queue_take"
	HoldElection  = "election"  // PATH/latch-N
	HoldGroup     = "group"     // /warden/groups/GROUP/MEMBER
	HoldTask      = "task"      // /warden/progress/JOB/TASK
	HoldEphemeral = "ephemeral" // any other ephemeral node
)

// States of a Holding.
const (
	StateHeld      = "held"      // the lock, lease, membership or task is the session's
	StateWaiting   = "waiting"   // in line behind another, or sitting out a lock-delay
	StateLeader    = "leader"    // the election's first candidate
	StateCandidate = "candidate" // in an election behind the leader
)

// Holding is one ephemeral node of a session, as the recipes read it:
// what it stands for (Kind), the recipe's path (the lock, the semaphore,
// the election, the group or job; for a plain ephemeral, the node), the
// node itself (Key) and where it stands (State, empty for a plain
// ephemeral).
type Holding struct {
	Kind  string
	Path  string
	Key   string
	State string
}

// Holdings reads what each of keys (a session's ephemeral nodes) stands
// for, from st. It reads the local replica node by node, so it is a
// moment's picture, not a snapshot; a key that vanishes meanwhile is left
// out.
func Holdings(st Store, keys []string) ([]Holding, error) {
	var out []Holding
	for _, key := range keys {
		h, err := holding(st, key)
		if errors.Is(err, fsm.ErrNoNode) || errors.Is(err, ErrNotHeld) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

func holding(st Store, key string) (Holding, error) {
	name, parent := baseName(key), parentOf(key)
	h := Holding{Kind: HoldEphemeral, Path: key, Key: key}
	switch {
	case strings.HasPrefix(key, GroupRoot+"/") && parentOf(parent) == GroupRoot:
		h.Kind, h.Path, h.State = HoldGroup, parent, StateHeld
	case strings.HasPrefix(key, ProgressRoot+"/") && parentOf(parent) == ProgressRoot:
		h.Kind, h.Path, h.State = HoldTask, parent, StateHeld
	case !IsContenderName(name, false) || parent == "/":
		// a plain ephemeral node
	case strings.HasPrefix(name, leasePrefix) && baseName(parent) == semLeases && parent != "/"+semLeases:
		h.Kind, h.Path, h.State = HoldSemaphore, parentOf(parent), StateHeld
	case strings.HasPrefix(name, candidatePrefix):
		h.Kind, h.Path, h.State = HoldElection, parent, StateCandidate
		first, err := ahead(st, parent, key, candidatePrefix, ErrNotHeld)
		if err != nil {
			return h, err
		}
		if first == "" && !delayed(st, parent) {
			h.State = StateLeader
		}
	case strings.HasPrefix(name, lockPrefix):
		return lockHolding(st, h, parent, key)
	}
	return h, nil
}

// lockHolding reads a lock-N node: a lock, a read lock, or a place in the
// line of a semaphore's or a queue's takers (always waiting: the line is
// only the way in).
func lockHolding(st Store, h Holding, path, key string) (Holding, error) {
	h.Path, h.State = path, StateWaiting
	switch baseName(path) {
	case semLock:
		h.Kind, h.Path = HoldSemaphore, parentOf(path)
		return h, nil
	case queueLine:
		h.Kind, h.Path = HoldQueueTake, parentOf(path)
		return h, nil
	}
	data, _, _, err := st.Get(key, false)
	if err != nil {
		return h, err
	}
	var blocker string
	if isReader(data) {
		h.Kind = HoldReadLock
		blocker, err = writerAhead(st, path, key, map[string]bool{})
	} else {
		h.Kind = HoldLock
		blocker, err = ahead(st, path, key, lockPrefix, ErrNotHeld)
	}
	if err != nil {
		return h, err
	}
	if blocker == "" && !delayed(st, path) {
		h.State = StateHeld
	}
	return h, nil
}

// delayed reports whether a lock-delay holds the recipe at path back.
func delayed(st Store, path string) bool {
	until := st.LockDelay(path)
	return !until.IsZero() && until.After(time.Now())
}
