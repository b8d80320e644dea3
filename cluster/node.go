package cluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/warden-dev/warden/fsm"
)

// Node is one agent's Raft replica.
type Node struct {
	cfg   *Config
	fsm   *fsm.FSM
	local *localSessions

	raft      *raft.Raft
	transport *raft.NetworkTransport
	store     *raftboltdb.BoltStore

	leaderCh chan bool // raft's NotifyCh
	expiry   *expirer

	closeOnce sync.Once
	closeErr  error
	shutdown  chan struct{}
	wg        sync.WaitGroup
}

// New allocates a node; Open starts it.
func New(cfg *Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{
		cfg:      cfg,
		fsm:      fsm.New(),
		local:    newLocalSessions(),
		leaderCh: make(chan bool, 16),
		shutdown: make(chan struct{}),
	}
	n.expiry = newExpirer(n)
	return n, nil
}

// FSM is this replica's tree, for reads and watches.
func (n *Node) FSM() *fsm.FSM { return n.fsm }

// Name is this agent's node name.
func (n *Node) Name() string { return n.cfg.NodeName }

// Open opens the stores, starts Raft, and bootstraps a fresh single-server
// cluster when configured to.
func (n *Node) Open() error {
	if err := os.MkdirAll(n.cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(n.cfg.DataDir, "raft.db")})
	if err != nil {
		return fmt.Errorf("open raft store: %w", err)
	}
	n.store = store
	snaps, err := raft.NewFileSnapshotStore(n.cfg.DataDir, 2, n.cfg.LogOutput)
	if err != nil {
		store.Close()
		return fmt.Errorf("open snapshot store: %w", err)
	}
	addr, err := net.ResolveTCPAddr("tcp", n.cfg.RaftAddr)
	if err != nil {
		store.Close()
		return fmt.Errorf("raft address %q: %w", n.cfg.RaftAddr, err)
	}
	n.transport, err = raft.NewTCPTransport(n.cfg.RaftAddr, nil, 3, 10*time.Second, n.cfg.LogOutput)
	if err != nil {
		store.Close()
		return fmt.Errorf("raft transport on %v: %w", addr, err)
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(n.cfg.NodeName)
	rc.HeartbeatTimeout = n.cfg.HeartbeatTimeout
	rc.ElectionTimeout = n.cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = n.cfg.HeartbeatTimeout / 2
	rc.SnapshotThreshold = n.cfg.SnapshotThreshold
	rc.SnapshotInterval = n.cfg.SnapshotInterval
	rc.TrailingLogs = n.cfg.TrailingLogs
	rc.BatchApplyCh = true
	rc.NotifyCh = n.leaderCh
	rc.Logger = n.cfg.Logger.Named("raft")
	logs, err := raft.NewLogCache(512, store)
	if err != nil {
		n.closeStores()
		return err
	}
	if n.cfg.Bootstrap {
		has, err := raft.HasExistingState(logs, store, snaps)
		if err != nil {
			n.closeStores()
			return fmt.Errorf("inspect raft state: %w", err)
		}
		if !has {
			conf := raft.Configuration{Servers: []raft.Server{{
				ID: rc.LocalID, Address: n.transport.LocalAddr(), Suffrage: raft.Voter,
			}}}
			if err := raft.BootstrapCluster(rc, logs, store, snaps, n.transport, conf); err != nil {
				n.closeStores()
				return fmt.Errorf("bootstrap: %w", err)
			}
		}
	}
	n.raft, err = raft.NewRaft(rc, n.fsm, logs, store, snaps, n.transport)
	if err != nil {
		n.closeStores()
		return fmt.Errorf("start raft: %w", err)
	}
	n.goFunc(n.monitorLeadership)
	return nil
}

func (n *Node) closeStores() {
	if n.transport != nil {
		n.transport.Close()
	}
	if n.store != nil {
		n.store.Close()
	}
}

// goFunc runs f as a goroutine the node waits for on Close.
func (n *Node) goFunc(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

// WaitReady waits until this node knows a leader and, if it is the leader,
// has applied every entry of earlier terms.
func (n *Node) WaitReady(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if addr, _ := n.raft.LeaderWithID(); addr != "" {
			if n.raft.State() != raft.Leader {
				return nil
			}
			timeout := n.timeout(ctx)
			if err := n.raft.Barrier(timeout).Error(); err == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for a leader: %w", ctx.Err())
		case <-n.shutdown:
			return ErrClosed
		case <-t.C:
		}
	}
}

// IsLeader reports whether this node leads.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Close stops Raft and closes the stores. It is safe to call twice.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		close(n.shutdown)
		if n.raft != nil {
			n.closeErr = n.raft.Shutdown().Error()
		}
		n.wg.Wait()
		n.closeStores()
	})
	return n.closeErr
}

// timeout derives a Raft timeout from ctx's deadline.
func (n *Node) timeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		if t := time.Until(d); t > 0 {
			return t
		}
		return time.Millisecond
	}
	return n.cfg.ApplyTimeout
}

// apply proposes one log entry and waits for its result.
func (n *Node) apply(ctx context.Context, t fsm.CommandType, body any) (*fsm.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, translate(err)
	}
	b, err := fsm.Encode(t, body)
	if err != nil {
		return nil, err
	}
	f := n.raft.Apply(b, n.timeout(ctx))
	done := make(chan struct{})
	go func() {
		_ = f.Error()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return nil, translate(ctx.Err())
	case <-n.shutdown:
		return nil, ErrClosed
	}
	if err := f.Error(); err != nil {
		return nil, translate(err)
	}
	res, ok := f.Response().(*fsm.Result)
	if !ok {
		return nil, fmt.Errorf("unexpected apply response %T", f.Response())
	}
	return res, nil
}

// Sync returns once this replica has applied every write committed before
// the call, so the next read is linearizable. It returns the zxid reached.
func (n *Node) Sync(ctx context.Context) (uint64, error) {
	if err := n.raft.Barrier(n.timeout(ctx)).Error(); err != nil {
		return 0, translate(err)
	}
	return n.fsm.Index(), nil
}

// Status is a summary of this node's Raft state.
type Status struct {
	Node         string `json:"node"`
	State        string `json:"state"`
	Leader       string `json:"leader"`
	Term         string `json:"term"`
	CommitIndex  string `json:"commit_index"`
	AppliedIndex string `json:"applied_index"`
	Sessions     int    `json:"sessions"`
	Znodes       int    `json:"znodes"`
}

// Status reports this node's Raft state.
func (n *Node) Status() Status {
	s := n.raft.Stats()
	_, leader := n.raft.LeaderWithID()
	return Status{
		Node:         n.cfg.NodeName,
		State:        n.raft.State().String(),
		Leader:       string(leader),
		Term:         s["term"],
		CommitIndex:  s["commit_index"],
		AppliedIndex: s["applied_index"],
		Sessions:     len(n.fsm.Sessions()),
		Znodes:       n.fsm.NodeCount(),
	}
}
