package agent

import (
	"context"
	"errors"

	"github.com/warden-dev/warden/cluster"
	"github.com/warden-dev/warden/fsm"
	"github.com/warden-dev/warden/localapi"
	"github.com/warden-dev/warden/localapi/wire"
	"github.com/warden-dev/warden/zkapi"
)

// backend adapts the cluster node to what the socket server needs.
type backend struct {
	*cluster.Node
	server bool
}

var (
	_ localapi.Backend = backend{}
	_ zkapi.Backend    = backend{}
)

// Index is the zxid of the last entry this replica applied.
func (b backend) Index() uint64 { return b.Node.FSM().Index() }

// WaitIndex returns once this replica has applied index.
func (b backend) WaitIndex(ctx context.Context, index uint64) error {
	return b.Node.FSM().WaitIndex(ctx, index)
}

func (b backend) OpenSession(ctx context.Context, o localapi.SessionOptions) (fsm.Session, error) {
	return b.Node.OpenSession(ctx, cluster.SessionOptions{
		Timeout: o.Timeout, Resumable: o.Resumable, Heartbeat: o.Heartbeat,
		Pid: o.Pid, Uid: o.Uid, Gid: o.Gid, Client: o.Client, OnState: stateFunc(o.OnState),
	})
}

func (b backend) ResumeSession(ctx context.Context, id uint64, secret []byte, onState func(string)) (fsm.Session, error) {
	s, err := b.Node.ResumeSession(ctx, id, secret, stateFunc(onState))
	if errors.Is(err, cluster.ErrBadSecret) {
		return s, localapi.ErrBadSecret
	}
	return s, err
}

func stateFunc(f func(string)) func(cluster.SessionState) {
	if f == nil {
		return nil
	}
	return func(s cluster.SessionState) { f(string(s)) }
}

func (b backend) Status() wire.StatusResult {
	st := b.Node.Status()
	role := "replica"
	if b.server {
		role = "server"
	}
	return wire.StatusResult{
		Node: st.Node, Role: role, State: st.State, Leader: st.Leader,
		Term: st.Term, CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIndex,
		Sessions: st.Sessions, Znodes: st.Znodes, NoLeaderMs: st.NoLeaderFor.Milliseconds(),
	}
}

func (b backend) Sessions() []wire.SessionInfo {
	ss := b.Node.FSM().Sessions()
	out := make([]wire.SessionInfo, len(ss))
	for i, s := range ss {
		out[i] = wire.SessionInfo{
			ID: s.ID, Agent: s.Owner, Pid: s.Pid, Uid: s.Uid, Gid: s.Gid, Client: s.Client,
			TimeoutMs: s.TimeoutMs, Resumable: s.Resumable, Heartbeat: s.Heartbeat, Created: s.Created,
		}
	}
	return out
}

func (b backend) Ephemerals(id uint64) []string { return b.Node.FSM().Ephemerals(id) }

func (b backend) Members() []wire.Member {
	var out []wire.Member
	for _, m := range b.Node.Members() {
		out = append(out, wire.Member(m))
	}
	return out
}
