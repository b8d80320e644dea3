// Package logging gives the agent one structured logger (log/slog) and
// routes the embedded HashiCorp libraries into it: an hclog.Logger backed
// by a slog.Handler (for Raft, the cluster port and the local API), and a
// writer for the std-log lines of Serf and memberlist that reads the level
// from their "[DEBUG]"/"[WARN]"/"[ERR]" prefix.
package logging
