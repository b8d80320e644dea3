package cluster

import "time"

// noLeaderHint says what a node waiting for a leader lacks, or "" when it
// may just be early. A fresh server (no Raft state) with neither
// Bootstrap nor BootstrapExpect never elects itself: it waits until a
// leader adds it. Without Join nothing will, so it is told at once; with
// Join (an existing cluster's leader adds it within seconds) only after
// waited exceeds NoLeaderWarnInterval. A replica without Join has nobody
// to follow.
func (n *Node) noLeaderHint(waited time.Duration) string {
	if n.bootstrapped.Load() || n.cfg.Bootstrap {
		return ""
	}
	early := len(n.cfg.Join) > 0 && waited < n.cfg.NoLeaderWarnInterval
	switch {
	case early:
		return ""
	case n.cfg.Server && n.cfg.BootstrapExpect == 0:
		return "no leader: this server has no Raft state and will not elect itself; " +
			"start the first servers with --bootstrap-expect N (N = how many, e.g. 3, the same on each), " +
			"or --join an existing cluster, or use --dev for a single trial agent"
	case !n.cfg.Server && len(n.cfg.Join) == 0:
		return "no leader: a replica follows a cluster it joins; give it --join with a server's address"
	}
	return ""
}
