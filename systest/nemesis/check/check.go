// Package check holds the nemesis runner's checkers, pure functions of a
// recorded history:
//
//   - Linearizable: synced reads, writes and CASes on each znode form a
//     linearizable register (with porcupine);
//   - MonotonicReads: each client's reads, synced or local, never go back in
//     version and always see the client's own writes;
//   - LockSafety: fencing tokens increase, holders do not overlap unless the
//     earlier one was told it lost its session, and the protected resource
//     never accepts a stale token;
//   - Durability: every acknowledged create survives, and all agents end with
//     the same tree.
//
// Times are nanoseconds since the run's start, from one monotonic clock in
// the runner process.
package check

import (
	"fmt"
	"time"
)

// Result is what a checker found.
type Result struct {
	OK       bool     // no problems
	Checked  int      // ops or events checked
	Problems []string // human-readable, each naming the ops involved; empty when OK

	// Undecided is set by Linearizable when the search for some key ran out
	// of time: that is a problem (the history was not checked), but not a
	// violation found.
	Undecided bool
	// Visualization is the path of porcupine's HTML visualization, when
	// one was asked for and written.
	Visualization string
}

// maxProblems bounds how many problems one checker reports in detail.
const maxProblems = 20

// report collects problems, keeping at most maxProblems of them and
// counting the rest.
type report struct {
	problems []string
	dropped  int
}

func (r *report) add(format string, args ...any) {
	if len(r.problems) >= maxProblems {
		r.dropped++
		return
	}
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

func (r *report) result(checked int) Result {
	p := r.problems
	if r.dropped > 0 {
		p = append(p, fmt.Sprintf("... and %d more problems", r.dropped))
	}
	return Result{OK: len(p) == 0, Checked: checked, Problems: p}
}

// at formats a run time (nanoseconds since the start) for a message.
func at(ns int64) string {
	if ns < 0 {
		return "never"
	}
	return time.Duration(ns).String()
}
