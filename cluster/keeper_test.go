package cluster

import (
	"testing"
	"time"
)

// TestGrantVouchRule: a session is current while the leader acknowledged
// it within its timeout. One past it is lost at the moment it is asked
// about (its app is told then), so an agent that was paused or cut off
// past the timeout passes no grant to the app: in a nemesis run, an agent
// SIGSTOPped for 3.7 s delivered on SIGCONT a lock grant to a session the
// leader had already expired, 0.4 s after another session was granted the
// same lock.
func TestGrantVouchRule(t *testing.T) {
	ls := newLocalSessions()
	now := time.Now()
	var told []SessionState
	ls.add(1, time.Second, 1, now.Add(-900*time.Millisecond), nil)
	ls.add(2, time.Second, 1, now.Add(-1100*time.Millisecond), func(s SessionState) { told = append(told, s) })
	if !ls.current(1, now) {
		t.Fatal("a session acknowledged 0.9 s ago (timeout 1 s) is not current")
	}
	if ls.current(2, now) {
		t.Fatal("a session acknowledged 1.1 s ago (timeout 1 s) is current")
	}
	if len(told) != 1 || told[0] != StateLost {
		t.Fatalf("the app of the expired session was told %v, want [lost]", told)
	}
	if ls.current(2, now) || ls.current(3, now) {
		t.Fatal("a lost or unknown session is current")
	}
	// A late acknowledgement does not bring a lost session back.
	ls.acked([]uint64{2}, now, nil)
	if ls.current(2, now) {
		t.Fatal("a lost session is current again after a late acknowledgement")
	}
}
