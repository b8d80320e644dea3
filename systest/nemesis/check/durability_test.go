// This file tests Durability on small sets of trees, each bug planted on
// purpose.

package check

import "testing"

// trees returns three agents' identical trees.
func trees() map[string]Tree {
	mk := func() Tree {
		return Tree{
			"/app":       {Data: "", Version: 0},
			"/app/a":     {Data: "x", Version: 2},
			"/app/lock1": {Data: "", Version: 0, EphemeralOwner: 77},
		}
	}
	return map[string]Tree{"w1": mk(), "w2": mk(), "w3": mk()}
}

func TestDurabilityValid(t *testing.T) {
	res := Durability([]string{"/app", "/app/a"}, trees())
	wantOK(t, res)
	if res.Checked != 8 {
		t.Errorf("checked %d, want 8", res.Checked)
	}
}

func TestDurabilityViolations(t *testing.T) {
	cases := []struct {
		name   string
		acked  []string
		change func(map[string]Tree)
		parts  []string
	}{
		{"acked create missing on one agent", []string{"/app/a"},
			func(ts map[string]Tree) { delete(ts["w2"], "/app/a") },
			[]string{"acknowledged create /app/a missing on [w2]"}},
		{"acked create missing everywhere", []string{"/app/b"}, func(map[string]Tree) {},
			[]string{"acknowledged create /app/b missing on [w1 w2 w3]"}},
		{"data differs", nil,
			func(ts map[string]Tree) { ts["w3"]["/app/a"] = Node{Data: "y", Version: 2} },
			[]string{"trees of w1 and w3 differ", `/app/a is "x" v2 on w1 but "y" v2 on w3`}},
		{"version differs", nil,
			func(ts map[string]Tree) { ts["w2"]["/app/a"] = Node{Data: "x", Version: 3} },
			[]string{"trees of w1 and w2 differ", `/app/a is "x" v2 on w1 but "x" v3 on w2`}},
		{"ephemeral owner differs", nil,
			func(ts map[string]Tree) { ts["w2"]["/app/lock1"] = Node{EphemeralOwner: 78} },
			[]string{"/app/lock1", "ephemeral of session 78 on w2"}},
		{"extra node on one agent", nil,
			func(ts map[string]Tree) { ts["w1"]["/zombie"] = Node{Data: "z"} },
			[]string{"trees of w1 and w2 differ", "/zombie only on w1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := trees()
			c.change(ts)
			wantProblem(t, Durability(c.acked, ts), c.parts...)
		})
	}
}

func TestDurabilityNoTrees(t *testing.T) {
	wantProblem(t, Durability([]string{"/a"}, nil), "no agent's tree")
}
