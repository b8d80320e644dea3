package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/serf/serf"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/hashicorp/raft"
	"github.com/warden-dev/warden/fsm"
	"go.etcd.io/bbolt"
)

// Node is one agent's Raft replica.
type Node struct {
	cfg    *Config
	fsm    *fsm.FSM
	local  *localSessions
	delays *lockDelays

	raft      *raft.Raft
	transport *raft.NetworkTransport
	logs      raft.LogStore // the Raft log (through its cache)
	notices   *commitNotices
	store     logStore // the Raft log and stable store (logstore.go)
	storePath string
	mux       *mux
	rpc       *rpcPool
	dialer    *dialer
	tls       *tlsKeys // nil without TLS
	serf      *serf.Serf
	serfUp    atomic.Pointer[serf.Serf] // serf, for the mux's goroutines (set once it runs)
	raftUp    atomic.Pointer[raft.Raft] // raft, for the transport's goroutines (set once it runs)
	serfCh    chan serf.Event
	rpcAddr   string // this agent's advertised Raft and RPC address

	// refuse, when a test sets it before Open, makes the cluster port
	// (without TLS) refuse the addresses it holds for, as it refuses
	// those of agents that are not members.
	refuse func(net.IP) bool

	leaderCh    chan bool // raft's NotifyCh
	expiry      *expirer
	reconcileCh chan struct{}
	known       string // what saveKnown last wrote (only its goroutine uses it)

	mu            sync.Mutex
	reaped        map[string]bool // agents Serf reaped, to drop from Raft
	restores      restores        // the restore upload this node takes as leader
	bootstrapped  atomic.Bool
	leaderChanges atomic.Uint64 // see observeLeader
	noLeaderSince atomic.Int64  // unix ns since when there has been no leader, 0 while there is one (see NoLeaderFor)

	// run owns the node's goroutines (see group): the mux's accept loop,
	// Serf's event handler and join retries, the leadership monitor, the
	// session keeper, and the short-lived helpers of writes, keyring
	// queries and leaves. Close cancels it, and waits for it once Serf,
	// Raft and the mux have stopped.
	run       *group
	shutdown  <-chan struct{} // run's context ends: the node is closing
	closeOnce sync.Once
	closeErr  error
}

// New allocates a node; Open starts it.
func New(cfg *Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &dialer{local: net.ParseIP(cfg.BindAddr)}
	n := &Node{
		cfg:         cfg,
		dialer:      d,
		fsm:         fsm.New(),
		local:       newLocalSessions(),
		delays:      newLockDelays(),
		leaderCh:    make(chan bool, 16),
		reconcileCh: make(chan struct{}, 1),
		reaped:      make(map[string]bool),
		serfCh:      make(chan serf.Event, 256),
		rpc:         newRPCPool(d),
		run:         newGroup(context.Background()),
	}
	n.shutdown = n.run.Done()
	n.fsm.OnSessionClosed = n.local.closed
	n.fsm.OnLockDelay = n.delays.start
	n.fsm.SetHistoryLimits(cfg.HistoryMaxChanges, cfg.HistoryMaxBytes)
	n.expiry = newExpirer(n)
	n.notices = newCommitNotices(n)
	return n, nil
}

// FSM is this replica's tree, for reads and watches.
func (n *Node) FSM() *fsm.FSM { return n.fsm }

// Name is this agent's node name.
func (n *Node) Name() string { return n.cfg.NodeName }

// Open opens the stores, starts Raft, and bootstraps a fresh single-server
// cluster when configured to.
func (n *Node) Open() error {
	if err := n.prepareDataDir(); err != nil {
		return err
	}
	cleanRestores(n.cfg.DataDir)
	if n.cfg.TLS != nil {
		keys, err := loadTLS(*n.cfg.TLS)
		if err != nil {
			return err
		}
		n.tls, n.dialer.tls = keys, keys
	} else {
		n.cfg.Logger.Warn("the cluster port has no TLS: it admits connections from the addresses of Serf members, but anyone who can send from such an address can act as that member and read every write. Use this for development and trials only; in production give every agent --tls-ca, --tls-cert and --tls-key (see docs/security.md)")
	}
	n.dialer.name = n.agentAt
	store, storePath, err := n.openLogStore()
	if err != nil {
		return err
	}
	n.store, n.storePath = store, storePath
	snaps, err := raft.NewFileSnapshotStoreWithLogger(n.cfg.DataDir, 2, n.cfg.Logger.Named("snapshot"))
	if err != nil {
		store.Close()
		return fmt.Errorf("open snapshot store: %w", err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(n.cfg.BindAddr, strconv.Itoa(n.cfg.RPCPort)))
	if err != nil {
		store.Close()
		return fmt.Errorf("listen for raft and rpc: %w", err)
	}
	n.rpcAddr = ln.Addr().String()
	n.mux = newMux(ln, ln.Addr(), n.dialer, n.cfg.Logger.Named("mux"))
	n.mux.rpc = n.serveRPC
	if n.tls == nil {
		n.mux.admit = n.isMemberIP
	}
	n.transport = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: n.mux.raft, MaxPool: 3, Timeout: 10 * time.Second, Logger: n.cfg.Logger.Named("raft-net"),
	})
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(n.cfg.NodeName)
	rc.HeartbeatTimeout = n.cfg.HeartbeatTimeout
	rc.ElectionTimeout = n.cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = n.cfg.HeartbeatTimeout / 2
	if n.cfg.CommitTimeout > 0 {
		rc.CommitTimeout = n.cfg.CommitTimeout
	}
	rc.SnapshotThreshold = n.cfg.SnapshotThreshold
	rc.SnapshotInterval = n.cfg.SnapshotInterval
	rc.TrailingLogs = n.cfg.TrailingLogs
	// Raft's library metrics (go-metrics) with the peer in the metric's
	// name duplicate those with a peer label: only the labelled ones.
	rc.NoLegacyTelemetry = true
	// Not BatchApplyCh: Raft never answers a future left in that buffer
	// when it shuts down, and whoever waits for it (a write, a sync, the
	// leader loop's barriers, which Close awaits) would wait forever. The
	// leader still commits every write waiting to be taken in one batch.
	rc.NotifyCh = n.leaderCh
	rc.Logger = n.cfg.Logger.Named("raft")
	logs, err := raft.NewLogCache(512, n.store)
	if err != nil {
		n.closeStores()
		return err
	}
	if err := n.checkState(logs, n.store); err != nil {
		n.closeStores()
		return err
	}
	has, err := raft.HasExistingState(logs, n.store, snaps)
	if err != nil {
		n.closeStores()
		return fmt.Errorf("inspect raft state: %w", err)
	}
	n.bootstrapped.Store(has)
	if n.cfg.Bootstrap {
		if !has {
			conf := raft.Configuration{Servers: []raft.Server{{
				ID: rc.LocalID, Address: n.transport.LocalAddr(), Suffrage: raft.Voter,
			}}}
			if err := raft.BootstrapCluster(rc, logs, n.store, snaps, n.transport, conf); err != nil {
				n.closeStores()
				return fmt.Errorf("bootstrap: %w", err)
			}
		}
	}
	n.logs = logs
	n.raft, err = raft.NewRaft(rc, n.fsm, logs, n.store, snaps, unpipelined{n.transport, n.notices})
	if err != nil {
		n.closeStores()
		return fmt.Errorf("start raft: %w", err)
	}
	n.raftUp.Store(n.raft)
	n.noLeaderSince.Store(time.Now().UnixNano())
	n.raft.RegisterObserver(raft.NewObserver(nil, false, n.observeLeader))
	n.mux.start()
	if err := n.startSerf(); err != nil {
		n.raft.Shutdown()
		n.closeStores()
		return err
	}
	n.run.Go(n.monitorLeadership)
	n.run.Go(n.keepaliveLoop)
	return nil
}

func (n *Node) closeStores() {
	if n.mux != nil {
		n.mux.close()
	}
	if n.transport != nil {
		n.transport.Close()
	}
	if n.store != nil {
		n.store.Close()
	}
}

// WaitReady waits until this node knows a leader and has applied every
// entry committed before the call (see catchUp). While it waits on a node
// that cannot get a leader by itself (see noLeaderHint), it says what to
// add, at once and every NoLeaderWarnInterval.
func (n *Node) WaitReady(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	start := time.Now()
	var warned time.Time
	for {
		if n.cfg.NoLeaderWarnInterval > 0 && time.Since(warned) >= n.cfg.NoLeaderWarnInterval {
			if hint := n.noLeaderHint(time.Since(start)); hint != "" {
				n.cfg.Logger.Warn(hint, "waiting", time.Since(start).Round(time.Second).String())
				warned = time.Now()
			}
		}
		if addr, _ := n.raft.LeaderWithID(); addr != "" {
			// Caught up: everything committed before now is applied here,
			// so the tree this agent serves (and its orphan sessions) is
			// current, and the leader's entries reach this agent.
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			err := n.catchUp(sctx)
			cancel()
			if err == nil {
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

// Close stops Serf, Raft and the cluster port, closes every connection
// the port accepted, waits for every goroutine the node started, and
// closes the stores. It is safe to call twice.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		if n.serf != nil {
			if !n.cfg.Server {
				// A replica that stops on purpose leaves: it tells Serf
				// first (so no reconcile adds it back while it goes), then
				// asks the leader to drop it from the Raft configuration,
				// since Serf's leave is only best effort. A server keeps
				// its seat: it is expected back.
				_ = n.serf.Leave()
				n.leaveRaft()
			}
			_ = n.serf.Shutdown()
		}
		n.run.Cancel()
		if n.raft != nil {
			n.closeErr = n.raft.Shutdown().Error()
		}
		if n.mux != nil {
			n.mux.close() // and waits for its connections' goroutines
		}
		n.rpc.close()
		// Every goroutine of the node has been told to stop, and what
		// it may be waiting on (Raft's futures, Serf, connections) has
		// stopped: wait for them before closing the stores under them.
		n.run.Wait()
		n.restores.mu.Lock()
		n.restores.drop()
		n.restores.mu.Unlock()
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

// apply proposes one log entry, on the leader or forwarded to it, and
// waits until this replica has applied it too, so the caller reads its own
// write here.
func (n *Node) apply(ctx context.Context, t fsm.CommandType, body any) (*fsm.Result, error) {
	b, err := fsm.Encode(t, body)
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.cfg.ApplyTimeout)
		defer cancel()
	}
	res, err := n.propose(ctx, b)
	if err != nil {
		return nil, err
	}
	if err := n.fsm.WaitIndex(ctx, res.Zxid); err != nil {
		return nil, translate(err)
	}
	return res, nil
}

// propose gets an entry applied by the leader, following leader changes
// until ctx ends. A retry may apply an entry the failed attempt had already
// applied; writes carry (session, sequence), so the FSM applies them once.
func (n *Node) propose(ctx context.Context, entry []byte) (*fsm.Result, error) {
	backoff := 5 * time.Millisecond
	lastErr := ErrUnavailable
	for {
		if n.IsLeader() {
			res, err := n.applyLocal(ctx, entry)
			if !errors.Is(err, ErrUnavailable) {
				return res, err
			}
		} else if addr, _ := n.raft.LeaderWithID(); addr != "" {
			// Each attempt is bounded: a leader that died mid-call must not
			// hold the write until its deadline while a new one serves.
			actx, cancel := context.WithTimeout(ctx, n.cfg.ForwardTimeout)
			var res fsm.Result
			err := n.rpc.call(actx, string(addr), rpcApply, entry, &res)
			cancel()
			switch {
			case err == nil:
				return &res, nil
			case errors.Is(err, ErrRefused), errors.Is(err, ErrBadRequest), errors.Is(err, ErrTooLarge):
				// Asking again would get the same answer.
				return nil, err
			case !errors.Is(err, errNotLeader):
				// The leader may have applied it, or may yet.
				lastErr = ErrTimeout
			}
			n.cfg.Logger.Debug("forward to leader", "leader", addr, "error", err)
		}
		select {
		case <-ctx.Done():
			// Without a leader, say so even to a caller that canceled:
			// one that gave up at its own deadline may read why.
			if err := n.noLeader(); err != nil {
				return nil, err
			}
			if errors.Is(ctx.Err(), context.Canceled) {
				return nil, ctx.Err()
			}
			return nil, lastErr
		case <-n.shutdown:
			return nil, ErrClosed
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 25*time.Millisecond)
	}
}

// leaveRaft asks the leader to remove this agent from the Raft
// configuration, giving up after a couple of seconds.
func (n *Node) leaveRaft() {
	addr, _ := n.raft.LeaderWithID()
	if addr == "" || n.IsLeader() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	body, _ := msgpack.Marshal(n.cfg.NodeName)
	if err := n.rpc.call(ctx, string(addr), rpcLeave, body, nil); err != nil {
		n.cfg.Logger.Warn("could not leave the raft configuration; Serf's leave remains", "error", err)
	}
}

// applyLocal applies an entry on this node, which must be the leader, and
// has the followers told of its commit at once.
func (n *Node) applyLocal(ctx context.Context, entry []byte) (*fsm.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, translate(err)
	}
	f := n.raft.Apply(entry, n.timeout(ctx))
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-n.shutdown:
			cancel()
		case <-wctx.Done():
		}
	}()
	if err := await(wctx, f); err != nil {
		if ctx.Err() == nil && wctx.Err() != nil {
			return nil, ErrClosed
		}
		if ctx.Err() != nil {
			return nil, translate(ctx.Err())
		}
		return nil, translate(err)
	}
	// Committed: tell the followers now, not at Raft's next commit
	// timeout (see nudgeFollowers).
	n.nudgeFollowers()
	res, ok := f.Response().(*fsm.Result)
	if !ok {
		return nil, fmt.Errorf("unexpected apply response %T", f.Response())
	}
	return res, nil
}

// Sync returns once this replica has applied every write committed before
// the call, so the next read is linearizable. It returns the zxid reached.
func (n *Node) Sync(ctx context.Context) (uint64, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.cfg.ApplyTimeout)
		defer cancel()
	}
	backoff := 5 * time.Millisecond
	for {
		var index uint64
		var err error
		if n.IsLeader() {
			if err = await(ctx, n.raft.Barrier(n.timeout(ctx))); err == nil {
				index = n.fsm.Index()
			}
		} else if addr, _ := n.raft.LeaderWithID(); addr != "" {
			err = n.rpc.call(ctx, string(addr), rpcBarrier, nil, &index)
		} else {
			err = ErrUnavailable
		}
		if err == nil {
			if err := n.fsm.WaitIndex(ctx, index); err != nil {
				return 0, translate(err)
			}
			return n.fsm.Index(), nil
		}
		select {
		case <-ctx.Done():
			if err := n.noLeader(); err != nil && errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
				return 0, err
			}
			return 0, translate(ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 100*time.Millisecond)
	}
}

// Status is a summary of this node's Raft state.
type Status struct {
	Node   string `json:"node"`
	State  string `json:"state"`
	Leader string `json:"leader"`
	// NoLeaderFor is how long this node has had no leader (0 while it
	// has one).
	NoLeaderFor  time.Duration `json:"-"`
	Term         uint64        `json:"term"`
	CommitIndex  uint64        `json:"commit_index"`
	AppliedIndex uint64        `json:"applied_index"`
	Sessions     int           `json:"sessions"`
	Znodes       int           `json:"znodes"`
}

// Status reports this node's Raft state.
func (n *Node) Status() Status {
	_, leader := n.raft.LeaderWithID()
	return Status{
		Node:         n.cfg.NodeName,
		State:        n.raft.State().String(),
		Leader:       string(leader),
		NoLeaderFor:  n.NoLeaderFor(),
		Term:         n.raft.CurrentTerm(),
		CommitIndex:  n.raft.CommitIndex(),
		AppliedIndex: n.raft.AppliedIndex(),
		Sessions:     len(n.fsm.Sessions()),
		Znodes:       n.fsm.NodeCount(),
	}
}

// Stats are sizes of this agent's state, for metrics: what may grow with
// time or with the writes applied.
type Stats struct {
	fsm.Sizes
	// LocalSessions are the sessions this agent keeps alive for its apps.
	LocalSessions int
	// LocalByState counts LocalSessions by their state (StateConnected,
	// StateSuspended); every state has an entry, zero or not.
	LocalByState map[SessionState]int
	// ExpiryTracked are the sessions the leader tracks for expiry (0 on
	// a follower).
	ExpiryTracked int
	// LeaderChanges counts the times this agent learnt of a new leader
	// (itself included) since it started.
	LeaderChanges uint64
	// Snapshots describe the snapshots this agent persisted.
	Snapshots fsm.SnapshotStats
}

// Stats returns sizes of this agent's state.
func (n *Node) Stats() Stats {
	byState := map[SessionState]int{StateConnected: 0, StateSuspended: 0}
	n.local.mu.Lock()
	local := len(n.local.m)
	for _, s := range n.local.m {
		byState[s.state]++
	}
	n.local.mu.Unlock()
	n.expiry.mu.Lock()
	tracked := len(n.expiry.renewed)
	n.expiry.mu.Unlock()
	return Stats{Sizes: n.fsm.Sizes(), LocalSessions: local, LocalByState: byState, ExpiryTracked: tracked,
		LeaderChanges: n.leaderChanges.Load(), Snapshots: n.fsm.SnapshotStats()}
}

// boltOptions tune the Raft log's bolt file for a log that is compacted
// after every snapshot. Compaction frees tens of thousands of pages; bolt
// by default writes its whole list of free pages on every commit and
// searches it as an array, so each write grew slower with the pages freed
// (a soak lost a quarter of its throughput after the first compaction of
// a long log). Like etcd, the free list is not written (it is rebuilt by
// scanning the file at open) and is kept as a hash map.
func boltOptions() *bbolt.Options {
	return &bbolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType}
}

// ReloadTLS reads the TLS files again (on SIGHUP). New connections use the
// new certificate and CA; on error the old ones stay in use.
func (n *Node) ReloadTLS() error {
	if n.tls == nil {
		return errors.New("TLS is not on")
	}
	return n.tls.reload()
}

// isMemberIP says whether ip is the address of an agent Serf lists (one
// that has not left) or the Raft configuration holds, or this agent's own.
// (The Raft configuration admits the leader and the other servers to an
// agent that restarted, before its Serf has found them again.)
func (n *Node) isMemberIP(ip net.IP) bool {
	if n.refuse != nil && n.refuse(ip) {
		return false
	}
	if ip.Equal(net.ParseIP(n.cfg.BindAddr)) {
		return true
	}
	if s := n.serfUp.Load(); s != nil {
		for _, m := range s.Members() {
			if m.Status != serf.StatusLeft && m.Addr.Equal(ip) {
				return true
			}
		}
	}
	for _, srv := range n.raftServers() {
		if host, _, err := net.SplitHostPort(string(srv.Address)); err == nil && ip.Equal(net.ParseIP(host)) {
			return true
		}
	}
	return false
}

// raftServers returns the latest Raft configuration's servers (none before
// Raft runs).
func (n *Node) raftServers() []raft.Server {
	r := n.raftUp.Load()
	if r == nil {
		return nil
	}
	f := r.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	return f.Configuration().Servers
}

// agentAt returns the name of the agent whose Raft and RPC address is addr,
// as Serf or the Raft configuration knows it, or "".
func (n *Node) agentAt(addr string) string {
	if s := n.serfUp.Load(); s != nil {
		for _, m := range s.Members() {
			if m.Tags[tagRPC] == addr {
				return m.Name
			}
		}
	}
	for _, srv := range n.raftServers() {
		if string(srv.Address) == addr {
			return string(srv.ID)
		}
	}
	return ""
}

// proveName checks, with TLS on, that the agent at addr shows a
// certificate for name: a server or replica is added to Raft only then.
// Without TLS, any member is added. It gives up when ctx ends.
func (n *Node) proveName(ctx context.Context, name, addr string) error {
	if n.tls == nil {
		return nil
	}
	d := net.Dialer{Timeout: handshakeTimeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	tc, err := n.dialer.handshake(c, name, handshakeTimeout)
	if err != nil {
		return fmt.Errorf("agent %s at %s did not show a valid certificate: %w", name, addr, err)
	}
	defer tc.Close()
	if got := peerName(tc); got != name {
		return fmt.Errorf("agent %s at %s showed a certificate for %q", name, addr, got)
	}
	return nil
}

// await waits for Raft's answer to f, or until ctx ends. Raft does not
// answer every future when it shuts down: a log entry left in a channel
// between its goroutines (on its way to the FSM, say) is dropped
// unanswered. Every goroutine Close waits for therefore waits on a future
// only through await, and the one goroutine left behind waiting for such
// an answer goes with the process.
func await(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
