package warden

import (
	"context"

	"github.com/warden-dev/warden/localapi/wire"
)

// Barrier holds back whoever waits on it until it is removed.
type Barrier struct {
	c *Client
	// Path is the barrier's node.
	Path string
}

// Barrier returns the barrier at path.
func (c *Client) Barrier(path string) *Barrier { return &Barrier{c: c, Path: path} }

// Set sets the barrier (creates its node). Setting a set barrier is not an
// error.
func (b *Barrier) Set(ctx context.Context) error {
	var r wire.Empty
	late, err := b.c.grant(ctx, &wire.Request{Op: wire.OpBarrierSet, Path: b.Path}, &r)
	if late {
		return nil // set all the same
	}
	return err
}

// Remove removes the barrier, releasing every waiter. Removing a barrier
// that is not set is not an error.
func (b *Barrier) Remove(ctx context.Context) error {
	return b.c.call(ctx, &wire.Request{Op: wire.OpBarrierRemove, Path: b.Path}, nil)
}

// Wait returns once the barrier is not set. A deadline on ctx is passed to
// the agent as the wait; the call then fails with ErrTimeout.
func (b *Barrier) Wait(ctx context.Context) error {
	return b.c.call(ctx, &wire.Request{Op: wire.OpBarrierWait, Path: b.Path, WaitMs: agentWait(ctx)}, nil)
}

// DoubleBarrier lets a group of members start together, once Count have
// entered, and finish together, once every one has left.
type DoubleBarrier struct {
	c *Client
	// Path is the barrier's node.
	Path string
	// Count is how many members must enter before any goes on.
	Count int
	// Member is this member's name, unique among the members.
	Member string
}

// DoubleBarrier returns the double barrier at path for count members, as
// member.
func (c *Client) DoubleBarrier(path string, count int, member string) *DoubleBarrier {
	return &DoubleBarrier{c: c, Path: path, Count: count, Member: member}
}

// Enter enters the barrier and returns once Count members have entered (at
// once if the group has already been released). A deadline on ctx is
// passed to the agent as the wait; the call then fails with ErrTimeout and
// this member is not in the barrier. If the agent lets it in just as ctx
// ends, Enter reports success: the others may already count on it.
func (b *DoubleBarrier) Enter(ctx context.Context) error {
	var r wire.Empty
	late, err := b.c.grant(ctx, &wire.Request{Op: wire.OpBarrierEnter, Path: b.Path, Count: int64(b.Count),
		Member: b.Member, WaitMs: agentWait(ctx)}, &r)
	if late {
		return nil
	}
	return err
}

// Leave leaves the barrier and returns once every member has left. When
// ctx ends first this member has left all the same (Leave returns once
// the agent has deleted its node); only the wait for the others is cut
// short.
func (b *DoubleBarrier) Leave(ctx context.Context) error {
	var r wire.Empty
	late, err := b.c.grant(ctx, &wire.Request{Op: wire.OpBarrierLeave, Path: b.Path, Member: b.Member, WaitMs: agentWait(ctx)}, &r)
	if late {
		return nil // every member left just as ctx ended
	}
	return err
}
