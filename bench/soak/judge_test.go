package soak

import (
	"fmt"
	"strings"
)

// Growth allowed after the bounds are reached: the peak of the last third
// of the samples against the peak of the first third, as a factor plus a
// floor that keeps small values' noise from counting.
const (
	growthFactor = 1.2
	memSlack     = 16 << 20
	countSlack   = 20
)

// verdict is the run's summary, the last line of soak.jsonl.
type verdict struct {
	Duration   float64  `json:"duration_s"`
	Ops        int      `json:"ops"`
	Writes     int      `json:"writes"`
	FirstOpsS  float64  `json:"first_steady_ops_per_s"`
	LastOpsS   float64  `json:"last_ops_per_s"`
	Ratio      float64  `json:"last_to_first"`
	BoundsAt   float64  `json:"bounds_reached_at_s"` // -1: never
	Growth     []string `json:"growth,omitempty"`
	Failures   []string `json:"failures,omitempty"`
	Errors     int      `json:"errors"`
	MaxRSS     int64    `json:"max_rss_bytes"`
	MaxHeap    int64    `json:"max_heap_inuse_bytes"`
	MaxDataDir int64    `json:"max_data_dir_bytes"`
}

func (v verdict) String() string {
	return fmt.Sprintf("%d ops (%d writes) in %.0fs; throughput first steady %.0f/s, last %.0f/s (%.0f%%); bounds reached at %.0fs; max RSS %d MB, heap %d MB, data dir %d MB; %d errors; growth after bounds: %s",
		v.Ops, v.Writes, v.Duration, v.FirstOpsS, v.LastOpsS, 100*v.Ratio, v.BoundsAt, v.MaxRSS>>20, v.MaxHeap>>20, v.MaxDataDir>>20, v.Errors, strings.Join(v.Growth, ", "))
}

// writes is how many Raft entries one op of each kind makes, near enough:
// a lock cycle is a grant and a release, a session open, create and close.
var writes = map[string]int{"create": 1, "set": 1, "delete": 1, "config": 1, "lock": 2, "session": 3}

// judge applies the pass criteria to the samples. history is the agents'
// bound on held changes; floor is the least share of the first steady
// window's throughput the last window must keep.
func judge(samples []sample, history int, floor float64) verdict {
	v := verdict{BoundsAt: -1}
	fail := func(format string, args ...any) { v.Failures = append(v.Failures, fmt.Sprintf(format, args...)) }
	for _, s := range samples {
		v.Duration = s.T
		v.Ops += s.Ops
		for k, n := range s.ByKind {
			v.Writes += n * writes[k]
		}
		v.Errors += len(s.Errors)
		for _, e := range s.Errors {
			fail("t=%.0fs: %s", s.T, e)
		}
		for _, a := range s.Agents {
			v.MaxRSS, v.MaxHeap, v.MaxDataDir = max(v.MaxRSS, a.RSS), max(v.MaxHeap, a.Heap), max(v.MaxDataDir, a.DataDir)
		}
	}
	if len(samples) < 3 {
		fail("only %d samples: run for at least three intervals", len(samples))
		return v
	}
	v.FirstOpsS, v.LastOpsS = samples[1].OpsPerS, samples[len(samples)-1].OpsPerS
	v.Ratio = v.LastOpsS / v.FirstOpsS
	if v.Ratio < floor {
		fail("throughput fell: last window %.0f ops/s is %.0f%% of the first steady window's %.0f ops/s (floor %.0f%%)", v.LastOpsS, 100*v.Ratio, v.FirstOpsS, 100*floor)
	}

	bounded := -1
	for i, s := range samples {
		at := true
		for _, a := range s.Agents {
			at = at && a.History >= int64(history)*95/100 && a.SnapCount > 0
		}
		if at {
			bounded = i
			break
		}
	}
	post := samples[max(bounded, 0):]
	if bounded < 0 || len(post) < 3 {
		fail("the history (%d changes) and snapshots did not reach their bounds with three samples to spare; memory not judged", history)
		return v
	}
	v.BoundsAt = samples[bounded].T
	k := max(1, len(post)/3)
	for i := range post[0].Agents {
		for _, m := range []struct {
			name  string
			get   func(agentSample) int64
			slack int64
		}{
			{"RSS", func(a agentSample) int64 { return a.RSS }, memSlack},
			{"heap", func(a agentSample) int64 { return a.Heap }, memSlack},
			{"data dir", func(a agentSample) int64 { return a.DataDir }, 2 * memSlack},
			{"goroutines", func(a agentSample) int64 { return a.Goroutines }, countSlack},
			{"fds", func(a agentSample) int64 { return int64(a.FDs) }, countSlack},
		} {
			first, last := peak(post[:k], i, m.get), peak(post[len(post)-k:], i, m.get)
			name := post[0].Agents[i].Name
			v.Growth = append(v.Growth, fmt.Sprintf("%s %s %s→%s", name, m.name, human(first, m.slack), human(last, m.slack)))
			if float64(last) > float64(first)*growthFactor+float64(m.slack) {
				fail("%s: %s kept growing after the bounds were reached: %s at first, %s at the end", name, m.name, human(first, m.slack), human(last, m.slack))
			}
		}
	}
	return v
}

// peak is the largest value of agent i's metric over samples.
func peak(samples []sample, i int, get func(agentSample) int64) int64 {
	var m int64
	for _, s := range samples {
		m = max(m, get(s.Agents[i]))
	}
	return m
}

// human shows bytes in MB and counts as they are.
func human(v, slack int64) string {
	if slack == countSlack {
		return fmt.Sprint(v)
	}
	return fmt.Sprintf("%dMB", v>>20)
}
