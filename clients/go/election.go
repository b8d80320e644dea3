package warden

import (
	"context"

	"github.com/warden-dev/warden/localapi/wire"
)

// Leadership is a won election, held by this client's session until it
// resigns or the session ends.
type Leadership struct {
	c *Client
	// Path is the election's path.
	Path string
	// Key is this candidate's own node under Path.
	Key string
	// Token is the fencing token: it strictly increases from one leader of
	// the election to the next. Pass it to whatever the leader acts on,
	// which should refuse any token lower than the highest it has seen.
	Token uint64
}

// Leader says who leads an election. From an Observer, Key is empty when
// nobody does (None); Client.Leader returns nil then.
type Leader struct {
	// Key is the leader's candidate node.
	Key string
	// Value is the leader's value, as given to Campaign or Proclaim.
	Value []byte
	// Token is the leader's fencing token.
	Token uint64
}

// None reports whether nobody leads.
func (l Leader) None() bool { return l.Key == "" }

// Campaign enters this session as a candidate in the election at path,
// with value, and returns once it leads: candidates are elected in the
// order they entered. A deadline on ctx is passed to the agent as the
// longest wait; the call then fails with ErrTimeout. When ctx ends first
// the candidacy is withdrawn, so it never holds up the candidates behind.
func (c *Client) Campaign(ctx context.Context, path string, value []byte) (*Leadership, error) {
	var r wire.LeaseResult
	late, err := c.grant(ctx, &wire.Request{Op: wire.OpCampaign, Path: path, Data: value, WaitMs: agentWait(ctx)}, &r)
	if err != nil && !late {
		return nil, err
	}
	l := &Leadership{c: c, Path: path, Key: r.Key, Token: r.Token}
	if late {
		// Elected just as the caller gave up: hand leadership straight on.
		rctx, cancel := undoCtx()
		defer cancel()
		_ = c.release(rctx, l.resignRequest(), l.Key, true)
		return nil, err
	}
	return l, nil
}

func (l *Leadership) resignRequest() *wire.Request {
	return &wire.Request{Op: wire.OpResign, Key: l.Key, Token: l.Token}
}

// Resign gives up leadership; the next candidate is elected at once. It
// fails with ErrNotHeld when this candidacy has already ended.
func (l *Leadership) Resign(ctx context.Context) error {
	return l.c.release(ctx, l.resignRequest(), l.Key, false)
}

// Proclaim replaces the leader's value, which observers then see. It fails
// with ErrNotHeld when this session no longer leads.
func (l *Leadership) Proclaim(ctx context.Context, value []byte) error {
	return l.c.call(ctx, &wire.Request{Op: wire.OpProclaim, Key: l.Key, Token: l.Token, Data: value}, nil)
}

// Leader returns who leads the election at path, as this agent knows it:
// nil, and no error, when nobody does.
func (c *Client) Leader(ctx context.Context, path string) (*Leader, error) {
	var r wire.LeaderResult
	if err := c.call(ctx, &wire.Request{Op: wire.OpLeader, Path: path}, &r); err != nil {
		return nil, err
	}
	if r.Key == "" {
		return nil, nil
	}
	l := toLeader(r)
	return &l, nil
}

// Observer is a stream of an election's leaders.
type Observer struct{ s *stream }

// Observe follows the election at path: Next first returns the current
// leader (or none), then each change of leader or of the leader's value,
// in order.
func (c *Client) Observe(ctx context.Context, path string) (*Observer, error) {
	s := newStream(c, &wire.Request{Op: wire.OpObserve, Path: path})
	s.reopen = again // after a resume: the current state again, then changes
	if err := c.openStream(ctx, s); err != nil {
		return nil, err
	}
	return &Observer{s}, nil
}

// Next waits for the next leader. Leader.None() means nobody leads.
func (o *Observer) Next(ctx context.Context) (Leader, error) {
	var r wire.LeaderResult
	if _, err := o.s.next(ctx, &r); err != nil {
		return Leader{}, err
	}
	return toLeader(r), nil
}

// Close ends the stream.
func (o *Observer) Close(ctx context.Context) error { return o.s.close(ctx) }

func toLeader(r wire.LeaderResult) Leader {
	return Leader{Key: r.Key, Value: r.Data, Token: r.Token}
}
