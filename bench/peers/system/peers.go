package system

import (
	"context"
	"strings"
	"time"
)

// Peers is a cluster of server processes whose clients all get one
// comma-separated list of every server's address, as ZooKeeper's and
// etcd's clients usually do. It implements Cluster for the peer systems.
type Peers struct {
	Procs []*Proc
	// Addrs holds each process's client address, in the form its
	// clients dial (host:port, or a URL).
	Addrs []string
}

// Add records a started server and the address its clients dial.
func (c *Peers) Add(p *Proc, addr string) {
	c.Procs = append(c.Procs, p)
	c.Addrs = append(c.Addrs, addr)
}

// Endpoint is the one endpoint every client dials.
func (c *Peers) Endpoint() string { return strings.Join(c.Addrs, ",") }

// Ready waits, for at most timeout, until every server listens (its
// address without a URL scheme) and then until write succeeds against
// the whole cluster; what names the wait in its error.
func (c *Peers) Ready(ctx context.Context, timeout time.Duration, what string, write func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for i, p := range c.Procs {
		addr := c.Addrs[i]
		if k := strings.Index(addr, "://"); k >= 0 {
			addr = addr[k+3:]
		}
		if err := WaitTCP(ctx, p, addr); err != nil {
			return err
		}
	}
	return Poll(ctx, what, func() error {
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		defer wcancel()
		return write(wctx)
	})
}

// Endpoints implements Cluster: the usual placement only.
func (c *Peers) Endpoints(_ context.Context, placement string) ([]string, error) {
	if placement != Usual {
		return nil, ErrUnsupported
	}
	return []string{c.Endpoint()}, nil
}

// Pids implements Cluster.
func (c *Peers) Pids() []int { return Pids(c.Procs) }

// Stop implements Cluster.
func (c *Peers) Stop() error {
	StopAll(c.Procs, 10*time.Second)
	return nil
}

// WriteOnce dials endpoint with sys, writes key once and closes the
// client: the write Ready waits for.
func WriteOnce(ctx context.Context, sys System, endpoint, key string) error {
	cl, err := sys.Dial(ctx, endpoint, DialOptions{})
	if err != nil {
		return err
	}
	defer cl.Close()
	return cl.Put(ctx, key, []byte("1"))
}
