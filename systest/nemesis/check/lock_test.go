// This file tests LockSafety on small histories of lock cycles, each bug
// planted on purpose.

package check

import "testing"

// hold is a hold released at rel (-1: never).
func hold(client int, token uint64, granted, rel int64) Hold {
	return Hold{Client: client, Token: token, Granted: granted, Released: rel}
}

// lost is a hold whose holder was told its session was lost at lostAt.
func lost(client int, token uint64, granted, lostAt int64) Hold {
	return Hold{Client: client, Token: token, Granted: granted, Released: lostAt, Lost: true, LostAt: lostAt}
}

// rw is a resource write.
func rw(client int, token uint64, at int64, accepted bool) ResourceWrite {
	return ResourceWrite{Client: client, Token: token, At: at, Accepted: accepted}
}

func TestLockSafetyValid(t *testing.T) {
	holds := []Hold{
		hold(1, 10, 0, 100), hold(2, 11, 110, 200),
		// Client 3's session expired while it was cut off; it learned at
		// 400, after client 1 got the lock at 300.
		lost(3, 12, 210, 400), hold(1, 13, 300, -1),
	}
	writes := []ResourceWrite{
		rw(1, 10, 50, true), rw(2, 11, 150, true), rw(2, 11, 160, true),
		rw(3, 12, 250, true), rw(1, 13, 310, true),
		rw(3, 12, 320, false), // the lost holder, fenced off
	}
	res := LockSafety(holds, writes)
	wantOK(t, res)
	if res.Checked != 10 {
		t.Errorf("checked %d, want 10", res.Checked)
	}
}

func TestLockSafetyViolations(t *testing.T) {
	cases := []struct {
		name   string
		holds  []Hold
		writes []ResourceWrite
		parts  []string
	}{
		{"two overlapping holders, neither told lost",
			[]Hold{hold(1, 10, 0, 100), hold(2, 11, 50, 150)}, nil,
			[]string{"two holders at once", "client 1 token 10 held [0s, 100ns]", "client 2 token 11 held [50ns, 150ns]"}},
		{"a holder that never released overlaps",
			[]Hold{hold(1, 10, 0, -1), hold(2, 11, 50, 150)}, nil,
			[]string{"two holders at once", "client 1 token 10 held [0s, never]"}},
		{"token reused",
			[]Hold{hold(1, 10, 0, 100), hold(2, 10, 150, 200)}, nil,
			[]string{"token reused", "client 2 token 10"}},
		{"token decreasing",
			[]Hold{hold(1, 10, 0, 100), hold(2, 9, 150, 200)}, nil,
			[]string{"token decreased", "client 2 token 9"}},
		{"resource accepted a stale token",
			[]Hold{hold(1, 10, 0, 100), hold(2, 11, 150, 200)},
			[]ResourceWrite{rw(1, 10, 50, true), rw(2, 11, 160, true), rw(1, 10, 170, true)},
			[]string{"stale token accepted", "resource accepted client 1 token 10 at 170ns"}},
		{"lost holder's write accepted after the new holder's",
			[]Hold{lost(1, 10, 0, 300), hold(2, 11, 150, 200)},
			[]ResourceWrite{rw(2, 11, 160, true), rw(1, 10, 170, true)},
			[]string{"from the lost holder", "resource accepted client 1 token 10 at 170ns"}},
		{"token accepted from a client it was not granted to",
			[]Hold{hold(1, 10, 0, 100)},
			[]ResourceWrite{rw(2, 10, 50, true)},
			[]string{"resource accepted client 2 token 10", "granted to client 1"}},
		{"token never granted",
			[]Hold{hold(1, 10, 0, 100)},
			[]ResourceWrite{rw(1, 99, 50, true)},
			[]string{"token 99", "never granted"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { wantProblem(t, LockSafety(c.holds, c.writes), c.parts...) })
	}
}
