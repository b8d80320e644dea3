// This file tests MonotonicReads on small histories, each bug planted on
// purpose.

package check

import "testing"

func TestMonotonicReadsValid(t *testing.T) {
	ops := []RegOp{
		local(1, "", 0, 0, 1), wr(2, "a", 1, 2, 3), local(1, "", 0, 4, 5), // client 1 lags: allowed
		local(1, "a", 1, 6, 7), rd(1, "a", 1, 8, 9),
		wr(1, "b", 2, 10, 11), local(1, "b", 2, 12, 13), // reads its own write
		wr(1, "c", 0, 14, 15), local(1, "c", 3, 16, 17), // own write with no version reported
		cas(3, "x", 0, false, 18, 19), unknown(wr(3, "u", 0, 20, 0)), local(3, "", 0, 21, 22),
		{Client: 3, Key: "k", Kind: LocalRead, Call: 23, Return: 24}, // failed read
		onKey("j", local(1, "", 0, 25, 26)),                          // another key: its own floor
		local(2, "u", 4, 27, 28),                                     // the unknown write applied
	}
	res := MonotonicReads(ops)
	wantOK(t, res)
	if res.Checked != 9 {
		t.Errorf("checked %d reads, want 9", res.Checked)
	}
}

func TestMonotonicReadsViolations(t *testing.T) {
	cases := []struct {
		name  string
		ops   []RegOp
		parts []string
	}{
		{"local read going backwards",
			[]RegOp{wr(2, "a", 1, 0, 1), wr(2, "b", 2, 2, 3), local(1, "b", 2, 4, 5), local(1, "a", 1, 6, 7)},
			[]string{"went back", `client 1 local-read k -> "a" v1`, `after client 1 local-read k -> "b" v2`}},
		{"synced read going backwards",
			[]RegOp{wr(2, "a", 1, 0, 1), rd(1, "a", 1, 2, 3), local(1, "", 0, 4, 5)},
			[]string{"went back", `client 1 local-read k -> "" v0`}},
		{"read missing the client's own write",
			[]RegOp{wr(1, "a", 1, 0, 1), local(1, "", 0, 2, 3)},
			[]string{"missed the client's own write", `client 1 local-read k -> "" v0`, `after client 1 write k="a" -> ok v1`}},
		{"read missing an own write that reported no version",
			[]RegOp{wr(2, "a", 1, 0, 1), local(1, "a", 1, 2, 3), wr(1, "b", 0, 4, 5), local(1, "a", 1, 6, 7)},
			[]string{"missed the client's own write", `client 1 local-read k -> "a" v1 [6ns`}},
		{"one version, two values",
			[]RegOp{wr(1, "a", 1, 0, 1), local(2, "b", 1, 2, 3), wr(1, "b", 2, 4, 5)},
			[]string{"version 1 has two values", `client 2 local-read k -> "b" v1`}},
		{"read of a value never written",
			[]RegOp{local(1, "zzz", 3, 0, 1)},
			[]string{"never written", `client 1 local-read k -> "zzz" v3`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { wantProblem(t, MonotonicReads(c.ops), c.parts...) })
	}
}
