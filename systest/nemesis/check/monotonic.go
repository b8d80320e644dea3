// This file checks what every read, synced or local, promises even without
// linearizability: a session's view of a key never goes back and includes
// its own writes, and a key's version always names the same value.

package check

import "sort"

// MonotonicReads checks, per client and key, over that client's ops in order
// of Call: a LocalRead or Read never returns a Version lower than one the
// same client already read, or lower than the version of its own
// acknowledged Write/CAS (read-your-writes; a write acknowledged without a
// version made one higher than any the client had seen). Across all
// clients, a key's version always comes with the same value (version 0 with
// ""), and a read never returns a value no Write or CAS tried to write.
// Failed reads and writes that were refused or whose outcome is unknown say
// nothing about what the client must see, and are skipped.
func MonotonicReads(ops []RegOp) Result {
	sorted := make([]RegOp, len(ops))
	copy(sorted, ops)
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].Client != sorted[j].Client {
			return sorted[i].Client < sorted[j].Client
		}
		return sorted[i].Call < sorted[j].Call
	})
	var r report
	checked := monotonicPerClient(sorted, &r)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Call < sorted[j].Call })
	sameValues(sorted, &r)
	return r.result(checked)
}

// floor is the lowest version a client may read next from a key, and the op
// that set it.
type floor struct {
	version int32
	op      RegOp
	set     bool
}

// monotonicPerClient checks ops sorted by client and then Call, returning
// how many reads it checked.
func monotonicPerClient(ops []RegOp, r *report) int {
	type clientKey struct {
		client int
		key    string
	}
	floors := map[clientKey]floor{}
	checked := 0
	for _, o := range ops {
		ck := clientKey{o.Client, o.Key}
		f := floors[ck]
		switch {
		case (o.Kind == Read || o.Kind == LocalRead) && o.OK && !o.Unknown:
			checked++
			if f.set && o.Version < f.version {
				what := "went back"
				if f.op.isWrite() {
					what = "missed the client's own write"
				}
				r.add("key %q: %s: %s after %s", o.Key, what, o, f.op)
			}
			if !f.set || o.Version > f.version {
				floors[ck] = floor{o.Version, o, true}
			}
		case o.isWrite() && o.OK && !o.Unknown:
			v := o.Version
			if v == 0 {
				v = f.version + 1 // higher than anything the client saw before
			}
			if !f.set || v > f.version {
				floors[ck] = floor{v, o, true}
			}
		}
	}
	return checked
}

// sameValues checks, over all clients, that each (key, version) comes with
// one value, and that reads return values that were written.
func sameValues(ops []RegOp, r *report) {
	type keyVersion struct {
		key     string
		version int32
	}
	first := map[keyVersion]RegOp{}
	written := map[string]map[string]bool{}
	for _, o := range ops {
		if o.isWrite() && (o.OK || o.Unknown) {
			if written[o.Key] == nil {
				written[o.Key] = map[string]bool{}
			}
			written[o.Key][o.Value] = true
		}
	}
	for _, o := range ops {
		known := o.OK && !o.Unknown && (o.Version != 0 || !o.isWrite())
		if !known {
			continue
		}
		if !o.isWrite() && o.Version == 0 && o.Value != "" {
			r.add("key %q: version 0 is the initial empty value, but %s", o.Key, o)
			continue
		}
		if !o.isWrite() && o.Version > 0 && !written[o.Key][o.Value] {
			r.add("key %q: read a value never written: %s", o.Key, o)
			continue
		}
		kv := keyVersion{o.Key, o.Version}
		prev, seen := first[kv]
		if !seen {
			first[kv] = o
		} else if prev.Value != o.Value {
			r.add("key %q: version %d has two values: %q (%s) and %q (%s)", o.Key, o.Version, prev.Value, prev, o.Value, o)
		}
	}
}
