package recipes

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/warden-dev/warden/fsm"
)

// A semaphore at PATH grants at most N leases at a time (Curator's
// InterProcessSemaphoreV2):
//
//	PATH                      container; its data is N, as decimal text
//	PATH/_lock/lock-NNNNNNNNNN  the line of acquirers: a lock (Acquire)
//	PATH/leases/lease-NNNNNNNNNN  the leases held, ephemeral
//
// An acquirer first takes the internal lock PATH/_lock, waiting in line
// behind the other acquirers (each watching only the one ahead of it). The
// holder of that lock is the only one that looks at the leases: while
// there are N it watches PATH/leases for a child to go, and once there are
// fewer it creates its lease and lets the internal lock go. So there is no
// herd, acquirers are served first come first served, and since the lease
// is created in one write with a check that the creator still holds the
// internal lock, a creator cut off from its session can never add a lease
// behind the next holder's back.
//
// Every acquirer must name the same N. The first to hold the internal lock
// writes N into PATH's data; a later acquire naming another N is refused
// with bad_arguments while the semaphore is in use. Once nobody holds or
// waits, the containers go and N is forgotten.
//
// A lease freed by an expired session (rather than a release or a clean
// close) is handed on only after the lock-delay, as for a lock.

const (
	semLock     = "_lock"
	semLeases   = "leases"
	leasePrefix = "lease-"
	// MaxSemaphoreLeases bounds N.
	MaxSemaphoreLeases = 1 << 20
)

var (
	errNoLease       = &recipeError{"no semaphore lease within the wait", ErrNotAcquired}
	errNotLease      = &recipeError{"semaphore lease not held by this session", ErrNotHeld}
	errLostSemaphore = &recipeError{"lost the semaphore's internal lock while acquiring", ErrNotHeld}
)

// AcquireSemaphore takes one of the n leases of the semaphore at path for
// session s. wait is as for Acquire; it covers both the wait in line and
// the wait for a free lease. Token is the czxid of the lease's node.
func (s Session) AcquireSemaphore(ctx context.Context, path string, n int64, wait time.Duration) (*Lease, error) {
	if err := checkRecipePath(path, "a semaphore"); err != nil {
		return nil, err
	}
	if n < 1 || n > MaxSemaphoreLeases {
		return nil, badArgs("a semaphore's count must be between 1 and " + strconv.Itoa(MaxSemaphoreLeases))
	}
	dl := newDeadline(wait)
	defer dl.stop()
	line, err := s.Acquire(ctx, path+"/"+semLock, dl.left())
	if errors.Is(err, ErrNotAcquired) {
		return nil, errNoLease
	}
	if err != nil {
		return nil, err
	}
	defer s.abandon(line.Key) // let the next acquirer in, whatever happens
	if err := s.semaphoreCount(ctx, path, n, line.Key); err != nil {
		return nil, err
	}
	leases := path + "/" + semLeases
	for {
		kids, _, w, err := s.Store.Children(leases, true)
		switch {
		case errors.Is(err, fsm.ErrNoNode):
			kids, w = nil, nil
		case err != nil:
			return nil, err
		}
		holders, err := inLine(s.Store, leases, kids, leasePrefix)
		if err != nil {
			s.Store.StopWatch(w)
			return nil, err
		}
		if int64(len(holders)) < n {
			s.Store.StopWatch(w)
			held, err := sitOutLockDelay(ctx, s.Store, leases, dl.try(), dl.C())
			if errors.Is(err, ErrNotAcquired) {
				return nil, errNoLease
			}
			if err != nil {
				return nil, err
			}
			if held {
				continue
			}
			lease, err := s.createLease(ctx, path, line.Key)
			if errors.Is(err, fsm.ErrNoNode) || errors.Is(err, fsm.ErrNodeExists) {
				continue // the leases' container came or went: look again
			}
			return lease, err
		}
		if dl.try() {
			s.Store.StopWatch(w)
			return nil, errNoLease
		}
		if err := dl.block(ctx, s.Store, w, errNoLease); err != nil {
			return nil, err
		}
	}
}

// semaphoreCount checks that the semaphore at path has n leases, recording
// n on first use. lineKey is the caller's node in the internal lock, which
// it holds.
func (s Session) semaphoreCount(ctx context.Context, path string, n int64, lineKey string) error {
	for attempt := 0; ; attempt++ {
		data, stat, _, err := s.Store.Get(path, false)
		if err != nil {
			return err
		}
		if len(data) > 0 {
			have, err := strconv.ParseInt(string(data), 10, 64)
			switch {
			case err != nil:
				return badArgs("the data of " + path + " is not a semaphore's count")
			case have != n:
				return badArgs("the semaphore " + path + " has " + strconv.FormatInt(have, 10) +
					" leases; this acquire asked for " + strconv.FormatInt(n, 10))
			}
			return nil
		}
		res, err := s.Store.Write(ctx, s.ID, []fsm.Op{
			{Kind: fsm.OpCheck, Path: lineKey, Version: fsm.AnyVersion},
			{Kind: fsm.OpSet, Path: path, Data: []byte(strconv.FormatInt(n, 10)), Version: stat.Version},
		})
		switch {
		case err != nil:
			return err
		case res.Err == nil:
			return nil
		case res.Failed == 0:
			return errLostSemaphore
		case errors.Is(res.Err, fsm.ErrBadVersion) && attempt < maxCreateAttempts:
			continue
		}
		return res.Err
	}
}

// createLease creates the caller's lease, in one write with a check that
// it still holds the internal lock (lineKey). Like a lock's contender, the
// lease is created even if ctx ends meanwhile, and then removed again.
func (s Session) createLease(ctx context.Context, path, lineKey string) (*Lease, error) {
	leases := path + "/" + semLeases
	ops := []fsm.Op{{Kind: fsm.OpCheck, Path: lineKey, Version: fsm.AnyVersion}}
	if _, ok, _, err := s.Store.Exists(leases, false); err != nil {
		return nil, err
	} else if !ok {
		ops = append(ops, fsm.Op{Kind: fsm.OpCreate, Path: leases, Container: true})
	}
	ops = append(ops, fsm.Op{Kind: fsm.OpCreate, Path: leases + "/" + leasePrefix, Ephemeral: true, Sequential: true})
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), contenderTimeout)
	res, err := s.Store.Write(wctx, s.ID, ops)
	cancel()
	switch {
	case err != nil:
		return nil, err
	case res.Err != nil && res.Failed == 0:
		return nil, errLostSemaphore
	case res.Err != nil:
		return nil, res.Err
	}
	created := res.Ops[len(res.Ops)-1]
	if ctx.Err() != nil {
		s.abandon(created.Path)
		return nil, ctx.Err()
	}
	return &Lease{Path: path, Key: created.Path, Token: created.Stat.Czxid}, nil
}

// ReleaseSemaphore gives up a semaphore lease held by session s. The
// acquirer waiting for a free lease is granted one as soon as the delete
// is applied.
func (s Session) ReleaseSemaphore(ctx context.Context, key string) error {
	if err := fsm.ValidatePath(key); err != nil {
		return err
	}
	if !strings.HasPrefix(baseName(key), leasePrefix) || baseName(parentOf(key)) != semLeases {
		return badArgs("not a semaphore lease key: " + key)
	}
	stat, ok, _, err := s.Store.Exists(key, false)
	if err != nil {
		return err
	}
	if !ok || stat.EphemeralOwner != s.ID {
		return errNotLease
	}
	_, err = s.write(ctx, fsm.Op{Kind: fsm.OpDelete, Path: key, Version: fsm.AnyVersion})
	if errors.Is(err, fsm.ErrNoNode) {
		return errNotLease
	}
	return err
}
