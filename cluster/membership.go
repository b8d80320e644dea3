package cluster

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"
	"github.com/hashicorp/serf/serf"
)

// Serf tags every agent carries.
const (
	tagRole    = "role"   // "server" or "replica"
	tagRPC     = "rpc"    // host:port of Raft and agent RPC
	tagExpect  = "expect" // a server's bootstrap-expect
	tagVersion = "v"

	roleServer  = "server"
	roleReplica = "replica"
)

// Member is an agent as Serf and Raft see it.
type Member struct {
	Name     string `json:"name"`
	Addr     string `json:"addr"` // Serf address
	RPCAddr  string `json:"rpc_addr"`
	Role     string `json:"role"`
	Status   string `json:"status"`   // Serf: alive, leaving, left, failed
	Suffrage string `json:"suffrage"` // Raft: voter, nonvoter, or none
	Version  string `json:"version"`
}

func (n *Node) startSerf() error {
	sc := serf.DefaultConfig()
	sc.Init()
	sc.NodeName = n.cfg.NodeName
	role := roleReplica
	if n.cfg.Server {
		role = roleServer
	}
	sc.Tags = map[string]string{
		tagRole: role, tagRPC: n.rpcAddr, tagVersion: n.cfg.Version,
		tagExpect: strconv.Itoa(n.cfg.BootstrapExpect),
	}
	sc.EventCh = n.serfCh
	sc.ReconnectTimeout = n.cfg.ReconnectTimeout
	// The snapshot keeps the members this agent knew, so after a restart
	// it finds them again by itself and its member list is not empty.
	sc.SnapshotPath = filepath.Join(n.cfg.DataDir, "serf.snapshot")
	sc.RejoinAfterLeave = true
	sc.Logger = log.New(n.cfg.LogOutput, "", 0)
	sc.EnableNameConflictResolution = false
	if ip := net.ParseIP(n.cfg.BindAddr); ip != nil && ip.IsLoopback() {
		// Agents on one host: memberlist's local profile probes and
		// gossips faster than the LAN one.
		sc.MemberlistConfig = memberlist.DefaultLocalConfig()
		// But keep the LAN profile's retransmits: with the local
		// profile's 2, a leaving agent's farewell reaches only two
		// agents itself, and one that misses the gossip after that
		// lists it "leaving" until its failure detector gives up on it
		// (up to ~18 s with five agents).
		sc.MemberlistConfig.RetransmitMult = memberlist.DefaultLANConfig().RetransmitMult
	}
	// Serf queries carry only the keyring requests (warden keyring), which
	// wait for every agent's answer: give them four times Serf's default
	// (6.4 s on one host, 12.8 s on a LAN, for up to 9 agents) so that a
	// busy agent is not counted as not answering.
	sc.QueryTimeoutMult *= 4
	mc := sc.MemberlistConfig
	mc.BindAddr = n.cfg.BindAddr
	mc.BindPort = n.cfg.SerfPort
	mc.AdvertiseAddr = n.cfg.BindAddr
	mc.AdvertisePort = n.cfg.SerfPort
	mc.Logger = sc.Logger
	if _, err := os.Stat(filepath.Join(n.cfg.DataDir, keyringFile)); err == nil || len(n.cfg.EncryptKey) > 0 {
		if err := n.gossipKeyring(sc); err != nil {
			return err
		}
	}
	if n.cfg.TuneSerf != nil {
		n.cfg.TuneSerf(sc)
	}
	s, err := serf.Create(sc)
	if err != nil {
		return fmt.Errorf("start serf on %s:%d: %w", n.cfg.BindAddr, n.cfg.SerfPort, err)
	}
	n.serf = s
	n.serfUp.Store(s)
	n.run.Go(n.handleSerfEvents)
	n.run.Go(n.retryJoin)
	n.maybeBootstrap(n.run.Context())
	return nil
}

// knownFile, in the data dir, lists the Serf addresses of the other agents
// this one knows, one per line, rewritten whenever membership changes.
// Serf's own snapshot buffers its lines for up to the next event, so an
// agent killed soon after the cluster formed may find it empty; with this
// file a restarted agent still joins every agent it knew, whatever its
// --join says.
const knownFile = "serf.known"

// saveKnown writes knownFile if the members (other than this agent and
// those that left) changed since it was last written.
func (n *Node) saveKnown() {
	self := n.serf.LocalMember().Name
	var addrs []string
	for _, m := range n.serf.Members() {
		if m.Name != self && m.Status != serf.StatusLeft {
			addrs = append(addrs, net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port))))
		}
	}
	sort.Strings(addrs)
	text := strings.Join(addrs, "\n")
	if text == n.known {
		return
	}
	path := filepath.Join(n.cfg.DataDir, knownFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text+"\n"), 0o644); err != nil {
		n.cfg.Logger.Warn("cannot record the known agents", "error", err)
		return
	}
	if err := os.Rename(tmp, path); err != nil {
		n.cfg.Logger.Warn("cannot record the known agents", "error", err)
		return
	}
	n.known = text
}

// loadKnown reads knownFile (nothing when there is none).
func loadKnown(dataDir string) []string {
	b, err := os.ReadFile(filepath.Join(dataDir, knownFile))
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

// SerfAddr is the address other agents join.
func (n *Node) SerfAddr() string {
	m := n.serf.LocalMember()
	return net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port)))
}

// RPCAddr is the address of this agent's Raft and RPC port.
func (n *Node) RPCAddr() string { return n.rpcAddr }

// retryJoin joins the configured agents and those the last run knew
// (knownFile), retrying until one answers.
func (n *Node) retryJoin(ctx context.Context) {
	self := n.SerfAddr()
	var addrs []string
	for _, a := range append(slices.Clone(n.cfg.Join), loadKnown(n.cfg.DataDir)...) {
		// Joining yourself "succeeds" and would end the retries before
		// any other agent was found.
		if a = withDefaultPort(a, n.cfg.DefaultSerfPort); a != self && !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		return
	}
	for {
		joined, err := n.serf.Join(addrs, true)
		if joined > 0 {
			n.cfg.Logger.Info("joined", "agents", joined)
			return
		}
		n.cfg.Logger.Warn("join failed; retrying", "addrs", addrs, "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(n.cfg.RetryJoinInterval):
		}
	}
}

// withDefaultPort completes "host" to "host:port".
func withDefaultPort(addr string, port int) string {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr
	}
	return net.JoinHostPort(addr, strconv.Itoa(port))
}

func (n *Node) handleSerfEvents(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-n.serfCh:
			me, ok := e.(serf.MemberEvent)
			if !ok {
				continue
			}
			n.saveKnown()
			if me.Type == serf.EventMemberFailed && n.IsLeader() {
				for _, m := range me.Members {
					n.expiry.agentFailed(m.Name)
				}
			}
			if me.Type == serf.EventMemberReap {
				n.mu.Lock()
				for _, m := range me.Members {
					n.reaped[m.Name] = true
				}
				n.mu.Unlock()
			}
			n.maybeBootstrap(ctx)
			select {
			case n.reconcileCh <- struct{}{}:
			default:
			}
		}
	}
}

// maybeBootstrap bootstraps Raft once bootstrap-expect servers are alive in
// Serf. Every server does this with the same configuration; Raft refuses a
// second bootstrap, and a node with existing state never tries.
func (n *Node) maybeBootstrap(ctx context.Context) {
	if !n.cfg.Server || n.cfg.BootstrapExpect == 0 || n.bootstrapped.Load() {
		return
	}
	var servers []raft.Server
	for _, m := range n.serf.Members() {
		if m.Status != serf.StatusAlive || m.Tags[tagRole] != roleServer {
			continue
		}
		if m.Tags[tagExpect] != strconv.Itoa(n.cfg.BootstrapExpect) {
			n.cfg.Logger.Error("servers disagree on bootstrap-expect; not bootstrapping",
				"member", m.Name, "theirs", m.Tags[tagExpect], "ours", n.cfg.BootstrapExpect)
			return
		}
		if err := n.proveName(ctx, m.Name, m.Tags[tagRPC]); err != nil {
			n.cfg.Logger.Warn("leaving a server out of the bootstrap", "member", m.Name, "error", err)
			continue
		}
		servers = append(servers, raft.Server{
			ID: raft.ServerID(m.Name), Address: raft.ServerAddress(m.Tags[tagRPC]), Suffrage: raft.Voter,
		})
	}
	if len(servers) < n.cfg.BootstrapExpect {
		return
	}
	sort.Slice(servers, func(i, j int) bool { return servers[i].ID < servers[j].ID })
	err := n.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error()
	n.bootstrapped.Store(true)
	if err != nil {
		n.cfg.Logger.Info("not bootstrapping", "reason", err)
		return
	}
	n.cfg.Logger.Info("bootstrapped the cluster", "servers", len(servers))
}

// reconcileLoop keeps the Raft configuration in step with Serf while this
// node leads (until ctx ends): on every membership change, and every few
// seconds.
func (n *Node) reconcileLoop(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		if err := n.reconcile(ctx); err != nil {
			n.cfg.Logger.Warn("reconcile membership", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-n.reconcileCh:
		}
	}
}

// reconcile makes alive servers voters and other alive agents non-voters,
// removes agents that left, and removes failed agents once Serf has reaped
// them. Failed agents that may come back keep their place, and so do
// agents this leader's Serf does not know (yet): an agent that restarted
// may not have found everyone again, and must not take its view of the
// membership for the cluster's.
func (n *Node) reconcile(ctx context.Context) error {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	current := make(map[raft.ServerID]raft.Server)
	for _, s := range f.Configuration().Servers {
		current[s.ID] = s
	}
	self := raft.ServerID(n.cfg.NodeName)
	inSerf := make(map[raft.ServerID]bool)
	timeout := n.cfg.ApplyTimeout
	for _, m := range n.serf.Members() {
		id := raft.ServerID(m.Name)
		inSerf[id] = true
		addr := raft.ServerAddress(m.Tags[tagRPC])
		if addr == "" {
			continue
		}
		have, present := current[id]
		switch m.Status {
		case serf.StatusAlive:
			voter := m.Tags[tagRole] == roleServer
			switch {
			case present && have.Address != addr && id != self:
				if err := await(ctx, n.raft.RemoveServer(id, 0, timeout)); err != nil {
					return err
				}
				present = false
			case present && voter == (have.Suffrage == raft.Voter):
				continue
			}
			if err := n.proveName(ctx, m.Name, string(addr)); err != nil {
				n.cfg.Logger.Warn("not adding an agent to raft", "member", id, "error", err)
				continue
			}
			var err error
			switch {
			case voter:
				err = await(ctx, n.raft.AddVoter(id, addr, 0, timeout))
			case present && have.Suffrage == raft.Voter:
				err = await(ctx, n.raft.DemoteVoter(id, 0, timeout))
			default:
				err = await(ctx, n.raft.AddNonvoter(id, addr, 0, timeout))
			}
			if err != nil {
				return fmt.Errorf("add %s: %w", id, err)
			}
			n.cfg.Logger.Info("added to raft", "member", id, "voter", voter)
		case serf.StatusLeft:
			if present && id != self {
				if err := await(ctx, n.raft.RemoveServer(id, 0, timeout)); err != nil {
					return err
				}
				n.cfg.Logger.Info("removed from raft (left)", "member", id)
			}
		}
	}
	n.mu.Lock()
	reaped := make([]string, 0, len(n.reaped))
	for name := range n.reaped {
		reaped = append(reaped, name)
	}
	n.mu.Unlock()
	for _, name := range reaped {
		id := raft.ServerID(name)
		if _, present := current[id]; present && !inSerf[id] && id != self {
			if err := await(ctx, n.raft.RemoveServer(id, 0, timeout)); err != nil {
				return err
			}
			n.cfg.Logger.Info("removed from raft (reaped)", "member", id)
		}
		n.mu.Lock()
		delete(n.reaped, name)
		n.mu.Unlock()
	}
	return nil
}

// Members lists the agents Serf knows, with their Raft suffrage, and the
// Raft members Serf does not know (status "unknown": for instance a server
// that is down and that this agent has not heard of since it restarted).
func (n *Node) Members() []Member {
	suffrage := make(map[string]string)
	servers := make(map[string]raft.Server)
	if f := n.raft.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			suffrage[string(s.ID)] = map[raft.ServerSuffrage]string{
				raft.Voter: "voter", raft.Nonvoter: "nonvoter", raft.Staging: "staging",
			}[s.Suffrage]
			servers[string(s.ID)] = s
		}
	}
	var out []Member
	for _, m := range n.serf.Members() {
		sf := suffrage[m.Name]
		if sf == "" {
			sf = "none"
		}
		delete(servers, m.Name)
		out = append(out, Member{
			Name: m.Name, Addr: net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port))),
			RPCAddr: m.Tags[tagRPC], Role: m.Tags[tagRole], Status: m.Status.String(),
			Suffrage: sf, Version: m.Tags[tagVersion],
		})
	}
	for name, s := range servers {
		role := roleReplica
		if s.Suffrage == raft.Voter {
			role = roleServer
		}
		out = append(out, Member{
			Name: name, RPCAddr: string(s.Address), Role: role, Status: "unknown", Suffrage: suffrage[name],
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
