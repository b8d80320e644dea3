// This file removes, before the search, the unknown-outcome writes that
// cannot have been seen: each one left pending multiplies porcupine's work.

package check

import "sort"

// pruneUnseen returns ops (one key's Write, CAS and Read ops as checked,
// whose observations are values) without the Unknown ops that no op can
// have observed, and how many it removed.
//
// An Unknown op u that applied made some version v of the key. v is above
// floor, the highest version observed by an op that returned before u was
// called; for a CAS, v is Expect+1. Observed means read, or made by an
// acknowledged write that reported it. If every such v up to the highest
// version observed was observed with values other than u's, then u made no
// observed version: it applied after every op that observed a version, if at
// all, and the ops that may follow it (writes whose version is unknown,
// other unknown ops) accept any version. So the history is linearizable
// with u placed last, where it changes nothing, iff it is linearizable at
// all: u can be left out.
func pruneUnseen(ops []RegOp, values seenValues) ([]RegOp, int) {
	type seenAt struct {
		version int32
		ret     int64
	}
	var obs []seenAt
	var top int32
	for _, o := range ops {
		if v, ok := observedVersion(o); ok {
			obs = append(obs, seenAt{v, o.Return})
			top = max(top, v)
		}
	}
	// lo[i] is the highest version observed by obs[:i+1], by return time.
	sort.Slice(obs, func(i, j int) bool { return obs[i].ret < obs[j].ret })
	lo := make([]int32, len(obs))
	for i, s := range obs {
		lo[i] = s.version
		if i > 0 {
			lo[i] = max(lo[i], lo[i-1])
		}
	}
	unseen := func(u RegOp) bool {
		var floor int32 // the highest version observed before u's call
		if i := sort.Search(len(obs), func(i int) bool { return obs[i].ret >= u.Call }); i > 0 {
			floor = lo[i-1]
		}
		from, to := floor+1, top
		if u.Kind == CAS {
			from, to = max(from, u.Expect+1), min(to, u.Expect+1)
		}
		for v := from; v <= to; v++ {
			if values[v] == nil || values[v][u.Value] {
				return false
			}
		}
		return true
	}
	kept := ops[:0:0]
	for _, o := range ops {
		if !o.Unknown || !unseen(o) {
			kept = append(kept, o)
		}
	}
	return kept, len(ops) - len(kept)
}
