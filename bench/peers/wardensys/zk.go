package wardensys

import (
	"context"
	"net"
	"strconv"

	"github.com/warden-dev/warden/bench/peers/system"
	"github.com/warden-dev/warden/bench/peers/zookeeper"
)

// ZKPort is the ZooKeeper port every agent of a ZK system opens.
const ZKPort = 2181

// ZK is Warden reached through its ZooKeeper port (--zk-port): the same
// three servers, driven by the ZooKeeper system's client (go-zookeeper
// and Curator-style recipes), so the two run the same client code.
type ZK struct {
	Warden System
	Client zookeeper.System
}

// Name implements system.System.
func (s *ZK) Name() string { return "warden-zk" }

// Start implements system.System: Warden's cluster with --zk-port on
// every agent.
func (s *ZK) Start(ctx context.Context, o system.StartOptions) (system.Cluster, error) {
	w := s.Warden
	w.Args = append(append([]string{}, w.Args...), "--zk-port", strconv.Itoa(ZKPort))
	c, err := w.Start(ctx, o)
	if err != nil {
		return nil, err
	}
	zc := &zkCluster{Cluster: c}
	for _, ip := range o.IPs {
		zc.Addrs = append(zc.Addrs, net.JoinHostPort(ip, strconv.Itoa(ZKPort)))
	}
	return zc, nil
}

// Dial implements system.System with the ZooKeeper client.
func (s *ZK) Dial(ctx context.Context, endpoint string, o system.DialOptions) (system.Client, error) {
	return s.Client.Dial(ctx, endpoint, o)
}

// zkCluster is Warden's cluster, whose clients dial every agent's
// ZooKeeper port, as ZooKeeper clients get the whole connect string.
type zkCluster struct {
	system.Cluster
	system.Peers // Addrs only
}

// Endpoints implements system.Cluster.
func (c *zkCluster) Endpoints(ctx context.Context, placement string) ([]string, error) {
	return c.Peers.Endpoints(ctx, placement)
}

// Pids implements system.Cluster.
func (c *zkCluster) Pids() []int { return c.Cluster.Pids() }

// Stop implements system.Cluster.
func (c *zkCluster) Stop() error { return c.Cluster.Stop() }
