package warden

import (
	"context"
	"errors"

	"github.com/warden-dev/warden/localapi/wire"
)

// Lease is a held lock.
type Lease struct {
	c *Client
	// Path is the lock's path.
	Path string
	// Key is the lease's own node under Path.
	Key string
	// Token is the fencing token: it strictly increases from one holder of
	// the lock to the next. Pass it to the resource the lock guards, which
	// should refuse any token lower than the highest it has seen.
	Token uint64
}

// Lock acquires the lock at path, waiting in line (first come, first
// served) until it is granted or ctx ends. A deadline on ctx is passed to
// the agent as the wait; the call then fails with ErrTimeout.
func (c *Client) Lock(ctx context.Context, path string) (*Lease, error) {
	return c.lock(ctx, wire.OpLock, path, agentWait(ctx))
}

// TryLock acquires the lock at path only if it is free now. When it is
// not, TryLock returns nil and no error.
func (c *Client) TryLock(ctx context.Context, path string) (*Lease, error) {
	return tried(c.lock(ctx, wire.OpLock, path, tryOnce()))
}

// tried turns the ErrTimeout of a try that found the thing taken into no
// result and no error.
func tried[T any](v *T, err error) (*T, error) {
	if errors.Is(err, ErrTimeout) {
		return nil, nil
	}
	return v, err
}

// lock sends a lock, read_lock or write_lock and returns the lease.
func (c *Client) lock(ctx context.Context, op, path string, wait *int64) (*Lease, error) {
	var r wire.LeaseResult
	late, err := c.grant(ctx, &wire.Request{Op: op, Path: path, WaitMs: wait}, &r)
	if err != nil && !late {
		return nil, err
	}
	lease := &Lease{c: c, Path: path, Key: r.Key, Token: r.Token}
	if late {
		// Granted just as the caller gave up: hand it straight on.
		uctx, cancel := undoCtx()
		defer cancel()
		_ = c.release(uctx, &wire.Request{Op: wire.OpUnlock, Key: lease.Key}, lease.Key, true)
		return nil, err
	}
	return lease, nil
}

// Unlock releases the lease; the next waiter is granted the lock at once.
func (l *Lease) Unlock(ctx context.Context) error {
	return l.c.Unlock(ctx, l.Key)
}

// Check reports whether the lease still holds its lock.
func (l *Lease) Check(ctx context.Context) (bool, error) {
	return l.c.CheckToken(ctx, l.Path, l.Token)
}

// CheckToken reports whether token is the fencing token of the current
// holder of the lock at path.
func (c *Client) CheckToken(ctx context.Context, path string, token uint64) (bool, error) {
	var r wire.LockCheckResult
	err := c.call(ctx, &wire.Request{Op: wire.OpLockCheck, Path: path, Token: token}, &r)
	return r.Held, err
}

// Unlock releases a lease (a lock, read or write lock) by its key: for a
// session resumed in another process, whose Lease values died with the
// old one.
func (c *Client) Unlock(ctx context.Context, key string) error {
	return c.release(ctx, &wire.Request{Op: wire.OpUnlock, Key: key}, key, false)
}
