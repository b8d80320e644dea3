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
	return c.lock(ctx, wire.OpReadLock, path, agentWait(ctx))
}

// TryReadLock acquires the lock at path for reading only if no writer
// holds it or waits for it now. Otherwise it returns nil and no error.
func (c *Client) TryReadLock(ctx context.Context, path string) (*Lease, error) {
	return tried(c.lock(ctx, wire.OpReadLock, path, tryOnce()))
}

// WriteLock acquires the lock at path for writing: it is held by nobody
// else, reader or writer. A write lock is the same as Lock: the two
// exclude each other on the same path.
func (c *Client) WriteLock(ctx context.Context, path string) (*Lease, error) {
	return c.lock(ctx, wire.OpWriteLock, path, agentWait(ctx))
}

// TryWriteLock acquires the lock at path for writing only if nobody holds
// it or waits for it now. Otherwise it returns nil and no error.
func (c *Client) TryWriteLock(ctx context.Context, path string) (*Lease, error) {
	return tried(c.lock(ctx, wire.OpWriteLock, path, tryOnce()))
}
