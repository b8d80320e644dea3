package warden

import (
	"context"
	"time"

	"github.com/warden-dev/warden/localapi/wire"
)

// Stat is a znode's metadata.
type Stat = wire.Stat

// AnyVersion matches every version in Set, Delete and CheckOp.
const AnyVersion int32 = -1

// CreateMode says what kind of node Create makes; modes combine with |.
type CreateMode uint8

// Create modes.
const (
	Persistent CreateMode = 0
	// Ephemeral nodes are deleted when this client's session ends.
	Ephemeral CreateMode = 1 << iota
	// Sequential appends a 10-digit, zero-padded, increasing number.
	Sequential
	// Container nodes are deleted once their last child is.
	Container
)

func version(v int32) *int64 {
	w := int64(v)
	return &w
}

// Create makes a node and returns its path (with the sequence suffix, for
// Sequential).
func (c *Client) Create(ctx context.Context, path string, data []byte, mode CreateMode) (string, error) {
	var r wire.CreateResult
	err := c.call(ctx, &wire.Request{
		Op: wire.OpCreate, Path: path, Data: data,
		Ephemeral: mode&Ephemeral != 0, Sequential: mode&Sequential != 0, Container: mode&Container != 0,
	}, &r)
	return r.Path, err
}

// CreateTTL makes a TTL node: a persistent node (mode may add
// Sequential only) that the cluster deletes once ttl has passed since its
// last change (its creation or last Set; a Set keeps the TTL and restarts
// the countdown) and it has no children. ttl is sent in whole
// milliseconds, rounded up; it must be positive. The node's Stat reports
// it as TTL, in milliseconds.
func (c *Client) CreateTTL(ctx context.Context, path string, data []byte, mode CreateMode, ttl time.Duration) (string, error) {
	ms, err := ttlMs(ttl)
	if err != nil {
		return "", err
	}
	var r wire.CreateResult
	err = c.call(ctx, &wire.Request{
		Op: wire.OpCreate, Path: path, Data: data, TTLMs: ms,
		Ephemeral: mode&Ephemeral != 0, Sequential: mode&Sequential != 0, Container: mode&Container != 0,
	}, &r)
	return r.Path, err
}

// ttlMs turns a TTL into the milliseconds the agent takes, rounded up.
func ttlMs(ttl time.Duration) (int64, error) {
	if ttl <= 0 {
		return 0, &wire.Error{Code: wire.CodeBadArguments, Message: "a TTL must be positive, not " + ttl.String()}
	}
	return int64((ttl + time.Millisecond - 1) / time.Millisecond), nil
}

// Get returns a node's data and Stat.
func (c *Client) Get(ctx context.Context, path string) ([]byte, Stat, error) {
	var r wire.GetResult
	err := c.call(ctx, &wire.Request{Op: wire.OpGet, Path: path}, &r)
	return r.Data, r.Stat, err
}

// Set replaces a node's data if its version is v (or v is AnyVersion).
func (c *Client) Set(ctx context.Context, path string, data []byte, v int32) (Stat, error) {
	var r wire.StatResult
	err := c.call(ctx, &wire.Request{Op: wire.OpSet, Path: path, Data: data, Version: version(v)}, &r)
	return r.Stat, err
}

// Delete removes a childless node if its version is v (or v is AnyVersion).
func (c *Client) Delete(ctx context.Context, path string, v int32) error {
	return c.call(ctx, &wire.Request{Op: wire.OpDelete, Path: path, Version: version(v)}, nil)
}

// Exists reports whether a node exists, and its Stat if it does.
func (c *Client) Exists(ctx context.Context, path string) (Stat, bool, error) {
	var r wire.ExistsResult
	err := c.call(ctx, &wire.Request{Op: wire.OpExists, Path: path}, &r)
	return r.Stat, r.Exists, err
}

// Children lists a node's children by name, in byte order.
func (c *Client) Children(ctx context.Context, path string) ([]string, Stat, error) {
	var r wire.ChildrenResult
	err := c.call(ctx, &wire.Request{Op: wire.OpChildren, Path: path}, &r)
	return r.Children, r.Stat, err
}

// Sync waits until this agent has applied every write committed before the
// call, so the next read is linearizable. It returns the zxid reached.
func (c *Client) Sync(ctx context.Context) (uint64, error) {
	var r wire.SyncResult
	err := c.call(ctx, &wire.Request{Op: wire.OpSync}, &r)
	return r.Zxid, err
}

// Ping checks that the agent answers.
func (c *Client) Ping(ctx context.Context) error {
	return c.call(ctx, &wire.Request{Op: wire.OpPing}, nil)
}

// Op is one operation of a Multi; build it with CreateOp, DeleteOp, SetOp
// or CheckOp.
type Op = wire.Op

// CreateOp creates a node within a Multi.
func CreateOp(path string, data []byte, mode CreateMode) Op {
	return Op{Op: wire.OpCreate, Path: path, Data: data,
		Ephemeral: mode&Ephemeral != 0, Sequential: mode&Sequential != 0, Container: mode&Container != 0}
}

// CreateTTLOp creates a TTL node within a Multi (see CreateTTL). A ttl
// that is not positive makes the Multi fail with bad_arguments.
func CreateTTLOp(path string, data []byte, mode CreateMode, ttl time.Duration) Op {
	op := CreateOp(path, data, mode)
	op.TTLMs = -1 // refused by the agent
	if ms, err := ttlMs(ttl); err == nil {
		op.TTLMs = ms
	}
	return op
}

// DeleteOp deletes a node within a Multi.
func DeleteOp(path string, v int32) Op { return Op{Op: wire.OpDelete, Path: path, Version: version(v)} }

// SetOp sets a node's data within a Multi.
func SetOp(path string, data []byte, v int32) Op {
	return Op{Op: wire.OpSet, Path: path, Data: data, Version: version(v)}
}

// CheckOp requires a node to have version v within a Multi.
func CheckOp(path string, v int32) Op { return Op{Op: wire.OpCheck, Path: path, Version: version(v)} }

// OpResult is one op's outcome in a Multi.
type OpResult = wire.OpResult

// Multi applies ops all-or-nothing. When one is refused nothing is applied,
// and the error's Index (see wire.Error) names the op.
func (c *Client) Multi(ctx context.Context, ops ...Op) ([]OpResult, error) {
	var r wire.MultiResult
	err := c.call(ctx, &wire.Request{Op: wire.OpMulti, Ops: ops}, &r)
	return r.Results, err
}

// Status is an agent's view of the cluster.
type Status = wire.StatusResult

// Member is one agent of the cluster.
type Member = wire.Member

// Status reports the agent's Raft state, leader and counts.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var r wire.StatusResult
	err := c.call(ctx, &wire.Request{Op: wire.OpStatus}, &r)
	return r, err
}

// SessionInfo is one open session: its agent, the app's process (pid,
// uid, gid as the kernel told the agent) and how it was opened.
type SessionInfo = wire.SessionInfo

// Sessions lists the cluster's open sessions, as this agent's replica
// has them. It needs read access to "/".
func (c *Client) Sessions(ctx context.Context) ([]SessionInfo, error) {
	var r wire.SessionsResult
	err := c.call(ctx, &wire.Request{Op: wire.OpSessions}, &r)
	return r.Sessions, err
}

// Members lists the cluster's agents with their roles and Raft suffrage.
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	var r wire.MembersResult
	err := c.call(ctx, &wire.Request{Op: wire.OpMembers}, &r)
	return r.Members, err
}

// GetW is Get that also sets a one-shot watch, fired when the node's data
// changes or the node is deleted.
func (c *Client) GetW(ctx context.Context, path string) ([]byte, Stat, *Watch, error) {
	var r wire.GetResult
	w, err := c.watchCall(ctx, &wire.Request{Op: wire.OpGet, Path: path, Watch: true}, &r)
	return r.Data, r.Stat, w, err
}

// ExistsW is Exists that also sets a one-shot watch, fired when the node is
// created, changed or deleted.
func (c *Client) ExistsW(ctx context.Context, path string) (Stat, bool, *Watch, error) {
	var r wire.ExistsResult
	w, err := c.watchCall(ctx, &wire.Request{Op: wire.OpExists, Path: path, Watch: true}, &r)
	return r.Stat, r.Exists, w, err
}

// ChildrenW is Children that also sets a one-shot watch, fired when a child
// is added or removed or the node is deleted.
func (c *Client) ChildrenW(ctx context.Context, path string) ([]string, Stat, *Watch, error) {
	var r wire.ChildrenResult
	w, err := c.watchCall(ctx, &wire.Request{Op: wire.OpChildren, Path: path, Watch: true}, &r)
	return r.Children, r.Stat, w, err
}

func (c *Client) watchCall(ctx context.Context, req *wire.Request, out any) (*Watch, error) {
	s := newStream(c, nil)
	m, err := c.roundTrip(ctx, req, false, s)
	if err != nil {
		return nil, err
	}
	if err := decodeReply(m, out); err != nil {
		return nil, err
	}
	c.mu.Lock()
	opened := s.cn != nil
	c.mu.Unlock()
	if !opened {
		return nil, c.dropErr()
	}
	return &Watch{s}, nil
}
