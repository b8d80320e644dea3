package warden

import (
	"context"

	"github.com/warden-dev/warden/localapi/wire"
)

// GroupRoot is where groups live: a member's node is GroupRoot/GROUP/MEMBER.
const GroupRoot = "/warden/groups"

// GroupMember is one member of a group, with the data it joined with.
type GroupMember = wire.GroupMember

// MemberEvent is a watched group's change: a member joined or changed its
// data, or left (Left, with its last data), which it does when its session
// ends.
type MemberEvent = wire.MemberEvent

// Membership is this session's membership of a group, held until Leave or
// until the session ends.
type Membership struct {
	c *Client
	// Group and Member name the membership.
	Group, Member string
	// Key is the member's node.
	Key string
	// Token differs from one joining of the member id to the next.
	Token uint64
}

// Join makes this session a member of group as member, with data. A
// member id another session holds fails with ErrNodeExists; joining again
// with an id this session holds replaces its data (as Update does). If
// ctx ends just as the join succeeds, the membership is left again.
func (c *Client) Join(ctx context.Context, group, member string, data []byte) (*Membership, error) {
	var r wire.LeaseResult
	late, err := c.grant(ctx, &wire.Request{Op: wire.OpJoin, Group: group, Member: member, Data: data}, &r)
	if err != nil && !late {
		return nil, err
	}
	m := &Membership{c: c, Group: group, Member: member, Key: r.Key, Token: r.Token}
	if late {
		uctx, cancel := undoCtx()
		defer cancel()
		_ = m.Leave(uctx)
		return nil, err
	}
	return m, nil
}

// Update replaces the member's data, which watchers then see. It is a
// join with the same id: after the membership has ended it joins again.
func (m *Membership) Update(ctx context.Context, data []byte) error {
	var r wire.LeaseResult
	return m.c.call(ctx, &wire.Request{Op: wire.OpJoin, Group: m.Group, Member: m.Member, Data: data}, &r)
}

// Leave ends the membership. It fails with ErrNotHeld when this session no
// longer holds it.
func (m *Membership) Leave(ctx context.Context) error {
	return m.c.call(ctx, &wire.Request{Op: wire.OpLeave, Group: m.Group, Member: m.Member}, nil)
}

// GroupMembers returns the members of group, in id order, as this agent
// knows them. (Members lists the cluster's agents.)
func (c *Client) GroupMembers(ctx context.Context, group string) ([]GroupMember, error) {
	var r wire.GroupResult
	if err := c.call(ctx, &wire.Request{Op: wire.OpMembersOf, Group: group}, &r); err != nil {
		return nil, err
	}
	return r.Members, nil
}

// GroupWatch is a stream of a group's member events.
type GroupWatch struct{ s *stream }

// WatchGroup follows group: Next first returns each current member (as
// joined), then every join, change of data and leave, in order.
func (c *Client) WatchGroup(ctx context.Context, group string) (*GroupWatch, error) {
	s := newStream(c, &wire.Request{Op: wire.OpGroupWatch, Group: group})
	s.reopen = again // after a resume: the current state again, then changes
	if err := c.openStream(ctx, s); err != nil {
		return nil, err
	}
	return &GroupWatch{s}, nil
}

// Next waits for the next event.
func (w *GroupWatch) Next(ctx context.Context) (MemberEvent, error) {
	var ev MemberEvent
	_, err := w.s.next(ctx, &ev)
	return ev, err
}

// Close ends the stream.
func (w *GroupWatch) Close(ctx context.Context) error { return w.s.close(ctx) }
