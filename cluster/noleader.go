package cluster

import (
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// NoLeaderError is ErrUnavailable with how long this agent has known of
// no leader: what a write that waited for one until its deadline fails
// with. errors.Is(err, ErrUnavailable) holds.
type NoLeaderError struct {
	// For is how long this agent has had no leader.
	For time.Duration
}

func (e *NoLeaderError) Error() string {
	return fmt.Sprintf("%v for %v", ErrUnavailable, roundFor(e.For))
}

// Is makes a NoLeaderError match ErrUnavailable.
func (e *NoLeaderError) Is(target error) bool { return target == ErrUnavailable }

// roundFor rounds a duration for people: whole seconds from 10 s, tenths
// below.
func roundFor(d time.Duration) time.Duration {
	if d >= 10*time.Second {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}

// NoLeaderFor reports how long this agent has known of no leader: 0 while
// it knows one (itself included). The time is when it last lost its
// leader (or started, if it never had one), as Raft's leader observations
// tell it; NoLeaderFor double-checks with Raft, so an observation missed
// cannot make it claim a leader Raft does not know.
func (n *Node) NoLeaderFor() time.Duration {
	if addr, _ := n.raft.LeaderWithID(); addr != "" {
		return 0
	}
	now := time.Now().UnixNano()
	n.noLeaderSince.CompareAndSwap(0, now)
	return time.Duration(now - n.noLeaderSince.Load())
}

// noLeader is the error of a write that found no leader until its
// deadline, or nil while there is a leader.
func (n *Node) noLeader() error {
	if d := n.NoLeaderFor(); d > 0 {
		return &NoLeaderError{For: d}
	}
	return nil
}

// observeLeader is a Raft observer's filter: it counts the leader
// observations that name a leader (see Stats), notes when the leader was
// lost, and lets none through (the observer has no channel). Raft calls
// it on its own goroutine.
func (n *Node) observeLeader(o *raft.Observation) bool {
	lo, ok := o.Data.(raft.LeaderObservation)
	switch {
	case !ok:
	case lo.LeaderID != "":
		n.leaderChanges.Add(1)
		n.noLeaderSince.Store(0)
	default:
		n.noLeaderSince.CompareAndSwap(0, time.Now().UnixNano())
	}
	return false
}
