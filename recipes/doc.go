// Package recipes implements coordination recipes (locks, read-write
// locks, semaphores, elections, barriers, queues, counters, task progress
// and groups) on a small store interface of znode operations, one-shot
// watches and ordered subscriptions. Recipes know nothing of Raft or sockets:
// every recipe works unchanged against any Store.
//
// All recipes are herd-free (a waiter watches only its predecessor), tied
// to the caller's session, and cancellable through their context.
package recipes
