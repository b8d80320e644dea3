// Package peers is the root of the side-by-side benchmark of Warden
// against ZooKeeper and etcd (docs/bench-peers.md). It is a Go module of
// its own so that the peers' clients (etcd's gRPC stack, go-zookeeper)
// stay out of Warden's main module; the harness is cmd/bench-peers.
package peers
