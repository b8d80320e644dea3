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
// at the agent too.
package warden
