package recipes

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/warden-dev/warden/fsm"
)

// TestHoldings reads what sessions' ephemeral nodes stand for on a real
// tree: the lines of locks, read-write locks, semaphores and queues,
// elections, groups and tasks, a lock-delay, and nodes no recipe explains.
func TestHoldings(t *testing.T) {
	st := newElectionStore(t)
	a, b := st.open(), st.open()
	create := func(sid uint64, path string, data string, eph, seq bool) string {
		t.Helper()
		r, err := st.Write(context.Background(), sid, []fsm.Op{{Kind: fsm.OpCreate, Path: path, Data: []byte(data), Ephemeral: eph, Sequential: seq}})
		if err != nil || r.Error() != nil {
			t.Fatalf("create %s: %v %v", path, err, r.Error())
		}
		return r.Ops[0].Path
	}
	for _, p := range []string{"/l", "/rw", "/s", "/s/_lock", "/s/leases", "/q", "/q/_takers", "/e", "/d",
		"/warden", GroupRoot, GroupRoot + "/g", ProgressRoot, ProgressRoot + "/j"} {
		create(a, p, "", false, false)
	}
	aLock := create(a, "/l/lock-", "", true, true)
	bLock := create(b, "/l/lock-", "", true, true)
	aRead := create(a, "/rw/lock-", "read", true, true)
	bWrite := create(b, "/rw/lock-", "", true, true)
	aRead2 := create(a, "/rw/lock-", "read", true, true) // behind a writer: waits
	aLease := create(a, "/s/leases/lease-", "", true, true)
	bSemLine := create(b, "/s/_lock/lock-", "", true, true)
	bTaker := create(b, "/q/_takers/lock-", "", true, true)
	bCand := create(b, "/e/latch-", "b", true, true)
	aCand := create(a, "/e/latch-", "a", true, true)
	dLock := create(a, "/d/lock-", "", true, true)
	st.delays.Store("/d", time.Now().Add(time.Hour))
	create(a, GroupRoot+"/g/m1", "", true, false)
	create(a, ProgressRoot+"/j/t1", "", true, false)
	create(a, "/lock-0000000099", "", true, false) // at the root: no recipe's
	create(a, "/plain", "", true, false)

	got, err := Holdings(st, st.Ephemerals(a))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Holding{
		aLock:                  {HoldLock, "/l", aLock, StateHeld},
		aRead:                  {HoldReadLock, "/rw", aRead, StateHeld},
		aRead2:                 {HoldReadLock, "/rw", aRead2, StateWaiting},
		aLease:                 {HoldSemaphore, "/s", aLease, StateHeld},
		aCand:                  {HoldElection, "/e", aCand, StateCandidate},
		dLock:                  {HoldLock, "/d", dLock, StateWaiting},
		GroupRoot + "/g/m1":    {HoldGroup, GroupRoot + "/g", GroupRoot + "/g/m1", StateHeld},
		ProgressRoot + "/j/t1": {HoldTask, ProgressRoot + "/j", ProgressRoot + "/j/t1", StateHeld},
		"/lock-0000000099":     {HoldEphemeral, "/lock-0000000099", "/lock-0000000099", ""},
		"/plain":               {HoldEphemeral, "/plain", "/plain", ""},
	}
	wantHoldings(t, "a", got, want)

	got, err = Holdings(st, append(st.Ephemerals(b), "/l/lock-0000000042")) // one that is gone
	if err != nil {
		t.Fatal(err)
	}
	wantHoldings(t, "b", got, map[string]Holding{
		bLock:    {HoldLock, "/l", bLock, StateWaiting},
		bWrite:   {HoldLock, "/rw", bWrite, StateWaiting},
		bSemLine: {HoldSemaphore, "/s", bSemLine, StateWaiting},
		bTaker:   {HoldQueueTake, "/q", bTaker, StateWaiting},
		bCand:    {HoldElection, "/e", bCand, StateLeader},
	})
}

func wantHoldings(t *testing.T, who string, got []Holding, want map[string]Holding) {
	t.Helper()
	m := map[string]Holding{}
	for _, h := range got {
		m[h.Key] = h
	}
	if !reflect.DeepEqual(m, want) || len(got) != len(want) {
		t.Errorf("%s holds\n%+v\nwant\n%+v", who, got, want)
	}
}
