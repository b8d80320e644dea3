// This file holds the tests' shorthand for building histories and checking
// results.

package check

import (
	"strings"
	"testing"
)

// wr is an acknowledged write of v to key "k"; ver 0 = version not reported.
func wr(client int, v string, ver int32, call, ret int64) RegOp {
	return RegOp{Client: client, Key: "k", Kind: Write, Value: v, Version: ver, OK: true, Call: call, Return: ret}
}

// cas is a CAS of v to key "k" expecting version expect; ok false = refused.
func cas(client int, v string, expect int32, ok bool, call, ret int64) RegOp {
	o := RegOp{Client: client, Key: "k", Kind: CAS, Value: v, Expect: expect, OK: ok, Call: call, Return: ret}
	if ok {
		o.Version = expect + 1
	}
	return o
}

// rd is a synced read of key "k" that returned v at version ver.
func rd(client int, v string, ver int32, call, ret int64) RegOp {
	return RegOp{Client: client, Key: "k", Kind: Read, Value: v, Version: ver, OK: true, Call: call, Return: ret}
}

// local is rd as a LocalRead.
func local(client int, v string, ver int32, call, ret int64) RegOp {
	o := rd(client, v, ver, call, ret)
	o.Kind = LocalRead
	return o
}

// unknown makes a write's outcome unknown.
func unknown(o RegOp) RegOp {
	o.OK, o.Unknown, o.Version, o.Return = false, true, 0, 0
	return o
}

// onKey moves an op to another key.
func onKey(key string, o RegOp) RegOp {
	o.Key = key
	return o
}

// wantOK fails the test if res has problems.
func wantOK(t *testing.T, res Result) {
	t.Helper()
	if !res.OK || len(res.Problems) > 0 {
		t.Fatalf("want OK, got problems:\n%s", strings.Join(res.Problems, "\n"))
	}
}

// wantProblem fails the test unless res failed with a problem containing
// every one of parts.
func wantProblem(t *testing.T, res Result, parts ...string) {
	t.Helper()
	if res.OK {
		t.Fatalf("want a problem mentioning %q, got OK", parts)
	}
next:
	for _, p := range res.Problems {
		for _, part := range parts {
			if !strings.Contains(p, part) {
				continue next
			}
		}
		t.Logf("found: %s", p)
		return
	}
	t.Fatalf("no problem mentions all of %q; problems:\n%s", parts, strings.Join(res.Problems, "\n"))
}
