// This file checks lock cycles on one lock path against the fencing
// discipline: tokens increase, holds do not overlap unless the earlier
// holder was told it lost its session, and the protected resource refuses
// stale tokens.

package check

import (
	"fmt"
	"math"
	"sort"
)

// Hold is one grant of the lock, as its holder saw it.
type Hold struct {
	Client  int
	Token   uint64 // the fencing token the grant carried
	Granted int64  // when the grant reply was received
	// Released is when the holder started its unlock, or learned the hold
	// was lost (the session state "lost"), whichever came first; -1 if
	// neither happened before the run ended.
	Released int64
	Lost     bool  // the holder was told its session (and so the lock) was lost
	LostAt   int64 // when it was told (if Lost)
}

func (h Hold) String() string {
	s := fmt.Sprintf("client %d token %d held [%s, %s]", h.Client, h.Token, at(h.Granted), at(h.Released))
	if h.Lost {
		s += fmt.Sprintf(", told lost at %s", at(h.LostAt))
	}
	return s
}

// end is when the hold ended, +infinity when it did not.
func (h Hold) end() int64 {
	if h.Released < 0 {
		return math.MaxInt64
	}
	return h.Released
}

// ResourceWrite is an attempt to write to the protected resource.
type ResourceWrite struct {
	Client   int
	Token    uint64
	At       int64 // when the resource decided
	Accepted bool
}

func (w ResourceWrite) String() string {
	verdict := "refused"
	if w.Accepted {
		verdict = "accepted"
	}
	return fmt.Sprintf("resource %s client %d token %d at %s", verdict, w.Client, w.Token, at(w.At))
}

// LockSafety checks: (1) tokens strictly increase in grant order (ordered by
// Granted; equal tokens = problem); (2) no two holds overlap in real time
// ([Granted, Released], Released -1 = open until the end) unless the earlier
// one was told Lost (at any time), and for such an overlap, every resource
// write by the earlier holder after the later holder's first accepted write
// was refused; (3) the resource never accepted a token lower than one it had
// accepted before (in At order), and only accepted a token from the client
// it was granted to.
func LockSafety(holds []Hold, writes []ResourceWrite) Result {
	hs := append([]Hold(nil), holds...)
	sort.SliceStable(hs, func(i, j int) bool { return hs[i].Granted < hs[j].Granted })
	ws := append([]ResourceWrite(nil), writes...)
	sort.SliceStable(ws, func(i, j int) bool { return ws[i].At < ws[j].At })
	var r report
	checkTokens(hs, &r)
	checkOverlaps(hs, ws, &r)
	checkResource(hs, ws, &r)
	return r.result(len(hs) + len(ws))
}

// checkTokens checks (1) on holds sorted by Granted.
func checkTokens(hs []Hold, r *report) {
	for i := 1; i < len(hs); i++ {
		prev, h := hs[i-1], hs[i]
		switch {
		case h.Token == prev.Token:
			r.add("token reused: %s, then %s", prev, h)
		case h.Token < prev.Token:
			r.add("token decreased: %s, then %s", prev, h)
		}
	}
}

// checkOverlaps checks (2) on holds sorted by Granted and writes sorted by
// At.
func checkOverlaps(hs []Hold, ws []ResourceWrite, r *report) {
	for j, later := range hs {
		for _, earlier := range hs[:j] {
			if later.Granted >= earlier.end() {
				continue
			}
			if !earlier.Lost {
				r.add("two holders at once, neither told lost: %s and %s", earlier, later)
				continue
			}
			first := int64(-1)
			for _, w := range ws {
				if w.Accepted && w.Client == later.Client && w.Token == later.Token {
					first = w.At
					break
				}
			}
			if first < 0 {
				continue
			}
			for _, w := range ws {
				if w.At > first && w.Accepted && w.Client == earlier.Client && w.Token == earlier.Token {
					r.add("%s from the lost holder (%s) after the new holder (%s) wrote at %s", w, earlier, later, at(first))
				}
			}
		}
	}
}

// checkResource checks (3) on writes sorted by At.
func checkResource(hs []Hold, ws []ResourceWrite, r *report) {
	owner := map[uint64]int{}
	for _, h := range hs {
		if _, dup := owner[h.Token]; !dup {
			owner[h.Token] = h.Client
		}
	}
	var highest *ResourceWrite
	for i, w := range ws {
		if !w.Accepted {
			continue
		}
		if c, ok := owner[w.Token]; !ok {
			r.add("%s: token never granted", w)
		} else if c != w.Client {
			r.add("%s: token granted to client %d", w, c)
		}
		if highest != nil && w.Token < highest.Token {
			r.add("stale token accepted: %s after %s", w, highest)
		}
		if highest == nil || w.Token > highest.Token {
			highest = &ws[i]
		}
	}
}
