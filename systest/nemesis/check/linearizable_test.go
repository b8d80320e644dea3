// This file tests Linearizable on small hand-written histories, each bug
// planted on purpose.

package check

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

const timeout = 5 * time.Second

func TestLinearizableValid(t *testing.T) {
	cases := map[string][]RegOp{
		"sequential": {
			wr(1, "a", 1, 0, 10), rd(2, "a", 1, 20, 30), cas(1, "b", 1, true, 40, 50), rd(2, "b", 2, 60, 70),
		},
		"concurrent reads around a slow write": {
			wr(1, "a", 1, 0, 100), rd(2, "", 0, 10, 20), rd(3, "a", 1, 30, 40), rd(2, "a", 1, 50, 60),
		},
		"concurrent writes ordered by what was read": {
			wr(1, "a", 0, 0, 50), wr(2, "b", 0, 0, 50), rd(3, "b", 2, 20, 70), rd(3, "b", 2, 80, 90),
		},
		"unknown write observed later": {
			unknown(wr(1, "x", 0, 10, 0)), rd(2, "", 0, 20, 30), rd(2, "x", 1, 1000, 1010),
			wr(2, "y", 2, 1100, 1110), rd(1, "y", 2, 1200, 1210),
		},
		"unknown write never observed": {
			unknown(wr(1, "x", 0, 10, 0)), rd(2, "", 0, 20, 30), wr(1, "y", 1, 200, 210), rd(2, "y", 1, 300, 310),
		},
		"refused CAS and failed ops dropped": {
			wr(1, "a", 1, 0, 10), cas(2, "b", 0, false, 20, 30), rd(2, "a", 1, 40, 50),
			{Client: 3, Key: "k", Kind: Read, Value: "garbage", Version: 9, Call: 60, Return: 70},
			{Client: 3, Key: "k", Kind: Write, Value: "never", Call: 80, Return: 90},
		},
		"unknown CASes, one applied and one not": {
			wr(1, "a", 1, 0, 10), unknown(cas(2, "b", 1, false, 20, 0)), unknown(cas(3, "c", 0, false, 20, 0)),
			rd(1, "b", 2, 100, 110),
		},
		"keys are independent": {
			wr(1, "a", 1, 0, 10), onKey("j", rd(2, "", 0, 20, 30)), onKey("j", wr(2, "z", 1, 40, 50)),
			rd(2, "a", 1, 60, 70), onKey("j", rd(1, "z", 1, 80, 90)),
		},
		"unknown write overwritten before any read": {
			unknown(wr(1, "x", 0, 10, 0)), wr(2, "y", 2, 100, 110), rd(3, "y", 2, 120, 130),
		},
		"writes without a reported version": {
			wr(1, "a", 0, 0, 10), wr(2, "b", 0, 5, 15), rd(3, "a", 2, 20, 30), unknown(cas(1, "c", 2, false, 40, 0)),
			wr(2, "d", 0, 50, 60), rd(3, "d", 4, 70, 80),
		},
		"local reads ignored": {
			wr(1, "a", 1, 0, 10), local(2, "", 0, 20, 30), rd(2, "a", 1, 40, 50),
		},
	}
	for name, ops := range cases {
		t.Run(name, func(t *testing.T) { wantOK(t, Linearizable(ops, timeout)) })
	}
}

func TestLinearizableViolations(t *testing.T) {
	cases := []struct {
		name  string
		ops   []RegOp
		names string // the op the problem must name
	}{
		{"stale read after a newer write returned",
			[]RegOp{wr(1, "a", 1, 0, 10), wr(1, "b", 2, 20, 30), rd(2, "a", 1, 40, 50)},
			`client 2 read k -> "a" v1`},
		{"lost acknowledged write",
			[]RegOp{wr(1, "a", 0, 0, 10), wr(2, "b", 0, 20, 30), rd(3, "b", 1, 40, 50)},
			`client 3 read k -> "b" v1`},
		{"CAS succeeded on a wrong version",
			[]RegOp{wr(1, "a", 1, 0, 10), cas(2, "b", 0, true, 20, 30)},
			`client 2 cas k="b" if v0 -> ok v1`},
		{"read of a value never written",
			[]RegOp{wr(1, "a", 1, 0, 10), rd(2, "zzz", 1, 20, 30)},
			`client 2 read k -> "zzz" v1`},
		{"unknown write observed, then un-observed",
			[]RegOp{unknown(wr(1, "x", 0, 0, 0)), rd(2, "x", 1, 10, 20), rd(3, "", 0, 30, 40)},
			`client 3 read k -> "" v0`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Another key's valid ops must not hide the problem.
			ops := append(c.ops, onKey("other", wr(9, "o", 1, 0, 5)), onKey("other", rd(9, "o", 1, 6, 7)))
			res := Linearizable(ops, timeout)
			wantProblem(t, res, `key "k": not linearizable`, c.names)
			if len(res.Problems) != 1 || res.Undecided {
				t.Errorf("want one violation, got undecided=%v %q", res.Undecided, res.Problems)
			}
		})
	}
}

func TestLinearizableTimeout(t *testing.T) {
	// Twenty concurrent writes that report no version, each value written
	// twice, and a read of a version they cannot reach: deciding this means
	// trying every subset of them.
	var ops []RegOp
	for i := range 20 {
		ops = append(ops, wr(i, string(rune('a'+i/2)), 0, 0, 100))
	}
	ops = append(ops, rd(20, "a", 25, 200, 300))
	res := Linearizable(ops, 20*time.Millisecond)
	if !res.Undecided {
		t.Fatalf("want undecided, got %+v", res)
	}
	wantProblem(t, res, `key "k": could not decide in 20ms`)
}

func TestLinearizableVisualization(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lin.html")
	ops := []RegOp{wr(1, "a", 1, 0, 10), rd(2, "", 0, 20, 30), unknown(wr(3, "u", 0, 5, 0))}
	res := LinearizableWith(ops, Options{Timeout: timeout, Visualization: path})
	wantProblem(t, res, "not linearizable")
	if res.Visualization != path {
		t.Fatalf("visualization not reported: %+v", res)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("visualization not written: %v", err)
	}
}
