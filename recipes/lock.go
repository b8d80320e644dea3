package recipes

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/warden-dev/warden/fsm"
)

// lockPrefix names a lock's contender nodes: PATH/lock-0000000042, the
// layout of Curator's InterProcessMutex. The line holds every ephemeral
// child whose name contains it, ordered by the ten digits after it (see
// inLine), so Curator's protected nodes (_c_<uuid>-lock-0000000042) and
// Warden's contend in one line.
const lockPrefix = "lock-"

// maxCreateAttempts bounds retries when the lock's container node vanishes
// between creating it and creating the contender under it.
const maxCreateAttempts = 8

// contenderTimeout bounds creating a contender node.
const contenderTimeout = 30 * time.Second

// Lease is a held lock. Token is its fencing token: the zxid that created
// the lease's node, so tokens strictly increase from one holder to the next.
type Lease struct {
	Path  string // the lock
	Key   string // the lease's node, PATH/lock-NNNNNNNNNN
	Token uint64
}

// Acquire takes the lock at path for session s, first come first served.
// wait < 0 waits until acquired or ctx ends; wait == 0 tries once; wait > 0
// waits at most that long. On any failure the contender node is removed, so
// a caller that gives up never blocks those behind it.
func (s Session) Acquire(ctx context.Context, path string, wait time.Duration) (*Lease, error) {
	if err := fsm.ValidatePath(path); err != nil {
		return nil, err
	}
	if path == "/" {
		return nil, &fsm.Error{Code: fsm.CodeBadArguments, Msg: "the root cannot be a lock"}
	}
	key, czxid, err := s.createContender(ctx, path, wait)
	if err != nil {
		return nil, err
	}
	err = s.waitInLine(ctx, path, key, wait,
		func() (string, error) { return predecessor(s.Store, path, key) }, ErrNotAcquired, ErrNotHeld)
	if err != nil {
		return nil, err
	}
	return &Lease{Path: path, Key: key, Token: czxid}, nil
}

// sitOutLockDelay waits out a lock-delay on path (left by a holder whose
// session expired) before the lock is granted. It reports whether it
// waited, in which case the caller looks at the line again.
func sitOutLockDelay(ctx context.Context, st Store, path string, try bool, deadline <-chan time.Time) (bool, error) {
	until := st.LockDelay(path)
	if until.IsZero() {
		return false, nil
	}
	d := time.Until(until)
	if d <= 0 {
		return false, nil
	}
	if try {
		return false, ErrNotAcquired
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true, nil
	case <-deadline:
		return false, ErrNotAcquired
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// createContender creates this session's ephemeral sequential node under
// path. When path (or an ancestor) is missing, the containers and the
// contender are created in one write, so a first acquire costs one commit.
//
// The create itself is not cut short when ctx ends: a create abandoned in
// flight could still be applied, leaving a contender nobody waits on that
// would block the lock until the session ends. Instead the create runs to
// completion and, if ctx has ended meanwhile, the node is removed again.
// Only when the cluster has no leader as ctx ends or wait (> 0) passes
// does the caller get its answer at once (see lineWrite).
func (s Session) createContender(ctx context.Context, path string, wait time.Duration) (string, uint64, error) {
	return s.joinLine(ctx, path, lockPrefix, nil, wait)
}

// joinLine creates this session's ephemeral sequential node prefix-N,
// holding data, in the line under path (with its missing containers, in
// one write) and returns its path and czxid. See createContender.
func (s Session) joinLine(ctx context.Context, path, prefix string, data []byte, wait time.Duration) (string, uint64, error) {
	node := fsm.Op{Kind: fsm.OpCreate, Path: path + "/" + prefix, Data: data, Ephemeral: true, Sequential: true}
	var waited <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		waited = t.C
	}
	for attempt := 0; ; attempt++ {
		ops, err := missingContainers(s.Store, path)
		if err != nil {
			return "", 0, err
		}
		ops = append(ops, node)
		res, gaveUp, err := s.lineWrite(ctx, ops, waited)
		if gaveUp {
			return "", 0, err
		}
		if err == nil {
			created := res.Ops[len(res.Ops)-1]
			if ctx.Err() != nil {
				s.abandon(created.Path)
				return "", 0, ctx.Err()
			}
			return created.Path, created.Stat.Czxid, nil
		}
		// Another client created or removed a container meanwhile: look
		// again.
		retry := errors.Is(err, fsm.ErrNoNode) || errors.Is(err, fsm.ErrNodeExists)
		if !retry || attempt == maxCreateAttempts {
			return "", 0, err
		}
	}
}

// lineWrite runs the write that creates a node in a line, which ctx does
// not cut short (see createContender). But when ctx ends or waited fires
// while the cluster has no leader (the Store says so: LeaderReporter), the
// caller would wait for the write's own timeout for nothing: lineWrite
// then returns a *NoLeaderError at once (gaveUp), and the write finishes
// on its own, its node removed again should it be created after all.
func (s Session) lineWrite(ctx context.Context, ops []fsm.Op, waited <-chan time.Time) (res *fsm.Result, gaveUp bool, err error) {
	lr, _ := s.Store.(LeaderReporter)
	type written struct {
		res *fsm.Result
		err error
	}
	done := make(chan written, 1)
	go func() {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), contenderTimeout)
		defer cancel()
		res, err := s.write(wctx, ops...)
		done <- written{res, err}
	}()
	ended := ctx.Done()
	for {
		select {
		case w := <-done:
			return w.res, false, w.err
		case <-ended:
			ended = nil
		case <-waited:
			waited = nil
		}
		if lr == nil {
			continue
		}
		if d := lr.NoLeaderFor(); d > 0 {
			go func() {
				if w := <-done; w.err == nil {
					s.abandon(w.res.Ops[len(w.res.Ops)-1].Path)
				}
			}()
			return nil, true, &NoLeaderError{For: d}
		}
	}
}

// missingContainers returns creates for path and for the ancestors this
// replica does not have, outermost first. Each is a create-if-missing:
// path itself is always included (a lock's container comes and goes with
// its last contender, and this replica's view of it may be behind the
// leader's), so only an ancestor removed meanwhile can fail the write.
func missingContainers(st Store, path string) ([]fsm.Op, error) {
	if path == "/" {
		return nil, nil
	}
	ops := []fsm.Op{{Kind: fsm.OpCreate, Path: path, Container: true, IfMissing: true}}
	for p := parentOf(path); p != "/"; p = parentOf(p) {
		_, ok, _, err := st.Exists(p, false)
		if err != nil {
			return nil, err
		}
		if ok {
			break
		}
		ops = append([]fsm.Op{{Kind: fsm.OpCreate, Path: p, Container: true, IfMissing: true}}, ops...)
	}
	return ops, nil
}

// predecessor returns the contender just ahead of key, or "" when key is
// first. It fails with ErrNotHeld when key itself is gone (its session
// ended).
func predecessor(st Store, path, key string) (string, error) {
	return ahead(st, path, key, lockPrefix, ErrNotHeld)
}

// ahead returns the node just ahead of key among the prefix- nodes under
// path, or "" when key is first; gone when key itself is not there.
func ahead(st Store, path, key, prefix string, gone error) (string, error) {
	kids, _, _, err := st.Children(path, false)
	if errors.Is(err, fsm.ErrNoNode) {
		return "", gone
	}
	if err != nil {
		return "", err
	}
	line, err := inLine(st, path, kids, prefix)
	if err != nil {
		return "", err
	}
	name := key[len(path)+1:]
	prev := ""
	for _, k := range line {
		if k == name {
			if prev == "" {
				return "", nil
			}
			return path + "/" + prev, nil
		}
		prev = k
	}
	return "", gone
}

// abandon removes a contender node with a fresh context: the caller's may
// already be done.
func (s Session) abandon(key string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = s.Store.Write(ctx, s.ID, []fsm.Op{{Kind: fsm.OpDelete, Path: key, Version: fsm.AnyVersion}})
}

// Release gives up a lease held by session s. The next contender is
// granted the lock as soon as the delete is applied.
func (s Session) Release(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	stat, ok, _, err := s.Store.Exists(key, false)
	if err != nil {
		return err
	}
	if !ok || stat.EphemeralOwner != s.ID {
		return ErrNotHeld
	}
	_, err = s.write(ctx, fsm.Op{Kind: fsm.OpDelete, Path: key, Version: fsm.AnyVersion})
	if errors.Is(err, fsm.ErrNoNode) {
		return ErrNotHeld
	}
	return err
}

// Check reports whether token belongs to a current holder of the lock at
// path: a resource guarded by the lock accepts a request only if it does.
// The first contender holds; when it is a reader, so does every reader up
// to the first writer.
func Check(st Store, path string, token uint64) (bool, error) {
	if err := fsm.ValidatePath(path); err != nil {
		return false, err
	}
	kids, _, _, err := st.Children(path, false)
	if errors.Is(err, fsm.ErrNoNode) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	line, err := inLine(st, path, kids, lockPrefix)
	if err != nil {
		return false, err
	}
	first := true
	for _, k := range line {
		data, stat, _, err := st.Get(path+"/"+k, false)
		if errors.Is(err, fsm.ErrNoNode) {
			continue // released meanwhile
		}
		if err != nil {
			return false, err
		}
		if stat.EphemeralOwner == 0 {
			continue // not a contender (see inLine)
		}
		reader := isReader(data)
		if !first && !reader {
			return false, nil // a writer waits here: nobody after it holds
		}
		if stat.Czxid == token {
			return true, nil
		}
		if !reader {
			return false, nil // a writer holds alone
		}
		first = false
	}
	return false, nil
}

func checkKey(key string) error {
	if err := fsm.ValidatePath(key); err != nil {
		return err
	}
	if i := strings.LastIndexByte(key, '/'); !strings.HasPrefix(key[i+1:], lockPrefix) {
		return &fsm.Error{Code: fsm.CodeBadArguments, Msg: "not a lock lease key: " + key}
	}
	return nil
}
