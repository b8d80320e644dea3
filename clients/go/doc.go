// Package warden is the Go client of a Warden agent. It speaks the local
// protocol over the agent's Unix socket: one connection is one session,
// and everything the session holds (ephemeral nodes, locks) is released
// the moment the connection closes.
//
//	c, err := warden.Dial(ctx, warden.Options{})
//	lease, err := c.Lock(ctx, "/locks/nightly")
//	defer lease.Unlock(ctx)
//	use(lease.Token)
//
// Every blocking call takes a context; cancelling it cancels the request
// at the agent too. Its deadline goes to the agent (timeout_ms, or a
// grant's wait_ms), which answers why a call failed just before it
// passes: a cluster without a leader is ErrUnavailable, "cluster
// unavailable: no leader for 5s", not a bare context.DeadlineExceeded.
//
// A resumable session (Options.Resumable) outlives its connection for its
// timeout, and the client resumes it by itself when the connection drops:
// calls made meanwhile fail with ErrDisconnected, lock and other grant
// waits go on, and streams continue where they were (the README has the
// details).
package warden
