// This file turns porcupine's verdict that a key's history is not
// linearizable into a message naming the ops where the search got stuck.

package check

import (
	"fmt"
	"sort"
	"strings"
)

// maxNamed bounds how many ops one part of a message names.
const maxNamed = 4

// explainIllegal takes the longest linearizable prefix porcupine found, the
// register's state after it, and the remaining ops that could have come next
// (called before any remaining op returned), none of which fits; for each,
// it names the ops that stand in its way.
func explainIllegal(c *keyCheck) string {
	var prefix []int
	if parts := c.info.PartialLinearizations(); len(parts) > 0 {
		for _, p := range parts[0] {
			if len(p) > len(prefix) {
				prefix = p
			}
		}
	}
	op := func(id int) RegOp { return c.history[id].Input.(RegOp) }
	placed := make([]bool, len(c.history))
	var s regState
	for _, id := range prefix {
		placed[id] = true
		_, s = regStep(s, op(id))
	}
	firstReturn := int64(-1)
	for id, o := range c.history {
		if !placed[id] && (firstReturn < 0 || o.Return < firstReturn) {
			firstReturn = o.Return
		}
	}
	var next, rest []RegOp
	for id, o := range c.history {
		if !placed[id] {
			rest = append(rest, op(id))
			if o.Call <= firstReturn {
				next = append(next, op(id))
			}
		}
	}
	// Ops with a known outcome first: an Unknown one is rarely the culprit.
	sort.SliceStable(next, func(i, j int) bool {
		if next[i].Unknown != next[j].Unknown {
			return !next[i].Unknown
		}
		return next[i].Call < next[j].Call
	})
	names := make([]string, len(next))
	for i, o := range next {
		names[i] = o.String() + blockers(c.facts, s, o, rest)
	}
	after := "from the initial state"
	if len(prefix) > 0 {
		after = fmt.Sprintf("after the longest linearizable prefix (%d of %d ops, ending with %s)",
			len(prefix), len(c.history), op(prefix[len(prefix)-1]))
	}
	return fmt.Sprintf("key %q: not linearizable: %s the register holds %q v%d, and none of these can come next: %s",
		c.key, after, s.Value, s.Version, joinSome(names))
}

// blockers says which other ops keep o, whose own outcome fits state s,
// from coming next (see keyFacts.allows), or "" when o's outcome does not
// fit s.
func blockers(f keyFacts, s regState, o RegOp, rest []RegOp) string {
	ok, next := regStep(s, o)
	if !ok || next.Version == s.Version {
		return ""
	}
	v := next.Version
	var before, other []string
	for _, r := range rest {
		if rv, observed := observedVersion(r); observed && r != o {
			switch {
			case rv < v:
				before = append(before, r.String())
			case rv == v && r.Value != o.Value:
				other = append(other, r.String())
			}
		}
	}
	var why []string
	if len(before) > 0 {
		why = append(why, fmt.Sprintf("only after these ops, which observed an older version: %s", joinSome(before)))
	}
	if len(other) > 0 {
		why = append(why, fmt.Sprintf("version %d was observed with another value by: %s", v, joinSome(other)))
	}
	if sv, sole := f.sole[o.Value]; sole && sv != v {
		why = append(why, fmt.Sprintf("its value was observed at version %d, and no other op writes it", sv))
	}
	if len(why) == 0 {
		return ""
	}
	return " (" + strings.Join(why, "; ") + ")"
}

// joinSome joins the first maxNamed names and counts the others.
func joinSome(names []string) string {
	if len(names) > maxNamed {
		names = append(names[:maxNamed:maxNamed], fmt.Sprintf("and %d more", len(names)-maxNamed))
	}
	return strings.Join(names, "; ")
}
