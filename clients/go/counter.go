package warden

import (
	"context"

	"github.com/warden-dev/warden/localapi/wire"
)

// Counter is a shared 64-bit integer, updated atomically. Its node holds
// the value as decimal text; a counter that was never set is 0.
type Counter struct {
	c *Client
	// Path is the counter's node.
	Path string
}

// Counter returns the counter at path.
func (c *Client) Counter(path string) *Counter { return &Counter{c: c, Path: path} }

// Add adds delta and returns the new value. Once sent, an add is carried
// out even if ctx ends meanwhile; Add then reports the value it produced.
func (k *Counter) Add(ctx context.Context, delta int64) (int64, error) {
	var r wire.CounterResult
	late, err := k.c.grant(ctx, &wire.Request{Op: wire.OpCounterAdd, Path: k.Path, Delta: delta}, &r)
	if err != nil && !late {
		return 0, err
	}
	return r.Value, nil
}

// Get returns the value, as the agent's replica has it (call Sync first
// to see every change made through other agents before the call).
func (k *Counter) Get(ctx context.Context) (int64, error) {
	var r wire.CounterResult
	err := k.c.call(ctx, &wire.Request{Op: wire.OpCounterGet, Path: k.Path}, &r)
	return r.Value, err
}

// CompareAndSet sets the counter to value if it is expect. It reports
// whether it did, and the value the counter has now: value if it did, the
// value that differed from expect if not.
func (k *Counter) CompareAndSet(ctx context.Context, expect, value int64) (bool, int64, error) {
	var r wire.CounterResult
	late, err := k.c.grant(ctx, &wire.Request{Op: wire.OpCounterCAS, Path: k.Path, Expect: &expect, Value: &value}, &r)
	if err != nil && !late {
		return false, 0, err
	}
	return r.Swapped, r.Value, nil
}
