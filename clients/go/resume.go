package warden

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/warden-dev/warden/localapi/wire"
)

// Resuming a resumable session (protocol 5.5). When the client's
// connection drops, it reports SessionDisconnected and resumes the session
// by itself, trying again with a growing pause until the session timeout
// has passed since the drop:
//
//   - the resuming hello carries reclaim and holds, the keys of every lease
//     the app holds (locks, read and write locks, semaphore leases,
//     candidacies): the agent deletes what requests cut short by the drop
//     left queued, and nothing the app holds;
//   - calls made meanwhile fail at once with ErrDisconnected;
//   - grant waits in flight (lock, read and write lock, semaphore acquire,
//     campaign, queue take) are sent again once the session is back,
//     within what is left of their caller's wait; other requests in flight
//     fail with ErrDisconnected, their outcome unknown;
//   - subscriptions are opened again from the last change they received
//     (folded ones with the paths they know), the recipes' watches afresh
//     (they start with the current state); one-shot watches end with
//     ErrDisconnected.
//
// Then it reports SessionConnected. If the session cannot be resumed (it
// expired, or the timeout passed), it reports SessionLost and the client
// ends with ErrSessionLost.

// resume runs after the client's connection dropped, until the session is
// resumed or given up.
func (c *Client) resume() {
	deadline := time.Now().Add(c.timeout)
	delay := 20 * time.Millisecond
	var last error
	for c.Err() == nil {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		ok, err := c.resumeOnce(min(left, 10*time.Second))
		if ok || c.Err() != nil {
			return
		}
		if err == nil {
			// The new connection ended before it was installed; the agent
			// started the session's timeout again when it closed.
			deadline = time.Now().Add(c.timeout)
			continue
		}
		last = err
		if code := CodeOf(err); code == wire.CodeSessionExpired || code == wire.CodeBadArguments || code == wire.CodeUnsupportedVersion {
			break
		}
		select {
		case <-time.After(min(delay, max(time.Until(deadline), 0))):
		case <-c.done:
			return
		}
		delay = min(2*delay, 500*time.Millisecond)
	}
	if c.Err() != nil {
		return
	}
	err := fmt.Errorf("%w: it could not be resumed within its timeout", ErrSessionLost)
	if last != nil {
		err = fmt.Errorf("%w: it could not be resumed: %w", ErrSessionLost, last)
	}
	c.report(SessionLost)
	c.end(err)
}

// resumeOnce tries one resume: true once the session is resumed on a new
// connection; false with nil when that connection ended before it could
// be used, or with the error of the attempt.
func (c *Client) resumeOnce(timeout time.Duration) (bool, error) {
	ctx, cancel := context.WithTimeout(c.ctx, timeout)
	defer cancel()
	// The holds are read as the hello goes out: no grant can arrive on
	// the old connection any more.
	holds := c.holds()
	cn, hello, err := c.handshake(ctx, &wire.Request{Op: wire.OpHello, Protocol: wire.ProtocolVersion,
		SessionID: c.session, Secret: c.secret, Reclaim: true, Holds: holds})
	if err != nil {
		return false, err
	}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		cn.nc.Close()
		return false, c.err
	}
	c.dialing = cn // Close ends it
	c.mu.Unlock()
	// Before the session is reported connected and before waiting calls
	// go on: release what the app let go of while the hello listed it,
	// and open the streams again (so that an app call made on connected
	// comes after).
	if err := c.releaseOrphans(ctx, cn, holds); err != nil && !errors.Is(err, ErrDisconnected) {
		cn.nc.Close()
		return false, err
	}
	c.reopenStreams(cn)
	return c.install(cn, hello), nil
}

// install makes cn, whose hello succeeded, the client's connection and
// reports the session's state; false if cn has ended meanwhile.
func (c *Client) install(cn *conn, hello *wire.HelloResult) bool {
	c.smu.Lock()
	defer c.smu.Unlock()
	c.mu.Lock()
	if c.err != nil || cn.pending == nil {
		c.mu.Unlock()
		return false
	}
	c.cn, c.dialing, c.agent = cn, nil, hello.Agent
	cn.installed = true
	state := cn.state
	c.signal()
	c.mu.Unlock()
	if c.session == 0 {
		return true
	}
	if state == "" {
		// The hello's success is the agent's confirmation; the connected
		// event that follows is then not reported a second time.
		state = SessionConnected
	}
	c.reportLocked(state)
	return true
}

// sessionEvent hears a session state from the agent on cn.
func (c *Client) sessionEvent(cn *conn, state string) {
	c.smu.Lock()
	defer c.smu.Unlock()
	c.mu.Lock()
	if state == SessionLost {
		cn.lost = true // the connection closes next: no resume
	}
	installed := cn.installed && c.cn == cn
	if !cn.installed {
		cn.state = state
	}
	c.mu.Unlock()
	if installed {
		c.reportLocked(state)
	}
}

// report passes a change of the session's state to the app.
func (c *Client) report(state string) {
	c.smu.Lock()
	defer c.smu.Unlock()
	c.reportLocked(state)
}

// reportLocked is report with c.smu held.
func (c *Client) reportLocked(state string) {
	c.mu.Lock()
	if c.state == state || c.state == SessionLost {
		c.mu.Unlock()
		return
	}
	c.state = state
	c.signal()
	c.mu.Unlock()
	if c.opts.OnSessionState != nil {
		c.opts.OnSessionState(state)
	}
}

// WaitConnected waits until the session is connected: at once when it is,
// else through a resume under way (or a suspension) until the agent
// confirms the session again. It fails with the client's error once the
// client has ended (ErrSessionLost when the session could not be
// resumed), or with ctx's.
func (c *Client) WaitConnected(ctx context.Context) error {
	for {
		c.mu.Lock()
		err, cn, state, ch := c.err, c.cn, c.state, c.changed
		c.mu.Unlock()
		if err != nil {
			return err
		}
		if cn != nil && (state == SessionConnected || c.session == 0) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// waitConn waits until the client has a connection again.
func (c *Client) waitConn(ctx context.Context) error {
	for {
		c.mu.Lock()
		err, cn, ch := c.err, c.cn, c.changed
		c.mu.Unlock()
		if err != nil {
			return err
		}
		if cn != nil {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// holds lists the keys of the leases the app holds, in order.
func (c *Client) holds() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]string, 0, len(c.held))
	for k := range c.held {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// release gives a lease back with req (unlock, semaphore_release,
// resign). Once that is done, or the lease is not held any more, the key
// is no longer among the holds. quiet is for a grant the app never got
// (an undo): if the connection is down, the lease is dropped from the
// holds, so the resume's reclaim removes it, and released once the
// session is back if the resume listed it already.
func (c *Client) release(ctx context.Context, req *wire.Request, key string, quiet bool) error {
	err := c.call(ctx, req, nil)
	switch {
	case err == nil || errors.Is(err, ErrNotHeld):
		c.mu.Lock()
		delete(c.held, key)
		c.mu.Unlock()
	case quiet && errors.Is(err, ErrDisconnected):
		c.mu.Lock()
		delete(c.held, key)
		if c.orphans != nil {
			c.orphans[key] = req
		}
		cn := c.cn
		c.mu.Unlock()
		if cn != nil {
			// Resumed meanwhile, with the lease among the holds.
			go func() {
				ctx, cancel := undoCtx()
				defer cancel()
				_ = c.releaseOrphans(ctx, cn, nil)
			}()
		}
	}
	return err
}

// releaseOrphans releases, on cn, the leases the app let go of while the
// connection was down. With holds (a resume's), those the resume did not
// list are already gone: the agent reclaimed them.
func (c *Client) releaseOrphans(ctx context.Context, cn *conn, holds []string) error {
	listed := map[string]bool{}
	for _, k := range holds {
		listed[k] = true
	}
	c.mu.Lock()
	todo := make(map[string]*wire.Request, len(c.orphans))
	for k, req := range c.orphans {
		if holds != nil && !listed[k] {
			delete(c.orphans, k)
			continue
		}
		todo[k] = req
	}
	c.mu.Unlock()
	for k, req := range todo {
		r := *req
		err := c.callOn(ctx, cn, &r, nil)
		if err != nil && !errors.Is(err, ErrNotHeld) {
			return err
		}
		c.mu.Lock()
		delete(c.orphans, k)
		c.mu.Unlock()
	}
	return nil
}

// reopenStreams opens every stream the drop detached again on cn, each
// with the request it makes now (a subscription: from the last change it
// received). A stream the agent refuses ends with the agent's error; one
// whose request the connection takes down with it stays detached, for the
// next resume.
func (c *Client) reopenStreams(cn *conn) {
	c.mu.Lock()
	var todo []*stream
	for s := range c.streams {
		if s.cn == nil && s.reopen != nil {
			todo = append(todo, s)
		}
	}
	c.mu.Unlock()
	type opening struct {
		s  *stream
		ch chan *wire.Message
	}
	var sent []opening
	for _, s := range todo {
		req := s.reopenRequest()
		if req == nil {
			continue // closed by the app
		}
		_, ch, err := cn.send(req, s)
		if errors.Is(err, errDropped) {
			return
		}
		if err != nil {
			s.drop(fmt.Errorf("open the stream again after the resume: %w", err))
			continue
		}
		sent = append(sent, opening{s, ch})
	}
	if len(sent) == 0 {
		return
	}
	go func() {
		for _, o := range sent {
			m, ok := <-o.ch
			switch {
			case !ok:
				// The connection ended: the next resume opens it again.
			case m.Error != nil:
				o.s.drop(m.Error)
			case o.s.isClosed():
				// Closed by the app while it was being opened again.
				ctx, cancel := undoCtx()
				_ = c.callOn(ctx, cn, &wire.Request{Op: wire.OpUnsubscribe, Sub: streamID(m)}, nil)
				cancel()
			}
		}
	}()
}
