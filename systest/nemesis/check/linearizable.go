// This file checks synced reads, writes and CASes for linearizability, one
// key at a time, with porcupine and the model of regmodel.go.

package check

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Options tune LinearizableWith.
type Options struct {
	// Timeout bounds the search for each key (keys are searched in
	// parallel); 0 means no bound.
	Timeout time.Duration
	// Visualization, when not empty, is the path where porcupine's HTML
	// visualization is written: of the keys with problems, or of every key
	// when there is none. It costs a second search of those keys.
	Visualization string
}

// Linearizable checks Write, CAS and Read ops with porcupine, partitioned by
// key (each key is an independent register). An Unknown write or CAS may
// have taken effect at any time after its Call, or never; those that
// nothing can have observed are left out of the search, which they would
// slow down a lot (they still count as checked). Failed reads (and reads
// marked Unknown, which returned nothing) and failed (not Unknown) writes
// and CASes are definite non-effects and are dropped; LocalReads are
// ignored. A search that runs out of time is reported as a problem ("could
// not decide in ...") with Result.Undecided set.
func Linearizable(ops []RegOp, timeout time.Duration) Result {
	return LinearizableWith(ops, Options{Timeout: timeout})
}

// keyCheck is the outcome of porcupine's search of one key's history.
type keyCheck struct {
	key     string
	history []porcupine.Operation
	pruned  int // Unknown ops left out: nothing can have observed them
	facts   keyFacts
	result  porcupine.CheckResult
	info    porcupine.LinearizationInfo
}

// LinearizableWith is Linearizable with options, such as writing a
// visualization.
func LinearizableWith(ops []RegOp, opts Options) Result {
	checks, model := regHistories(ops)
	var wg sync.WaitGroup
	for _, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.result, c.info = porcupine.CheckOperationsVerbose(model, c.history, opts.Timeout)
		}()
	}
	wg.Wait()

	var r report
	checked, undecided := 0, false
	var bad []porcupine.Operation
	for _, c := range checks {
		checked += len(c.history) + c.pruned
		switch c.result {
		case porcupine.Illegal:
			r.add("%s", explainIllegal(c))
		case porcupine.Unknown:
			undecided = true
			r.add("key %q: could not decide in %v (%d ops): not checked", c.key, opts.Timeout, len(c.history))
		default:
			continue
		}
		bad = append(bad, c.history...)
	}
	res := r.result(checked)
	res.Undecided = undecided
	if opts.Visualization != "" {
		if bad == nil {
			for _, c := range checks {
				bad = append(bad, c.history...)
			}
		}
		_, info := porcupine.CheckOperationsVerbose(model, bad, opts.Timeout)
		if err := porcupine.VisualizePath(model, info, opts.Visualization); err != nil {
			res.Problems = append(res.Problems, fmt.Sprintf("visualization not written: %v", err))
			res.OK = false
		} else {
			res.Visualization = opts.Visualization
		}
	}
	return res
}

// linearizable tells whether Linearizable checks op: a read that returned a
// value (a read whose outcome is unknown has none), or a write or CAS that
// succeeded or whose outcome is unknown.
func linearizable(o RegOp) bool {
	switch o.Kind {
	case Read:
		return o.OK && !o.Unknown
	case Write, CAS:
		return o.OK || o.Unknown
	}
	return false
}

// regHistories turns the ops that Linearizable checks into one porcupine
// history per key, sorted by key, leaving out the Unknown ops that cannot
// have been observed (see pruneUnseen). An Unknown op returns at
// "infinity": after every other event of the run. It also returns the model
// to check them with.
func regHistories(ops []RegOp) ([]*keyCheck, porcupine.Model) {
	var inf int64
	byKey := map[string][]RegOp{}
	for _, o := range ops {
		inf = max(inf, o.Call+1, o.Return+1)
		if !linearizable(o) {
			continue
		}
		byKey[o.Key] = append(byKey[o.Key], o)
	}
	checks := make([]*keyCheck, 0, len(byKey))
	kf := map[string]keyFacts{}
	for key, kops := range byKey {
		kf[key] = facts(kops)
		kept, pruned := pruneUnseen(kops, kf[key].seen)
		c := &keyCheck{key: key, pruned: pruned, facts: kf[key]}
		for _, o := range kept {
			ret := o.Return
			if o.Unknown {
				ret = inf
			}
			c.history = append(c.history, porcupine.Operation{ClientId: o.Client, Input: o, Call: o.Call, Return: ret})
		}
		checks = append(checks, c)
	}
	sort.Slice(checks, func(i, j int) bool { return checks[i].key < checks[j].key })
	return checks, newRegModel(kf)
}
