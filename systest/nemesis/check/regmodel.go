// This file is the sequential specification of one znode as a register,
// written as a porcupine model for Linearizable, with what the search may
// know of the history beforehand to cut short its tries.

package check

import (
	"fmt"
	"hash/fnv"
	"sort"

	"github.com/anishathalye/porcupine"
)

// regState is a znode's data and data version. Seen counts the ops placed
// so far that observed a version (see observedVersion): the search's
// bookkeeping, not the znode's.
type regState struct {
	Value   string
	Version int32
	Seen    int
}

// regStep applies op (the porcupine input; the output is unused, every
// result is in the op) to s, telling whether the op, with the outcome
// recorded for it, could have happened in state s.
//
// An op with an unknown outcome is accepted either way: a Write applies, a
// CAS applies if the version matches and is refused otherwise. That it may
// never have applied at all is covered by its return time at infinity: the
// checker may place it after every other op, where nothing observes it.
func regStep(s regState, op RegOp) (bool, regState) {
	switch op.Kind {
	case Read:
		return op.Value == s.Value && op.Version == s.Version, s
	case Write:
		next := regState{op.Value, s.Version + 1, s.Seen}
		if !op.Unknown && op.Version != 0 && op.Version != next.Version {
			return false, s
		}
		return true, next
	case CAS:
		if s.Version != op.Expect {
			return op.Unknown, s // refused: only possible when its outcome is unknown
		}
		next := regState{op.Value, op.Expect + 1, s.Seen}
		if !op.Unknown && op.Version != 0 && op.Version != next.Version {
			return false, s
		}
		return true, next
	}
	return false, s
}

// observedVersion is the version op observed, if any: read, or made by an
// acknowledged write that reported it (a successful CAS always made
// Expect+1).
func observedVersion(o RegOp) (int32, bool) {
	switch {
	case o.Unknown:
		return 0, false
	case o.Kind == CAS && o.Version == 0:
		return o.Expect + 1, true
	case o.Kind == Write && o.Version == 0:
		return 0, false
	}
	return o.Version, true
}

// seenValues holds, per version of one key, the values observed with it.
type seenValues map[int32]map[string]bool

// keyFacts is what the model knows of one key's history beforehand.
type keyFacts struct {
	seen     seenValues
	versions []int32          // the version each observing op observed, sorted
	sole     map[string]int32 // see facts
}

// facts collects the observations of one key's checked ops. sole maps each
// value that only one op writes, and that was observed at one version above
// 0, to that version: the only one that op can make.
func facts(ops []RegOp) keyFacts {
	f := keyFacts{seen: seenValues{}, sole: map[string]int32{}}
	writers := map[string]int{}
	for _, o := range ops {
		if o.isWrite() {
			writers[o.Value]++
		}
		if v, ok := observedVersion(o); ok {
			if f.seen[v] == nil {
				f.seen[v] = map[string]bool{}
			}
			f.seen[v][o.Value] = true
			f.versions = append(f.versions, v)
		}
	}
	sort.Slice(f.versions, func(i, j int) bool { return f.versions[i] < f.versions[j] })
	many := map[string]bool{}
	for v, vals := range f.seen {
		for val := range vals {
			switch {
			case v == 0 || writers[val] != 1 || many[val]:
			case f.sole[val] != 0:
				delete(f.sole, val)
				many[val] = true
			default:
				f.sole[val] = v
			}
		}
	}
	return f
}

// allows tells whether an op may make version v with value val in state s.
// An op that makes v comes after every op that observed an older version
// (reads of u < v happen while the version is u, makers of u make it
// before v) and it cannot make a version observed with other values
// (versions are never made twice), nor, writing a value only it writes,
// another version than the one where that value was observed. In every
// linearization these hold, so refusing the steps that break them does not
// change the verdict; it cuts short the search's tries of Unknown writes
// where they cannot be.
func (f keyFacts) allows(s regState, v int32, val string) bool {
	older := sort.Search(len(f.versions), func(i int) bool { return f.versions[i] >= v })
	if s.Seen < older {
		return false
	}
	if vals := f.seen[v]; vals != nil && !vals[val] {
		return false
	}
	if sv, sole := f.sole[val]; sole && sv != v {
		return false
	}
	return true
}

// newRegModel returns the porcupine model of the keys whose facts are
// given.
func newRegModel(facts map[string]keyFacts) porcupine.Model {
	return porcupine.Model{
		Partition: regPartition,
		Init:      func() any { return regState{} },
		Step: func(state, input, _ any) (bool, any) {
			op, s := input.(RegOp), state.(regState)
			ok, next := regStep(s, op)
			if !ok {
				return false, s
			}
			if next.Version != s.Version && !facts[op.Key].allows(s, next.Version, next.Value) {
				return false, s
			}
			if _, observed := observedVersion(op); observed {
				next.Seen++
			}
			return true, next
		},
		Hash: func(state any) uint64 {
			s := state.(regState)
			h := fnv.New64a()
			fmt.Fprintf(h, "%d:%d:%s", s.Version, s.Seen, s.Value)
			return h.Sum64()
		},
		DescribeOperation: func(input, _ any) string { return input.(RegOp).describe() },
		DescribeState: func(state any) string {
			s := state.(regState)
			return fmt.Sprintf("%q v%d", s.Value, s.Version)
		},
	}
}

// regPartition splits a history by key, in order of first appearance.
func regPartition(history []porcupine.Operation) [][]porcupine.Operation {
	index := map[string]int{}
	var parts [][]porcupine.Operation
	for _, o := range history {
		k := o.Input.(RegOp).Key
		i, ok := index[k]
		if !ok {
			i = len(parts)
			index[k] = i
			parts = append(parts, nil)
		}
		parts[i] = append(parts[i], o)
	}
	return parts
}
