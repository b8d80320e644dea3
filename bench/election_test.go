package bench

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
)

// TestElectionCandidateHelper is not a test: it is the body of the
// candidate processes BenchmarkElectionFailover starts, and skips in a
// normal run.
func TestElectionCandidateHelper(t *testing.T) { agenttest.CandidateHelper(t) }

// BenchmarkElectionFailover measures, on a 3-server cluster of `warden
// agent` processes, the time from SIGKILL of the leader's process to the
// next candidate's Campaign returning, with the next candidate on the same
// agent as the leader (the Raft leader's agent, or a follower's) and on
// another agent. Candidates are real processes
// (this binary run again), so the kill is real. Each iteration starts the
// next candidate and waits until it is in line (untimed), then kills the
// leader. Iterations are slow (a process start each), so give a count:
//
//	go test -run x -bench ElectionFailover -benchtime 30x ./bench/
//
// It reports the p50, p99 and max failover in ms, measured between the kill and
// the moment the candidate process saw Campaign return.
func BenchmarkElectionFailover(b *testing.B) {
	c := agenttest.StartCluster(b, 3, 0)
	agents := c.All()
	probe := agents[0].Dial(b, warden.Options{})
	dir := b.TempDir()
	raftLeader := c.Leader()
	follower := agents[0]
	if follower == raftLeader {
		follower = agents[1]
	}
	runs := 0
	for _, v := range []struct {
		name   string
		first  *agenttest.Proc // where the first leader runs
		across bool            // each next candidate on the next agent
	}{
		// Both on the agent that is the Raft leader: the dead session's
		// close is committed locally.
		{"same-agent=raft-leader", raftLeader, false},
		// Both on a follower: the close is forwarded to the Raft leader,
		// and the follower applies it once it hears of the commit.
		{"same-agent=follower", follower, false},
		{"across-agents", agents[0], true},
	} {
		b.Run(v.name, func(b *testing.B) {
			b.StopTimer()
			runs++
			path := fmt.Sprintf("/bench-election/%d", runs)
			n := 0
			start := func(p *agenttest.Proc) *agenttest.Candidate {
				n++
				return agenttest.StartCandidate(b, p, path, dir, fmt.Sprintf("run%d-%d", runs, n))
			}
			leader := start(v.first)
			leader.WaitElected(b, 30*time.Second)
			lat := make([]time.Duration, 0, b.N)
			for i := 0; i < b.N; i++ {
				at := slices.Index(agents, leader.Agent)
				if v.across {
					at = (at + 1) % len(agents)
				}
				next := start(agents[at])
				agenttest.Eventually(b, 30*time.Second, "the next candidate in line", func() bool {
					kids, _, err := probe.Children(context.Background(), path)
					return err == nil && len(kids) == 2
				})
				b.StartTimer()
				killed := leader.Kill(b)
				l := next.WaitElected(b, 10*time.Second)
				b.StopTimer()
				lat = append(lat, l.Elected.Sub(killed))
				leader = next
			}
			slices.Sort(lat)
			b.ReportMetric(ms(lat[(len(lat)-1)*50/100]), "p50-ms")
			b.ReportMetric(ms(lat[(len(lat)-1)*99/100]), "p99-ms")
			b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
		})
	}
}
