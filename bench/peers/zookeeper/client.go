package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/warden-dev/warden/bench/peers/system"
)

var acl = zk.WorldACL(zk.PermAll)

type quiet struct{}

func (quiet) Printf(string, ...any) {}

// Dial implements system.System: endpoint is a connect string
// ("ip:2181,ip:2181,..."); the client picks a server from it.
func (s *System) Dial(ctx context.Context, endpoint string, o system.DialOptions) (system.Client, error) {
	timeout := o.SessionTimeout
	if timeout == 0 {
		timeout = s.SessionTimeout
	}
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	conn, events, err := zk.Connect(strings.Split(endpoint, ","), timeout, zk.WithLogger(quiet{}))
	if err != nil {
		return nil, err
	}
	for {
		select {
		case ev := <-events:
			if ev.State == zk.StateHasSession {
				go func() {
					for range events {
					}
				}()
				return &client{conn: conn}, nil
			}
		case <-ctx.Done():
			conn.Close()
			return nil, fmt.Errorf("zookeeper session: %w", ctx.Err())
		}
	}
}

// client is one ZooKeeper session.
type client struct{ conn *zk.Conn }

func (c *client) Close() error { c.conn.Close(); return nil }

func (c *client) Get(_ context.Context, key string) ([]byte, error) {
	data, _, err := c.conn.Get(key)
	return data, err
}

func (c *client) Create(_ context.Context, key string, value []byte) error {
	_, err := c.conn.Create(key, value, 0, acl)
	return err
}

func (c *client) Put(_ context.Context, key string, value []byte) error {
	for {
		_, err := c.conn.Set(key, value, -1)
		if !errors.Is(err, zk.ErrNoNode) {
			return err
		}
		if err := c.parents(key); err != nil {
			return err
		}
		_, err = c.conn.Create(key, value, 0, acl)
		if !errors.Is(err, zk.ErrNodeExists) {
			return err
		}
	}
}

// parents creates key's missing ancestors, as Curator's
// creatingParentsIfNeeded does.
func (c *client) parents(key string) error {
	for i := 1; i < len(key); i++ {
		if key[i] != '/' {
			continue
		}
		if _, err := c.conn.Create(key[:i], nil, 0, acl); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return err
		}
	}
	return nil
}

// Subscribe implements system.Client as Curator's NodeCache does: read
// the node and leave a watch, and read again when the watch fires (a
// watch fires once, so values written meanwhile can be missed).
func (c *client) Subscribe(ctx context.Context, key string, fn func([]byte)) error {
	data, _, ch, err := c.conn.GetW(key)
	if err != nil {
		return err
	}
	go func() {
		for {
			fn(data)
			select {
			case <-ch:
			case <-ctx.Done():
				return
			}
			for {
				data, _, ch, err = c.conn.GetW(key)
				if err == nil || ctx.Err() != nil {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if ctx.Err() != nil {
				return
			}
		}
	}()
	return nil
}

// Lock implements system.Client with Curator's InterProcessMutex recipe.
func (c *client) Lock(ctx context.Context, key string) (system.Unlocker, error) {
	return c.queue(ctx, key, "lock-", nil)
}

// Campaign implements system.Client with Curator's LeaderLatch recipe,
// which is the lock's: the lowest candidate leads.
func (c *client) Campaign(ctx context.Context, key string, value []byte) (system.Unlocker, error) {
	return c.queue(ctx, key, "latch-", value)
}

// held is a lock or leadership: the client's node in the queue.
type held struct {
	c    *client
	node string
}

func (h *held) Unlock(context.Context) error { return h.c.conn.Delete(h.node, -1) }

// queue enters the line under dir with an ephemeral-sequential node (in
// Curator's protected mode, so a create retried after a lost connection
// finds its node) and waits until no node with a lower sequence number
// is left, watching only its predecessor.
func (c *client) queue(ctx context.Context, dir, prefix string, value []byte) (*held, error) {
	node, err := c.conn.CreateProtectedEphemeralSequential(dir+"/"+prefix, value, acl)
	if errors.Is(err, zk.ErrNoNode) {
		if err := c.parents(dir + "/"); err != nil {
			return nil, err
		}
		node, err = c.conn.CreateProtectedEphemeralSequential(dir+"/"+prefix, value, acl)
	}
	if err != nil {
		return nil, err
	}
	me := node[strings.LastIndexByte(node, '/')+1:]
	for {
		kids, _, err := c.conn.Children(dir)
		if err != nil {
			return nil, c.abandon(node, err)
		}
		sort.Slice(kids, func(i, j int) bool { return seq(kids[i]) < seq(kids[j]) })
		i := sort.SearchStrings(mapSeq(kids), seq(me))
		if i >= len(kids) || kids[i] != me {
			return nil, c.abandon(node, fmt.Errorf("zookeeper: our node %s is gone", node))
		}
		if i == 0 {
			return &held{c: c, node: node}, nil
		}
		_, _, ch, err := c.conn.GetW(dir + "/" + kids[i-1])
		if errors.Is(err, zk.ErrNoNode) {
			continue // the predecessor went meanwhile
		}
		if err != nil {
			return nil, c.abandon(node, err)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, c.abandon(node, ctx.Err())
		}
	}
}

// abandon deletes our node after a failed wait, so it holds nobody up.
func (c *client) abandon(node string, err error) error {
	_ = c.conn.Delete(node, -1)
	return err
}

// seq is a sequential node's 10-digit sequence number.
func seq(name string) string {
	if len(name) < 10 {
		return name
	}
	return name[len(name)-10:]
}

func mapSeq(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = seq(n)
	}
	return out
}
