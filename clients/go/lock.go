package warden

import (
	"context"
	"time"

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
	wait := int64(-1)
	if d, ok := ctx.Deadline(); ok {
		wait = max(time.Until(d).Milliseconds(), 0)
	}
	return c.lock(ctx, path, wait)
}

// TryLock acquires the lock at path only if it is free now; otherwise it
// fails with ErrTimeout.
func (c *Client) TryLock(ctx context.Context, path string) (*Lease, error) {
	return c.lock(ctx, path, 0)
}

func (c *Client) lock(ctx context.Context, path string, waitMs int64) (*Lease, error) {
	m, err := c.roundTrip(ctx, &wire.Request{Op: wire.OpLock, Path: path, WaitMs: &waitMs}, true, false)
	if m == nil {
		return nil, err
	}
	var r wire.LockResult
	if derr := decodeReply(m, &r); derr != nil {
		if err != nil {
			return nil, err // the context ended; the agent's canceled reply says the same
		}
		return nil, derr
	}
	lease := &Lease{c: c, Path: path, Key: r.Key, Token: r.Token}
	if err != nil {
		// Granted just as the caller gave up: hand it straight on.
		uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = lease.Unlock(uctx)
		return nil, err
	}
	return lease, nil
}

// Unlock releases the lease; the next waiter is granted the lock at once.
func (l *Lease) Unlock(ctx context.Context) error {
	return l.c.call(ctx, &wire.Request{Op: wire.OpUnlock, Key: l.Key}, nil)
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

// Unlock releases a lease by its key: for a session resumed after a
// reconnect, whose Lease values died with the old connection.
func (c *Client) Unlock(ctx context.Context, key string) error {
	return c.call(ctx, &wire.Request{Op: wire.OpUnlock, Key: key}, nil)
}
