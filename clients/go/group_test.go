package warden_test

import (
	"context"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
)

// Groups against an in-process agent.

func nextMember(t *testing.T, w *warden.GroupWatch) warden.MemberEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev, err := w.Next(ctx)
	if err != nil {
		t.Fatalf("group watch: %v", err)
	}
	return ev
}

func wantMemberEvent(t *testing.T, w *warden.GroupWatch, member, data string, left bool) {
	t.Helper()
	if ev := nextMember(t, w); ev.Member.Member != member || string(ev.Member.Data) != data || ev.Left != left {
		t.Fatalf("event %+v, want %s %q left=%v", ev, member, data, left)
	}
}

func groupMembers(t *testing.T, c *warden.Client, group string) []warden.GroupMember {
	t.Helper()
	ms, err := c.GroupMembers(testCtx(t, 10*time.Second), group)
	if err != nil {
		t.Fatalf("members of %s: %v", group, err)
	}
	return ms
}

func TestGroup(t *testing.T) {
	a := agenttest.Start(t)
	ctx := testCtx(t, 60*time.Second)
	c1, c2, obs := dial(t, a), dial(t, a), dial(t, a)

	if ms := groupMembers(t, obs, "workers"); len(ms) != 0 {
		t.Fatalf("members of an empty group: %+v", ms)
	}
	w, err := obs.WatchGroup(ctx, "workers")
	if err != nil {
		t.Fatal(err)
	}

	m1, err := c1.Join(ctx, "workers", "w1", []byte("host1:80"))
	if err != nil {
		t.Fatal(err)
	}
	if m1.Key != "/warden/groups/workers/w1" || m1.Token == 0 {
		t.Fatalf("membership %+v", m1)
	}
	wantMemberEvent(t, w, "w1", "host1:80", false)
	if _, st := mustGet(t, obs, m1.Key); st.EphemeralOwner != c1.SessionID() {
		t.Fatalf("member node owned by %d, want %d", st.EphemeralOwner, c1.SessionID())
	}

	// A member id is unique: another session cannot take it.
	_, err = c2.Join(ctx, "workers", "w1", []byte("impostor"))
	wantErr(t, "join with a taken id", err, warden.ErrNodeExists)

	m2, err := c2.Join(ctx, "workers", "w2", nil)
	if err != nil {
		t.Fatal(err)
	}
	wantMemberEvent(t, w, "w2", "", false)
	ms := groupMembers(t, obs, "workers")
	if len(ms) != 2 || ms[0].Member != "w1" || string(ms[0].Data) != "host1:80" || ms[1].Member != "w2" {
		t.Fatalf("members: %+v", ms)
	}

	// Update (a join again by the holder) replaces the data.
	if err := m1.Update(ctx, []byte("host1:81")); err != nil {
		t.Fatal(err)
	}
	wantMemberEvent(t, w, "w1", "host1:81", false)
	again, err := c1.Join(ctx, "workers", "w1", []byte("host1:82"))
	if err != nil || again.Key != m1.Key || again.Token != m1.Token {
		t.Fatalf("join again: %+v %v", again, err)
	}
	wantMemberEvent(t, w, "w1", "host1:82", false)

	// A watcher that starts now hears the current members first.
	w2, err := obs.WatchGroup(ctx, "workers")
	if err != nil {
		t.Fatal(err)
	}
	wantMemberEvent(t, w2, "w1", "host1:82", false)
	wantMemberEvent(t, w2, "w2", "", false)
	_ = w2.Close(ctx)

	// Leave, and leaving twice.
	if err := m2.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	wantMemberEvent(t, w, "w2", "", true)
	wantErr(t, "leave twice", m2.Leave(ctx), warden.ErrNotHeld)

	// A member whose session ends leaves, with its last data.
	c1.Close()
	wantMemberEvent(t, w, "w1", "host1:82", true)
	if ms := groupMembers(t, obs, "workers"); len(ms) != 0 {
		t.Fatalf("members after all left: %+v", ms)
	}
	agenttest.Eventually(t, 5*time.Second, "the group's node to go with its last member", func() bool {
		return !exists(t, obs, "/warden/groups/workers")
	})
	// The id is free again.
	m3, err := c2.Join(ctx, "workers", "w1", []byte("new"))
	if err != nil || m3.Token == m1.Token {
		t.Fatalf("join a freed id: %+v %v", m3, err)
	}
	wantMemberEvent(t, w, "w1", "new", false)

	// Refusals.
	_, err = c2.Join(ctx, "", "m", nil)
	wantErr(t, "join an empty group", err, warden.ErrBadArguments)
	_, err = c2.Join(ctx, "g", "a/b", nil)
	wantErr(t, "join with a / in the id", err, warden.ErrBadArguments)
	ro, err := warden.Dial(ctx, warden.Options{Socket: a.SocketPath(), NoSession: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if ms, err := ro.GroupMembers(ctx, "workers"); err != nil || len(ms) != 1 {
		t.Fatalf("members without a session: %+v %v", ms, err)
	}
	if _, err := ro.Join(ctx, "workers", "x", nil); warden.CodeOf(err) != "no_session" {
		t.Fatalf("join without a session: %v", err)
	}
}

// TestGroupJoinCanceled: a join whose caller gives up as it succeeds is
// left again, so no member outlives its caller's interest.
func TestGroupJoinCanceled(t *testing.T) {
	a := agenttest.Start(t)
	c, obs := dial(t, a), dial(t, a)
	for i := 0; i < 20; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i)*100*time.Microsecond)
		m, err := c.Join(ctx, "g", "m", nil)
		cancel()
		if err == nil {
			if err := m.Leave(testCtx(t, 10*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		agenttest.Eventually(t, 5*time.Second, "no member left behind", func() bool {
			return len(groupMembers(t, obs, "g")) == 0
		})
	}
}
