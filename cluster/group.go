package cluster

import (
	"context"
	"sync"
)

// group owns a set of goroutines: each one it starts gets the group's
// context, and Stop cancels that context and waits until every one of
// them has returned. Once the group is stopping it starts no more.
//
// Every goroutine in this package is started through a group, and every
// group has an owner that stops it: the Node stops its own group on Close,
// the mux stops the group of its connections, and a goroutine that starts
// others (the leadership monitor, the leader loop, the keepalive loop)
// keeps a group for them and stops it before it returns. So when Close
// returns, nothing the node started is still running.
type group struct {
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	stopping bool
	wg       sync.WaitGroup
}

// newGroup returns a group whose context ends with parent's.
func newGroup(parent context.Context) *group {
	ctx, cancel := context.WithCancel(parent)
	return &group{ctx: ctx, cancel: cancel}
}

// Go runs f in a new goroutine with the group's context and reports true;
// once the group is stopping (or its context has ended) it runs nothing
// and reports false.
func (g *group) Go(f func(ctx context.Context)) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopping || g.ctx.Err() != nil {
		return false
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		f(g.ctx)
	}()
	return true
}

// Context is the context the group's goroutines get.
func (g *group) Context() context.Context { return g.ctx }

// Done is closed when the group's context ends: it was canceled or its
// parent ended.
func (g *group) Done() <-chan struct{} { return g.ctx.Done() }

// Cancel cancels the group's context and refuses new goroutines, without
// waiting for the running ones.
func (g *group) Cancel() {
	g.mu.Lock()
	g.stopping = true
	g.mu.Unlock()
	g.cancel()
}

// Wait refuses new goroutines and waits until the running ones have
// returned. It does not cancel them: call it once they have been told to
// stop (Cancel, or the parent context).
func (g *group) Wait() {
	g.mu.Lock()
	g.stopping = true
	g.mu.Unlock()
	g.wg.Wait()
}

// Stop cancels the group and waits for its goroutines.
func (g *group) Stop() {
	g.Cancel()
	g.Wait()
}
