// This file compares the agents' final trees: acknowledged creates must
// survive everywhere, and every agent must hold the same tree.

package check

import (
	"fmt"
	"sort"
	"strings"
)

// Node is one znode of an agent's final copy of the tree.
type Node struct {
	Data           string
	Version        int32
	EphemeralOwner int64
}

func (n Node) String() string {
	s := fmt.Sprintf("%q v%d", n.Data, n.Version)
	if n.EphemeralOwner != 0 {
		s += fmt.Sprintf(" ephemeral of session %d", n.EphemeralOwner)
	}
	return s
}

// Tree is one agent's final copy: path -> node.
type Tree map[string]Node

// maxDiffs bounds how many differing paths are named for one pair of
// agents.
const maxDiffs = 5

// Durability checks that every acknowledged create (paths) is present in
// every agent's tree, and that all agents' trees are identical, naming the
// first differing paths and agents (the map key is the agent's name). Each
// tree is compared with the tree of the first agent in name order.
func Durability(acked []string, trees map[string]Tree) Result {
	var r report
	agents := make([]string, 0, len(trees))
	for a := range trees {
		agents = append(agents, a)
	}
	sort.Strings(agents)
	if len(agents) == 0 {
		r.add("no agent's tree to check")
		return r.result(0)
	}
	checked := 0
	for _, p := range acked {
		var missing []string
		for _, a := range agents {
			checked++
			if _, ok := trees[a][p]; !ok {
				missing = append(missing, a)
			}
		}
		if len(missing) > 0 {
			r.add("acknowledged create %s missing on %v", p, missing)
		}
	}
	ref := agents[0]
	for _, a := range agents[1:] {
		checked++
		compareTrees(ref, trees[ref], a, trees[a], &r)
	}
	return r.result(checked)
}

// compareTrees reports the first differing paths of two agents' trees.
func compareTrees(nameA string, a Tree, nameB string, b Tree, r *report) {
	paths := make([]string, 0, len(a))
	for p := range a {
		paths = append(paths, p)
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	var diffs []string
	total := 0
	for _, p := range paths {
		na, inA := a[p]
		nb, inB := b[p]
		var d string
		switch {
		case !inA:
			d = fmt.Sprintf("%s only on %s (%s)", p, nameB, nb)
		case !inB:
			d = fmt.Sprintf("%s only on %s (%s)", p, nameA, na)
		case na != nb:
			d = fmt.Sprintf("%s is %s on %s but %s on %s", p, na, nameA, nb, nameB)
		default:
			continue
		}
		total++
		if len(diffs) < maxDiffs {
			diffs = append(diffs, d)
		}
	}
	if total == 0 {
		return
	}
	msg := fmt.Sprintf("trees of %s and %s differ at %d path(s): %s", nameA, nameB, total, strings.Join(diffs, "; "))
	if total > len(diffs) {
		msg += " ..."
	}
	r.add("%s", msg)
}
