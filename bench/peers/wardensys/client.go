package wardensys

import (
	"context"
	"fmt"

	"github.com/warden-dev/warden/bench/peers/system"
	warden "github.com/warden-dev/warden/clients/go"
)

// Dial implements system.System: endpoint is an agent's socket. The
// session is the agent's default one, which ends the moment the app's
// connection closes (as when its process dies).
func (s *System) Dial(ctx context.Context, endpoint string, _ system.DialOptions) (system.Client, error) {
	c, err := warden.Dial(ctx, warden.Options{Socket: endpoint, Name: "bench-peers"})
	if err != nil {
		return nil, fmt.Errorf("warden dial %s: %w", endpoint, err)
	}
	return &client{c: c}, nil
}

// client is one Warden session.
type client struct{ c *warden.Client }

func (c *client) Close() error { return c.c.Close() }

func (c *client) Create(ctx context.Context, key string, value []byte) error {
	_, err := c.c.Create(ctx, key, value, warden.Persistent)
	return err
}

// Put sets the value through the config recipe, which creates the node
// (and its parents) when it is missing.
func (c *client) Put(ctx context.Context, key string, value []byte) error {
	_, err := c.c.Config(key).Set(ctx, value, warden.AnyVersion)
	return err
}

// Get is a local read: the agent's own replica answers.
func (c *client) Get(ctx context.Context, key string) ([]byte, error) {
	data, _, err := c.c.Get(ctx, key)
	return data, err
}

func (c *client) Lock(ctx context.Context, key string) (system.Unlocker, error) {
	l, err := c.c.Lock(ctx, key)
	if err != nil {
		return nil, err
	}
	return l, nil
}

func (c *client) Campaign(ctx context.Context, key string, value []byte) (system.Unlocker, error) {
	l, err := c.c.Campaign(ctx, key, value)
	if err != nil {
		return nil, err
	}
	return resigner{l}, nil
}

type resigner struct{ l *warden.Leadership }

func (r resigner) Unlock(ctx context.Context) error { return r.l.Resign(ctx) }

// Subscribe follows the config's node (clients/go Config.Subscribe): the
// current value, then every change, none skipped.
func (c *client) Subscribe(ctx context.Context, key string, fn func([]byte)) error {
	sub, err := c.c.Config(key).Subscribe(ctx, 0)
	if err != nil {
		return err
	}
	go func() {
		defer func() { _ = sub.Close(context.Background()) }()
		for {
			u, err := sub.Next(ctx)
			if err != nil {
				return
			}
			fn(u.Value)
		}
	}()
	return nil
}
