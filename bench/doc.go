// Package bench holds end-to-end benchmarks: the Go client against a real
// dev agent (Raft on disk, a real Unix socket), run as a separate process
// or in-process. Run them with
//
//	go test -run x -bench . ./bench/
//
// Besides ns/op each reports throughput (cycles/s or ops/s), the p50 and
// p99 latency of one operation as a client sees it, and entries/op: the
// Raft log entries the agent wrote per operation.
//
// The Cluster benchmarks do the same against a cluster of `warden agent`
// processes on loopback addresses (three servers, and a replica where the
// clients go through one). BenchmarkLeaderFailover kills the leader of a
// fresh cluster in every iteration, so give it a count:
//
//	go test -run x -bench Cluster -benchtime 2s ./bench/
//	go test -run x -bench LeaderFailover -benchtime 5x ./bench/
package bench
