package recipes

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/warden-dev/warden/fsm"
)

// Barriers, as in Curator.
//
// A barrier is a node: SetBarrier creates it, RemoveBarrier deletes it,
// and WaitBarrier returns once it is gone. Every waiter watches the one
// node, since all of them are released together.
//
// A double barrier at PATH holds back a group of members until N have
// entered, and then again until every one has left:
//
//	PATH           container
//	PATH/MEMBER    one ephemeral node per member that entered
//	PATH/ready     created (or touched) by the member that sees N entered
//
// Enter creates PATH/MEMBER and looks at the members: if there are N, it
// creates PATH/ready; otherwise it waits, watching only PATH/ready. The
// N-th member to enter sees all the others (its replica has applied every
// write before its own), so somebody always creates the ready node, and
// no waiter is woken by each arrival. A member that arrives after the
// group was released finds PATH/ready and passes at once (Curator's "late
// arrival").
//
// A ready node is current only if it was created or last touched after
// the oldest member present entered (its mzxid is above that member's
// czxid). One older than every member is left over from a round whose
// members all died, and does not count: the N-th member of the new round
// touches it (a set, which fires the watches), releasing the round.
//
// Leave is Curator's herd-free leave: members are ordered by name; the
// first (lowest) member waits for the last (highest) to go, every other
// member deletes its node and waits for the lowest to go. So the lowest is
// the last to leave, and it deletes its node and the ready node in one
// write; everybody else is woken once, by that. A ready node whose
// members all died stays until the next round at PATH ends (it cannot be
// deleted safely by anyone else: a new round may be reusing it).

// readyName is the double barrier's ready node, under PATH.
const readyName = "ready"

var (
	errBarrierSet = &recipeError{"the barrier is still set after the wait", ErrNotAcquired}
	errNotEntered = &recipeError{"fewer members than the count entered within the wait", ErrNotAcquired}
	errNotLeft    = &recipeError{"members were still in the barrier after the wait", ErrNotAcquired}
	errNotMember  = &recipeError{"this session is not a member of the barrier", ErrNotHeld}
)

// SetBarrier sets the barrier at path: it creates the node, and missing
// ancestors as containers. Setting a barrier that is set is not an error.
func (s Session) SetBarrier(ctx context.Context, path string) error {
	if err := checkRecipePath(path, "a barrier"); err != nil {
		return err
	}
	_, err := s.createWithContainers(ctx, parentOf(path), fsm.Op{Kind: fsm.OpCreate, Path: path})
	if errors.Is(err, fsm.ErrNodeExists) {
		return nil
	}
	return err
}

// RemoveBarrier removes the barrier at path, releasing its waiters.
// Removing a barrier that is not set is not an error.
func (s Session) RemoveBarrier(ctx context.Context, path string) error {
	if err := checkRecipePath(path, "a barrier"); err != nil {
		return err
	}
	_, err := s.write(ctx, fsm.Op{Kind: fsm.OpDelete, Path: path, Version: fsm.AnyVersion})
	if errors.Is(err, fsm.ErrNoNode) {
		return nil
	}
	return err
}

// WaitBarrier returns once the barrier at path is not set (at once if it
// is not). wait is as for Acquire.
func WaitBarrier(ctx context.Context, st Store, path string, wait time.Duration) error {
	if err := checkRecipePath(path, "a barrier"); err != nil {
		return err
	}
	dl := newDeadline(wait)
	defer dl.stop()
	for {
		_, set, w, err := st.Exists(path, true)
		if err != nil {
			return err
		}
		if !set {
			st.StopWatch(w)
			return nil
		}
		if dl.try() {
			st.StopWatch(w)
			return errBarrierSet
		}
		if err := dl.block(ctx, st, w, errBarrierSet); err != nil {
			return err
		}
	}
}

// checkMember refuses a double barrier's path, count or member name that
// cannot be used, and returns the member's node.
func checkMember(path, member string) (string, error) {
	if err := checkRecipePath(path, "a barrier"); err != nil {
		return "", err
	}
	if member == "" || strings.ContainsRune(member, '/') || member == readyName {
		return "", badArgs(`a barrier member must be a non-empty name without "/", other than "ready"`)
	}
	key := path + "/" + member
	if err := fsm.ValidatePath(key); err != nil {
		return "", err
	}
	return key, nil
}

// EnterBarrier enters session s into the double barrier at path as
// member, and returns once count members have entered. wait is as for
// Acquire; when it runs out, or ctx ends, the member's node is removed
// again. A session may enter again under a name it already holds (after a
// timeout, say); a name held by another session is refused with
// node_exists.
func (s Session) EnterBarrier(ctx context.Context, path string, count int64, member string, wait time.Duration) error {
	key, err := checkMember(path, member)
	if err != nil {
		return err
	}
	if count < 1 {
		return badArgs("a double barrier's count must be at least 1")
	}
	_, err = s.createWithContainers(ctx, path, fsm.Op{Kind: fsm.OpCreate, Path: key, Ephemeral: true})
	if errors.Is(err, fsm.ErrNodeExists) {
		stat, ok, _, serr := s.Store.Exists(key, false)
		if serr != nil {
			return serr
		}
		if !ok || stat.EphemeralOwner != s.ID {
			return err // the name is another session's
		}
		err = nil
	}
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		s.dropMember(key)
		return ctx.Err()
	}
	dl := newDeadline(wait)
	defer dl.stop()
	ready := path + "/" + readyName
	for {
		members, rstat, rok, err := barrierState(s.Store, path, member)
		if err != nil {
			s.dropMember(key)
			return err
		}
		if members == nil {
			return errNotMember
		}
		if rok && rstat.Mzxid > oldest(s.Store, path, members) {
			return nil
		}
		if int64(len(members)) >= count {
			var op fsm.Op
			if rok {
				op = fsm.Op{Kind: fsm.OpSet, Path: ready, Version: rstat.Version} // a stale ready node: touch it
			} else {
				op = fsm.Op{Kind: fsm.OpCreate, Path: ready}
			}
			_, err := s.writeDetached(ctx, op)
			switch {
			case err == nil:
				return nil
			case errors.Is(err, fsm.ErrNodeExists), errors.Is(err, fsm.ErrBadVersion), errors.Is(err, fsm.ErrNoNode):
				continue // somebody else released the round or cleaned up: look again
			}
			s.dropMember(key)
			return err
		}
		if dl.try() {
			s.dropMember(key)
			return errNotEntered
		}
		now, ok, w, err := s.Store.Exists(ready, true)
		if err != nil {
			s.dropMember(key)
			return err
		}
		if ok != rok || now.Mzxid != rstat.Mzxid {
			s.Store.StopWatch(w) // changed since the listing
			continue
		}
		if err := dl.block(ctx, s.Store, w, errNotEntered); err != nil {
			s.dropMember(key)
			return err
		}
	}
}

// barrierState lists the members of the double barrier at path and the
// ready node's Stat. members is nil when member itself is not among them.
func barrierState(st Store, path, member string) (members []string, ready fsm.Stat, readyOK bool, err error) {
	kids, _, _, err := st.Children(path, false)
	if errors.Is(err, fsm.ErrNoNode) {
		return nil, fsm.Stat{}, false, nil
	}
	if err != nil {
		return nil, fsm.Stat{}, false, err
	}
	found := false
	for _, k := range kids {
		if k == readyName {
			readyOK = true
			continue
		}
		members = append(members, k)
		found = found || k == member
	}
	if readyOK {
		if ready, readyOK, _, err = st.Exists(path+"/"+readyName, false); err != nil {
			return nil, fsm.Stat{}, false, err
		}
	}
	if !found {
		members = nil
	}
	return members, ready, readyOK, nil
}

// oldest returns the smallest czxid among the members still present.
func oldest(st Store, path string, members []string) uint64 {
	low := ^uint64(0)
	for _, m := range members {
		if stat, ok, _, err := st.Exists(path+"/"+m, false); err == nil && ok && stat.Czxid < low {
			low = stat.Czxid
		}
	}
	return low
}

// LeaveBarrier leaves the double barrier at path as member, for session
// s, and returns once every member has left. wait is as for Acquire;
// when it runs out, or ctx ends, the member's node is deleted all the
// same (leaving is what was asked), and only the wait is cut short.
func (s Session) LeaveBarrier(ctx context.Context, path, member string, wait time.Duration) error {
	key, err := checkMember(path, member)
	if err != nil {
		return err
	}
	dl := newDeadline(wait)
	defer dl.stop()
	left := false // this member's node has been deleted
	for {
		kids, _, _, err := s.Store.Children(path, false)
		if errors.Is(err, fsm.ErrNoNode) {
			if !left {
				return errNotMember
			}
			return nil
		}
		if err != nil {
			return err
		}
		var members []string
		hasReady := false
		for _, k := range kids {
			if k == readyName {
				hasReady = true
			} else {
				members = append(members, k)
			}
		}
		me := -1
		for i, m := range members {
			if m == member {
				me = i
			}
		}
		if me >= 0 {
			if stat, ok, _, err := s.Store.Exists(key, false); err != nil {
				return err
			} else if !ok || stat.EphemeralOwner != s.ID {
				return errNotMember
			}
		}
		if me < 0 && !left {
			return errNotMember
		}
		if len(members) == 0 {
			return nil
		}
		var watch string
		switch {
		case me == 0 && len(members) == 1:
			// The last member: go, with the ready node.
			ops := []fsm.Op{{Kind: fsm.OpDelete, Path: key, Version: fsm.AnyVersion}}
			if hasReady {
				ops = append(ops, fsm.Op{Kind: fsm.OpDelete, Path: path + "/" + readyName, Version: fsm.AnyVersion})
			}
			_, err := s.writeDetached(ctx, ops...)
			if err == nil {
				return nil
			}
			if !errors.Is(err, fsm.ErrNoNode) {
				return err
			}
			continue // the ready node went meanwhile: look again
		case me == 0:
			watch = members[len(members)-1]
		default:
			if me > 0 {
				if _, err := s.writeDetached(ctx, fsm.Op{Kind: fsm.OpDelete, Path: key, Version: fsm.AnyVersion}); err != nil && !errors.Is(err, fsm.ErrNoNode) {
					return err
				}
				left = true
			}
			watch = members[0]
		}
		if dl.try() {
			s.dropMember(key)
			return errNotLeft
		}
		_, ok, w, err := s.Store.Exists(path+"/"+watch, true)
		if err != nil {
			s.dropMember(key)
			return err
		}
		if !ok {
			s.Store.StopWatch(w)
			continue
		}
		if err := dl.block(ctx, s.Store, w, errNotLeft); err != nil {
			s.dropMember(key)
			return err
		}
	}
}

// dropMember deletes key if it is still session s's member node, with
// a fresh context: the caller's may be done. A member name is not unique
// over time, so a node of the same name that another session created
// since is left alone.
func (s Session) dropMember(key string) {
	stat, ok, _, err := s.Store.Exists(key, false)
	if err != nil || !ok || stat.EphemeralOwner != s.ID {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = s.Store.Write(ctx, s.ID, []fsm.Op{{Kind: fsm.OpDelete, Path: key, Version: stat.Version}})
}
