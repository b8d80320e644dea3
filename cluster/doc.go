// Package cluster runs an agent's Raft replica of the fsm tree: the log and
// stable store in BoltDB, file snapshots, the TCP transport, bootstrap, the
// sessions this agent owns (request sequences for deduplication and their
// keepalives), and, on the leader, session expiry.
//
// Writes go through Write, OpenSession and CloseSession; reads go straight
// to FSM(), which is this replica's local copy.
package cluster
