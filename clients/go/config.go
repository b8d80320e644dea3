package warden

import (
	"context"
	"errors"

	"github.com/warden-dev/warden/localapi/wire"
)

// Config is a configuration value kept in one znode, or a tree of them
// under it: read it, compare-and-set it by version, and follow every
// change in order.
//
//	cfg := c.Config("/config/app")
//	sub, err := cfg.Subscribe(ctx, 0) // the current value first, then every change
//	for {
//		u, err := sub.Next(ctx)
//		if err != nil {
//			return err // on ErrClosed: dial again, then Subscribe(ctx, sub.Last())
//		}
//		apply(u)
//	}
//
// Resuming: every update carries the zxid of the change it reports. Keep
// the zxid of the last update you handled (ConfigSubscription.Last keeps
// the last one Next returned); a later Subscribe from that
// zxid, on this or any other agent, continues with exactly the changes
// after it: none skipped, none repeated. Only when the agent no longer
// holds the history that far back does it send the current state again,
// as updates marked Resync.
type Config struct {
	c *Client
	// Path is the config's node (the root of the tree, for SubscribeTree).
	Path string
}

// Config returns the config at path.
func (c *Client) Config(path string) *Config { return &Config{c: c, Path: path} }

// ConfigAbsent, as Set's expected version, sets the value only if the node
// does not exist yet.
const ConfigAbsent int32 = -2

// Get returns the value and its version, as this agent's replica has it
// (call Sync first to see every write made through other agents before
// the call). It fails with ErrNoNode when the config was never set.
func (f *Config) Get(ctx context.Context) ([]byte, int32, error) {
	data, st, err := f.c.Get(ctx, f.Path)
	return data, st.Version, err
}

// Set writes the value and returns its new version. With an expected
// version of 0 or more it writes only if the value still has that version
// (else ErrBadVersion; ErrNoNode if it was never set); with ConfigAbsent
// only if it was never set (else ErrNodeExists); with AnyVersion always,
// creating the node (and its missing parents) if need be. A value's first
// version is 0; every Set adds one.
func (f *Config) Set(ctx context.Context, value []byte, expected int32) (int32, error) {
	if expected == ConfigAbsent {
		return 0, f.create(ctx, value)
	}
	for {
		st, err := f.c.Set(ctx, f.Path, value, expected)
		if !errors.Is(err, ErrNoNode) || expected != AnyVersion {
			return st.Version, err
		}
		err = f.create(ctx, value)
		if !errors.Is(err, ErrNodeExists) {
			return 0, err
		}
		// Created by someone else meanwhile: set it after all.
	}
}

// create makes the config's node, and the parents it lacks.
func (f *Config) create(ctx context.Context, value []byte) error {
	_, err := f.c.Create(ctx, f.Path, value, Persistent)
	if !errors.Is(err, ErrNoNode) {
		return err
	}
	for i := 1; i < len(f.Path); i++ {
		if f.Path[i] != '/' {
			continue
		}
		if _, err := f.c.Create(ctx, f.Path[:i], nil, Persistent); err != nil && !errors.Is(err, ErrNodeExists) {
			return err
		}
	}
	_, err = f.c.Create(ctx, f.Path, value, Persistent)
	return err
}

// Subscribe follows the config's node: the current value first (one update
// marked Resync and Synced, Deleted if the node does not exist), then
// every change, in order. With from > 0 it instead resumes after that
// zxid (the Zxid of the last update handled).
func (f *Config) Subscribe(ctx context.Context, from uint64) (*ConfigSubscription, error) {
	return f.subscribe(ctx, wire.ScopeNode, from)
}

// SubscribeTree follows the config's node and every node below it: the
// current state first (one update per node, parents before children,
// each marked Resync; the last also Synced), then every change, in order.
// With from > 0 it resumes after that zxid.
//
// Several nodes may change under one zxid (one Multi). Resuming after a
// zxid skips every change it carries, so record a zxid as handled only
// once you have handled all of its updates.
func (f *Config) SubscribeTree(ctx context.Context, from uint64) (*ConfigSubscription, error) {
	return f.subscribe(ctx, wire.ScopeSubtree, from)
}

func (f *Config) subscribe(ctx context.Context, scope string, from uint64) (*ConfigSubscription, error) {
	sub, err := f.c.Subscribe(ctx, f.Path, SubscribeOptions{Scope: scope, FromZxid: from, Fold: true})
	if err != nil {
		return nil, err
	}
	return &ConfigSubscription{sub: sub, from: from, last: from}, nil
}

// ConfigUpdate is one change of a config, or one node of its current
// state (Resync).
type ConfigUpdate struct {
	// Path is the node that changed.
	Path string
	// Value is the node's value after the change (nil when Deleted).
	Value []byte
	// Version is the value's version (when Deleted, the last one it had;
	// 0 for a Deleted update of a resync, which does not carry it).
	Version int32
	// Zxid is the resume point: subscribing again from it continues with
	// the changes after this one. For a Resync update it is the zxid of
	// the state the resync shows.
	Zxid uint64
	// Deleted: the node is gone (or, in a resync, does not exist).
	Deleted bool
	// Resync: this update is part of the current state, sent when the
	// subscription starts from nothing or its history is gone, rather than
	// a change. A resync names every node that exists, then, as Deleted,
	// every node this subscription had reported that no longer exists
	// (the agent keeps track of them); a resync of nothing is one Deleted
	// update of the config's own path.
	Resync bool
	// Synced marks the last update of a resync: the state is complete, and
	// what follows are changes. A subscriber that resumed in a new process
	// should drop any node it remembers that the resync did not name.
	Synced bool
}

// ConfigSubscription is an ordered stream of a config's updates. It is not
// safe for concurrent use. The agent folds its resyncs (SubscribeOptions
// Fold), so each event it sends is one update.
type ConfigSubscription struct {
	sub  *Subscription
	from uint64 // changes at or below this were handled before
	last uint64 // Zxid of the last update Next returned
}

// Next waits for the next update. After an error from the connection
// (ErrClosed), dial again and resume with Subscribe(ctx, Last()).
func (s *ConfigSubscription) Next(ctx context.Context) (ConfigUpdate, error) {
	for {
		ev, err := s.sub.Next(ctx)
		if err != nil {
			return ConfigUpdate{}, err
		}
		u := ConfigUpdate{Path: ev.Path, Value: ev.Data, Version: ev.Stat.Version, Zxid: ev.Zxid}
		switch ev.Type {
		case wire.ChangeResync:
			u.Resync, u.Deleted, u.Synced = true, ev.Deleted, ev.Synced
		case wire.ChangeCreated, wire.ChangeDataChanged, wire.ChangeDeleted:
			if ev.Zxid <= s.from {
				// An agent that had not yet applied the resume point when
				// it was asked to resume sends these again: they were handled.
				continue
			}
			u.Deleted = ev.Type == wire.ChangeDeleted
		default:
			continue
		}
		if u.Deleted {
			u.Value = nil
		}
		s.last = u.Zxid
		return u, nil
	}
}

// Last is the Zxid of the last update Next returned (or the zxid the
// subscription resumed from): where a new subscription should resume.
func (s *ConfigSubscription) Last() uint64 { return s.last }

// Close ends the subscription.
func (s *ConfigSubscription) Close(ctx context.Context) error { return s.sub.Close(ctx) }
