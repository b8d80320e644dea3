package recipes

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/warden-dev/warden/fsm"
)

// Store is what recipes need from the replicated tree.
//
// Write applies ops all-or-nothing for a session; a refusal (node exists,
// bad version) is in the Result, and the error is for a write whose outcome
// is unknown. The read methods read the local replica, and with watch set
// they register a one-shot watch atomically with the read.
type Store interface {
	Write(ctx context.Context, session uint64, ops []fsm.Op) (*fsm.Result, error)
	Get(path string, watch bool) ([]byte, fsm.Stat, *fsm.Watch, error)
	Exists(path string, watch bool) (fsm.Stat, bool, *fsm.Watch, error)
	Children(path string, watch bool) ([]string, fsm.Stat, *fsm.Watch, error)
	StopWatch(w *fsm.Watch)
	// Subscribe streams the changes under root in zxid order, from the
	// current state (from 0) or after a zxid.
	Subscribe(root string, scope fsm.Scope, from uint64) (*fsm.Subscription, error)
	// LockDelay returns until when, on this agent's clock, the lock at
	// path is held back because its last holder's session expired (the
	// zero time when it is not).
	LockDelay(path string) time.Time
}

// Session is an app's session as the recipes act for it: the store they
// read and write through, and the session their writes and their
// ephemeral nodes (contenders, members, tasks) belong to. Recipes that only
// read take a Store.
type Session struct {
	Store Store
	ID    uint64
}

// LeaderReporter is what a Store may also implement: how long its
// cluster has had no leader, 0 while it has one. A wait that ends while
// its line's node is still being created then answers at once, saying so
// (NoLeaderError), instead of after the create's own timeout.
type LeaderReporter interface {
	NoLeaderFor() time.Duration
}

// NoLeaderError: a wait ended while the cluster had no leader to create
// its line's node (a lock's contender, a candidate).
type NoLeaderError struct {
	// For is how long the cluster has had no leader.
	For time.Duration
}

func (e *NoLeaderError) Error() string {
	d := e.For.Round(100 * time.Millisecond)
	if e.For >= 10*time.Second {
		d = e.For.Round(time.Second)
	}
	return fmt.Sprintf("cluster unavailable: no leader for %v", d)
}

// Errors of the recipes, beside the fsm's own.
var (
	// ErrNotAcquired: a try or a wait with a timeout ended without the lock.
	ErrNotAcquired = errors.New("lock not acquired within the wait")
	// ErrNotHeld: the lease is not (or no longer) held by this session.
	ErrNotHeld = errors.New("lock not held by this session")
)

// write applies ops and folds a refusal into the error.
func (s Session) write(ctx context.Context, ops ...fsm.Op) (*fsm.Result, error) {
	res, err := s.Store.Write(ctx, s.ID, ops)
	if err != nil {
		return nil, err
	}
	if err := res.Error(); err != nil {
		return nil, err
	}
	return res, nil
}
