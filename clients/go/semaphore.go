package warden

import (
	"context"

	"github.com/warden-dev/warden/localapi/wire"
)

// Semaphore is a counting semaphore: at most N sessions hold one of its
// leases at a time. Every user of a semaphore must give the same N; an
// acquire with another N fails with ErrBadArguments while the semaphore
// is in use.
type Semaphore struct {
	c *Client
	// Path is the semaphore's path.
	Path string
	// N is the number of leases.
	N int
}

// Semaphore returns the semaphore at path with n leases. It does nothing
// at the agent until Acquire.
func (c *Client) Semaphore(path string, n int) *Semaphore {
	return &Semaphore{c: c, Path: path, N: n}
}

// SemaphoreLease is one held lease of a semaphore.
type SemaphoreLease struct {
	c *Client
	// Path is the semaphore's path.
	Path string
	// Key is the lease's own node, under Path.
	Key string
	// Token is the creation zxid of the lease's node: every lease gets a
	// higher one than the leases granted before it.
	Token uint64
}

// Acquire takes one lease, waiting (first come, first served) until one is
// free or ctx ends. A deadline on ctx is passed to the agent as the wait;
// the call then fails with ErrTimeout.
func (s *Semaphore) Acquire(ctx context.Context) (*SemaphoreLease, error) {
	return s.acquire(ctx, agentWait(ctx))
}

// TryAcquire takes a lease only if one is free now; otherwise it returns
// nil and no error. It may also find none while another acquire is being
// served.
func (s *Semaphore) TryAcquire(ctx context.Context) (*SemaphoreLease, error) {
	return tried(s.acquire(ctx, tryOnce()))
}

func (s *Semaphore) acquire(ctx context.Context, wait *int64) (*SemaphoreLease, error) {
	var r wire.LeaseResult
	late, err := s.c.grant(ctx, &wire.Request{Op: wire.OpSemAcquire, Path: s.Path, Count: int64(s.N), WaitMs: wait}, &r)
	if err != nil && !late {
		return nil, err
	}
	lease := &SemaphoreLease{c: s.c, Path: s.Path, Key: r.Key, Token: r.Token}
	if late {
		uctx, cancel := undoCtx()
		defer cancel()
		_ = s.c.release(uctx, &wire.Request{Op: wire.OpSemRelease, Key: lease.Key}, lease.Key, true)
		return nil, err
	}
	return lease, nil
}

// Release gives the lease back; a waiting acquirer is granted it at once.
// It fails with ErrNotHeld when the lease is no longer held.
func (l *SemaphoreLease) Release(ctx context.Context) error {
	return l.c.release(ctx, &wire.Request{Op: wire.OpSemRelease, Key: l.Key}, l.Key, false)
}
