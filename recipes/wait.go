package recipes

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/warden-dev/warden/fsm"
)

// Helpers shared by the read-write lock, semaphore, barrier, queue and
// counter recipes: their own wording of the package's sentinel errors, a
// wait as a deadline, and creating a node together with its missing
// containers.

// recipeError is a recipe's own wording of one of the package's sentinel
// errors (or the fsm's), which it unwraps to: errors.Is still matches the
// sentinel, so the local API maps it to the sentinel's code.
type recipeError struct {
	msg string
	err error
}

func (e *recipeError) Error() string { return e.msg }
func (e *recipeError) Unwrap() error { return e.err }

// badArgs is a bad_arguments refusal with a message.
func badArgs(msg string) error {
	return &fsm.Error{Code: fsm.CodeBadArguments, Msg: msg}
}

// deadline is a recipe's wait: wait < 0 waits until ctx ends, wait == 0
// tries once, wait > 0 waits at most that long.
type deadline struct {
	wait  time.Duration
	at    time.Time
	timer *time.Timer
}

func newDeadline(wait time.Duration) *deadline {
	d := &deadline{wait: wait}
	if wait > 0 {
		d.at = time.Now().Add(wait)
		d.timer = time.NewTimer(wait)
	}
	return d
}

// C fires when the wait is over; it is nil (never fires) when there is no
// limit, and for a try, which never waits.
func (d *deadline) C() <-chan time.Time {
	if d.timer == nil {
		return nil
	}
	return d.timer.C
}

// try reports whether the caller asked not to wait at all.
func (d *deadline) try() bool { return d.wait == 0 }

// left is the wait to hand to a nested recipe (recipes.Acquire): what is
// left of this one, 0 (a try) once it has passed.
func (d *deadline) left() time.Duration {
	if d.wait <= 0 {
		return d.wait
	}
	return max(time.Until(d.at), 0)
}

func (d *deadline) stop() {
	if d.timer != nil {
		d.timer.Stop()
	}
}

// block waits for w to fire, the deadline to pass or ctx to end. It
// returns nil when w fired, and otherwise stops w and returns expired or
// ctx's error.
func (d *deadline) block(ctx context.Context, st Store, w *fsm.Watch, expired error) error {
	select {
	case <-w.C():
		return nil
	case <-d.C():
		st.StopWatch(w)
		return expired
	case <-ctx.Done():
		st.StopWatch(w)
		return ctx.Err()
	}
}

// createWithContainers creates op's node, and in the same write parent and
// those of its ancestors this replica does not have, as containers (so
// they go away by themselves once empty). It retries when a container
// appears or vanishes meanwhile; a refusal of op itself (node_exists, say)
// is returned at once.
//
// The write is not cut short when ctx ends: a create abandoned in flight
// could still be applied, with nobody told. It runs to completion, and the
// caller decides what to do with a node created for a caller that has gone.
func (s Session) createWithContainers(ctx context.Context, parent string, op fsm.Op) (fsm.OpResult, error) {
	for attempt := 0; ; attempt++ {
		ops, err := missingContainers(s.Store, parent)
		if err != nil {
			return fsm.OpResult{}, err
		}
		ops = append(ops, op)
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), contenderTimeout)
		res, err := s.Store.Write(wctx, s.ID, ops)
		cancel()
		switch {
		case err != nil:
			return fsm.OpResult{}, err
		case res.Err == nil:
			return res.Ops[len(res.Ops)-1], nil
		}
		// Retry when a container came (node_exists on a container's
		// create) or went (no_node) since missingContainers looked.
		containerCame := errors.Is(res.Err, fsm.ErrNodeExists) && res.Failed < len(ops)-1
		if (!containerCame && !errors.Is(res.Err, fsm.ErrNoNode)) || attempt == maxCreateAttempts {
			return fsm.OpResult{}, res.Err
		}
	}
}

// writeDetached applies ops to completion even if ctx ends meanwhile, so
// that the caller knows the outcome (see createWithContainers).
func (s Session) writeDetached(ctx context.Context, ops ...fsm.Op) (*fsm.Result, error) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), contenderTimeout)
	defer cancel()
	return s.write(wctx, ops...)
}

// checkRecipePath refuses an invalid path and the root, which no recipe
// may own.
func checkRecipePath(path, what string) error {
	if err := fsm.ValidatePath(path); err != nil {
		return err
	}
	if path == "/" {
		return badArgs("the root cannot be " + what)
	}
	return nil
}

// parentOf returns the parent of a valid path other than the root.
func parentOf(path string) string {
	return fsm.Parent(path)
}

// baseName returns the last segment of a valid path.
func baseName(path string) string {
	return path[strings.LastIndexByte(path, '/')+1:]
}

// inLine returns the places in a line at path, in order: the children
// among kids whose names contain infix ("lock-", "latch-", "lease-") and
// that are ephemeral nodes. The order is that of the text after the last
// infix, the node's sequence number, so Curator's contenders, whose
// protected names put a prefix before the infix
// (_c_<uuid>-lock-0000000042), take their places among Warden's
// (lock-0000000041, lock-0000000043) by order of arrival, as Curator's own
// recipes sort them (docs/zookeeper.md, "Mixed fleets"). A persistent
// node with such a name (a squat: nobody's session holds it, so it would
// never go) is no one's place and is ignored, as are other children.
func inLine(st Store, path string, kids []string, infix string) ([]string, error) {
	var out []string
	for _, k := range kids {
		if !strings.Contains(k, infix) {
			continue
		}
		stat, ok, _, err := st.Exists(path+"/"+k, false)
		if err != nil {
			return nil, err
		}
		if ok && stat.EphemeralOwner != 0 {
			out = append(out, k)
		}
	}
	sortLine(out, infix)
	return out, nil
}

// sortLine orders the names of a line's nodes by sequence: the text after
// the last infix (ten digits for every node a sequential create made),
// then by the whole name.
func sortLine(names []string, infix string) {
	slices.SortFunc(names, func(a, b string) int { return compareLine(a, b, infix) })
}

// lineBefore reports whether a comes before b in a line (see sortLine).
func lineBefore(a, b, infix string) bool { return compareLine(a, b, infix) < 0 }

func compareLine(a, b, infix string) int {
	if c := strings.Compare(lineSeq(a, infix), lineSeq(b, infix)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

// lineSeq returns the text after the last infix in name: its sequence
// number when name is a line's node.
func lineSeq(name, infix string) string {
	if i := strings.LastIndex(name, infix); i >= 0 {
		return name[i+len(infix):]
	}
	return name
}

// withPrefix returns the names in kids that start with prefix, in order.
func withPrefix(kids []string, prefix string) []string {
	var out []string
	for _, k := range kids {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	return out
}

// IsContenderName reports whether name, the last element of a path, is
// one the lock, read-write lock, semaphore and election recipes give their
// contender nodes: a prefix and ten digits, or for a sequential create the
// bare prefix, to which the tree adds the digits.
func IsContenderName(name string, sequential bool) bool {
	for _, p := range []string{lockPrefix, candidatePrefix, leasePrefix} {
		rest, ok := strings.CutPrefix(name, p)
		if !ok {
			continue
		}
		if sequential {
			return rest == ""
		}
		if len(rest) != 10 {
			return false
		}
		for _, r := range rest {
			if r < '0' || r > '9' {
				return false
			}
		}
		return true
	}
	return false
}
