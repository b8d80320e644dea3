package warden

import (
	"context"

	"github.com/warden-dev/warden/localapi/wire"
)

// ReadLock acquires the lock at path for reading: it is held alongside
// other readers but never alongside a writer. Readers and writers wait in
// one line, first come first served, so a reader that comes after a
// waiting writer waits behind it and a writer is never starved. A deadline
// on ctx is passed to the agent as the wait; the call then fails with
// ErrTimeout. Release the lease with Unlock.
//
// The lease's Token is its node's creation zxid: above the token of the
// writer before it and below that of the writer after it. Lease.Check and
// CheckToken answer true for a read lease only while it is the oldest
// contender of the lock.
func (c *Client) ReadLock(ctx context.Context, path string) (*Lease, error) {
	return c.rwLock(ctx, wire.OpReadLock, path, agentWait(ctx))
}

// TryReadLock acquires the lock at path for reading only if no writer
// holds it or waits for it now; otherwise it fails with ErrTimeout.
func (c *Client) TryReadLock(ctx context.Context, path string) (*Lease, error) {
	return c.rwLock(ctx, wire.OpReadLock, path, tryOnce())
}

// WriteLock acquires the lock at path for writing: it is held by nobody
// else, reader or writer. A write lock is the same as Lock: the two
// exclude each other on the same path.
func (c *Client) WriteLock(ctx context.Context, path string) (*Lease, error) {
	return c.rwLock(ctx, wire.OpWriteLock, path, agentWait(ctx))
}

// TryWriteLock acquires the lock at path for writing only if nobody holds
// it or waits for it now; otherwise it fails with ErrTimeout.
func (c *Client) TryWriteLock(ctx context.Context, path string) (*Lease, error) {
	return c.rwLock(ctx, wire.OpWriteLock, path, tryOnce())
}

func (c *Client) rwLock(ctx context.Context, op, path string, wait *int64) (*Lease, error) {
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
		_ = lease.Unlock(uctx)
		return nil, err
	}
	return lease, nil
}
