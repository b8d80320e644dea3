// Package agent wires an agent together: the Raft replica (cluster), the
// local socket server (localapi) and the recipes it serves, with their
// configuration and lifecycle.
package agent
