package etcd

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/warden-dev/warden/bench/peers/system"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
)

// Dial implements system.System: endpoint is a comma-separated list of
// client URLs. The client opens its concurrency session (a lease kept
// alive) at once, as an app that uses locks or elections does.
func (s *System) Dial(ctx context.Context, endpoint string, o system.DialOptions) (system.Client, error) {
	ttl := o.SessionTimeout
	if ttl == 0 {
		ttl = s.TTL
	}
	if ttl == 0 {
		ttl = 10 * time.Second
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: strings.Split(endpoint, ","), DialTimeout: 10 * time.Second,
		Logger: zap.NewNop(), Context: context.Background(),
	})
	if err != nil {
		return nil, err
	}
	// The lease is granted under ctx; the session's keep-alives run until
	// Close, beyond ctx.
	lease, err := cli.Grant(ctx, int64((ttl+time.Second-1)/time.Second))
	if err != nil {
		cli.Close()
		return nil, fmt.Errorf("etcd lease: %w", err)
	}
	sess, err := concurrency.NewSession(cli, concurrency.WithLease(lease.ID), concurrency.WithContext(context.Background()))
	if err != nil {
		cli.Close()
		return nil, fmt.Errorf("etcd session: %w", err)
	}
	return &client{cli: cli, sess: sess, serializable: s.Serializable}, nil
}

// client is one etcd client with one concurrency session.
type client struct {
	cli          *clientv3.Client
	sess         *concurrency.Session
	serializable bool
}

func (c *client) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, _ = c.cli.Revoke(ctx, c.sess.Lease())
	_ = c.sess.Close()
	return c.cli.Close()
}

func (c *client) Create(ctx context.Context, key string, value []byte) error {
	_, err := c.cli.Put(ctx, key, string(value))
	return err
}

func (c *client) Put(ctx context.Context, key string, value []byte) error {
	_, err := c.cli.Put(ctx, key, string(value))
	return err
}

func (c *client) Get(ctx context.Context, key string) ([]byte, error) {
	var opts []clientv3.OpOption
	if c.serializable {
		opts = append(opts, clientv3.WithSerializable())
	}
	r, err := c.cli.Get(ctx, key, opts...)
	if err != nil {
		return nil, err
	}
	if len(r.Kvs) == 0 {
		return nil, fmt.Errorf("etcd: %s not found", key)
	}
	return r.Kvs[0].Value, nil
}

// Lock implements system.Client with concurrency.Mutex.
func (c *client) Lock(ctx context.Context, key string) (system.Unlocker, error) {
	m := concurrency.NewMutex(c.sess, key)
	if err := m.Lock(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// Campaign implements system.Client with concurrency.Election.
func (c *client) Campaign(ctx context.Context, key string, value []byte) (system.Unlocker, error) {
	e := concurrency.NewElection(c.sess, key)
	if err := e.Campaign(ctx, string(value)); err != nil {
		return nil, err
	}
	return resigner{e}, nil
}

type resigner struct{ e *concurrency.Election }

func (r resigner) Unlock(ctx context.Context) error { return r.e.Resign(ctx) }

// Subscribe implements system.Client: a Get, then a Watch from the next
// revision, which delivers every change.
func (c *client) Subscribe(ctx context.Context, key string, fn func([]byte)) error {
	r, err := c.cli.Get(ctx, key)
	if err != nil {
		return err
	}
	var first []byte
	if len(r.Kvs) > 0 {
		first = r.Kvs[0].Value
	}
	wch := c.cli.Watch(clientv3.WithRequireLeader(ctx), key, clientv3.WithRev(r.Header.Revision+1))
	go func() {
		fn(first)
		for resp := range wch {
			for _, ev := range resp.Events {
				fn(ev.Kv.Value)
			}
		}
	}()
	return nil
}
