package localapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
)

// TestSquattedLineIgnored: an app creates persistent nodes named like the
// first contender of a lock, a read-write lock and an election (a squat:
// no session holds them, so they would never go). The recipes take only
// ephemeral nodes for places in line: the next lock, write lock and
// candidacy are granted at once, and the election's leader is the real
// candidate.
func TestSquattedLineIgnored(t *testing.T) {
	a := agenttest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	squatter, app := procClient(t, a.SocketPath()), procClient(t, a.SocketPath())
	for _, p := range []string{"/sq", "/sq/lock", "/sq/lock/lock-0000000000", "/sq/rw", "/sq/rw/lock-0000000000",
		"/sq/elect", "/sq/elect/latch-0000000000"} {
		if _, err := squatter.Create(ctx, p, []byte("squat"), warden.Persistent); err != nil {
			t.Fatalf("create %s: %v", p, err)
		}
	}
	if _, err := app.TryLock(ctx, "/sq/lock"); err != nil {
		t.Fatalf("lock behind a squatted contender name: %v", err)
	}
	if _, err := app.TryWriteLock(ctx, "/sq/rw"); err != nil {
		t.Fatalf("write lock behind a squatted contender name: %v", err)
	}
	lead, err := app.Campaign(ctx, "/sq/elect", []byte("me"))
	if err != nil {
		t.Fatalf("campaign behind a squatted candidate name: %v", err)
	}
	who, err := squatter.Leader(ctx, "/sq/elect")
	if err != nil || who == nil || who.Token != lead.Token || string(who.Value) != "me" {
		t.Fatalf("leader %+v (%v), want the real candidate %+v", who, err, lead)
	}
}
