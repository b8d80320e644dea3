// Package recipes implements coordination recipes (locks now; elections,
// config, progress and the rest later) on a small store interface of znode
// operations and one-shot watches. Recipes know nothing of Raft or sockets:
// every recipe works unchanged against any Store.
//
// All recipes are herd-free (a waiter watches only its predecessor), tied
// to the caller's session, and cancellable through their context.
package recipes
