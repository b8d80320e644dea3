package main

import (
	"context"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
	"github.com/warden-dev/warden/localapi/wire"
)

// TestSessionsHolds: warden sessions shows what each session holds and
// waits for, read from the recipes' layouts: locks held and waited for,
// read locks, semaphore leases, leadership and candidacy, group
// membership, and plain ephemeral nodes; --json lists every node.
func TestSessionsHolds(t *testing.T) {
	e := startAgent(t)
	a, b := e.dial(), e.dial()
	ctx := testCtx(t, 60*time.Second)

	lock, err := a.Lock(ctx, "/locks/x")
	if err != nil {
		t.Fatal(err)
	}
	rl, err := a.ReadLock(ctx, "/rw")
	if err != nil {
		t.Fatal(err)
	}
	sem, err := a.Semaphore("/sem", 2).Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lead, err := a.Campaign(ctx, "/elect", []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	member, err := a.Join(ctx, "g", "m1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Create(ctx, "/eph", nil, warden.Ephemeral); err != nil {
		t.Fatal(err)
	}
	// b waits behind a for the lock and the leadership.
	bctx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	go b.Lock(bctx, "/locks/x")
	go b.Campaign(bctx, "/elect", []byte("b"))
	agenttest.Eventually(t, 10*time.Second, "b in line for the lock and the election", func() bool {
		return contenders(t, a, "/locks/x") == 2 && contenders(t, a, "/elect") == 2
	})
	kids, _, err := a.Children(ctx, "/locks/x")
	if err != nil {
		t.Fatal(err)
	}
	var bLock string
	for _, k := range kids {
		if "/locks/x/"+k != lock.Key {
			bLock = "/locks/x/" + k
		}
	}
	ekids, _, err := a.Children(ctx, "/elect")
	if err != nil {
		t.Fatal(err)
	}
	var bCand string
	for _, k := range ekids {
		if "/elect/"+k != lead.Key {
			bCand = "/elect/" + k
		}
	}

	r := e.cli("sessions", "--json")
	var ss []warden.SessionInfo
	if err := json.Unmarshal([]byte(r.stdout), &ss); r.code != 0 || err != nil {
		t.Fatalf("sessions --json: %v %+v", err, r)
	}
	holds := map[uint64][]wire.Hold{}
	for _, s := range ss {
		holds[s.ID] = s.Holds
	}
	wantA := []wire.Hold{
		{Kind: "ephemeral", Path: "/eph", Key: "/eph"},
		{Kind: "election", Path: "/elect", Key: lead.Key, State: "leader"},
		{Kind: "lock", Path: "/locks/x", Key: lock.Key, State: "held"},
		{Kind: "read_lock", Path: "/rw", Key: rl.Key, State: "held"},
		{Kind: "semaphore", Path: "/sem", Key: sem.Key, State: "held"},
		{Kind: "group", Path: "/warden/groups/g", Key: member.Key, State: "held"},
	}
	if got := byKind(holds[a.SessionID()]); !reflect.DeepEqual(got, byKind(wantA)) {
		t.Errorf("a holds\n%+v\nwant\n%+v", got, byKind(wantA))
	}
	wantB := []wire.Hold{
		{Kind: "election", Path: "/elect", Key: bCand, State: "candidate"},
		{Kind: "lock", Path: "/locks/x", Key: bLock, State: "waiting"},
	}
	if got := byKind(holds[b.SessionID()]); !reflect.DeepEqual(got, byKind(wantB)) {
		t.Errorf("b holds\n%+v\nwant\n%+v", got, byKind(wantB))
	}

	// The table: a HOLDS column with a summary.
	r = e.cli("sessions")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "ID ") || !strings.Contains(strings.SplitN(r.stdout, "\n", 2)[0], "HOLDS") {
		t.Fatalf("sessions: %+v", r)
	}
	rows := map[string]string{}
	for _, l := range strings.Split(r.stdout, "\n")[1:] {
		if id, _, ok := strings.Cut(l, " "); ok {
			rows[id] = l
		}
	}
	for id, want := range map[uint64][]string{
		a.SessionID(): {"ephemeral /eph", "leader /elect", "lock /locks/x", "read_lock /rw", "semaphore /sem", "member " + member.Key},
		b.SessionID(): {"candidate /elect", "lock /locks/x (waiting)"},
	} {
		row := rows[strconv.FormatUint(id, 10)]
		for _, w := range want {
			if !strings.Contains(row, w) {
				t.Errorf("session %d's row %q lacks %q", id, row, w)
			}
		}
	}
}

// byKind orders holds by kind then key, for comparison.
func byKind(hs []wire.Hold) map[string][]wire.Hold {
	m := map[string][]wire.Hold{}
	for _, h := range hs {
		m[h.Kind] = append(m[h.Kind], h)
	}
	return m
}
