// This file defines the register operations recorded by the runner, shared
// by Linearizable and MonotonicReads.

package check

import "fmt"

// RegKind is a register operation on one znode ("key"), whose state is
// (Value, Version); every key exists before the run with Value "" and
// Version 0 (ZooKeeper's data version: each successful set adds 1).
type RegKind int

const (
	Write     RegKind = iota // unconditional set(key, Value); on success Version is the resulting version
	CAS                      // set(key, Value, expected version Expect); OK false = refused (bad version), a definite non-effect
	Read                     // sync then get: must be linearizable; Value/Version are what was read
	LocalRead                // plain get from the client's local agent, no sync: NOT linearizable; checked by MonotonicReads only
)

func (k RegKind) String() string {
	switch k {
	case Write:
		return "write"
	case CAS:
		return "cas"
	case Read:
		return "read"
	case LocalRead:
		return "local-read"
	}
	return fmt.Sprintf("RegKind(%d)", int(k))
}

// RegOp is one completed (or abandoned) register operation.
type RegOp struct {
	Client  int // one client = one session, issuing one op at a time
	Key     string
	Kind    RegKind
	Value   string // written (Write/CAS) or read (Read/LocalRead)
	Expect  int32  // CAS only: the expected version
	Version int32  // Read/LocalRead: the version read; Write/CAS with OK: the new version (0 if unknown)
	OK      bool   // Write/CAS: succeeded; Read/LocalRead: true when it returned a value
	Unknown bool   // the outcome is unknown (timeout, connection lost): the write may or may not have applied; a read with no outcome is a failed one
	Call    int64
	Return  int64 // ignored when Unknown
}

// isWrite tells whether the op is a Write or a CAS.
func (o RegOp) isWrite() bool { return o.Kind == Write || o.Kind == CAS }

// String names the op for a problem report: client, key, what it did, and
// when.
func (o RegOp) String() string {
	ret := at(o.Return)
	if o.Unknown {
		ret = "?"
	}
	return fmt.Sprintf("client %d %s [%s, %s]", o.Client, o.describe(), at(o.Call), ret)
}

// describe is the op without client and times, e.g. `cas k="v" if v3 -> ok v4`.
func (o RegOp) describe() string {
	var s string
	switch o.Kind {
	case CAS:
		s = fmt.Sprintf("cas %s=%q if v%d", o.Key, o.Value, o.Expect)
	case Write:
		s = fmt.Sprintf("write %s=%q", o.Key, o.Value)
	default:
		if !o.OK {
			return fmt.Sprintf("%s %s -> failed", o.Kind, o.Key)
		}
		return fmt.Sprintf("%s %s -> %q v%d", o.Kind, o.Key, o.Value, o.Version)
	}
	switch {
	case o.Unknown:
		return s + " -> unknown"
	case !o.OK:
		return s + " -> refused"
	case o.Version != 0:
		return s + fmt.Sprintf(" -> ok v%d", o.Version)
	}
	return s + " -> ok"
}
