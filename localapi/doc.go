// Package localapi serves Warden's local protocol on a Unix socket: one
// session per connection, many requests in flight, raw znode operations
// and recipes, and events pushed to the app. See server.go for the protocol
// in brief and docs/protocol.md for all of it.
package localapi
