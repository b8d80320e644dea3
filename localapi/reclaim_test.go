package localapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
	"github.com/warden-dev/warden/localapi/wire"
)

// TestResumeReclaimsWhatTheDropLeftQueued: an app's resumable session
// holds a lock and waits on another when its agent is SIGKILLed. The wait
// ends with the connection, but its contender node lives on with the
// session, and would be granted to nobody. The resume that says what the
// app holds has the agent delete it, and only it: the held lock and the
// session's other ephemeral nodes stay.
func TestResumeReclaimsWhatTheDropLeftQueued(t *testing.T) {
	sock := agenttest.SocketDir(t) + "/w.sock"
	p := agenttest.StartProc(t, t.TempDir(), sock)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	other, err := warden.Dial(ctx, warden.Options{Socket: sock, Resumable: true, SessionTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Lock(ctx, "/rc/busy"); err != nil {
		t.Fatal(err)
	}

	a := dialProc(t, sock)
	a.write(t, req{"id": 1, "op": "hello", "protocol": 1, "resumable": true, "session_timeout_ms": 30000})
	a.flush(t)
	var hello wire.HelloResult
	decodeResult(t, replyOf(t, a), &hello)
	a.write(t, req{"id": 2, "op": "lock", "path": "/rc/held"})
	a.write(t, req{"id": 3, "op": "create", "path": "/rc/mine", "ephemeral": true})
	a.write(t, req{"id": 4, "op": "lock", "path": "/rc/busy"}) // waits behind other
	a.flush(t)
	var held wire.LockResult
	for got := 0; got < 2; got++ {
		m := replyOf(t, a)
		switch m.ID {
		case 2:
			decodeResult(t, m, &held)
		case 3:
			decodeResult(t, m, &wire.CreateResult{})
		default:
			t.Fatalf("unexpected %+v", m)
		}
	}
	var queued string
	agenttest.Eventually(t, 10*time.Second, "the wait's contender node", func() bool {
		kids, _, err := other.Children(ctx, "/rc/busy")
		if err != nil || len(kids) != 2 {
			return false
		}
		queued = "/rc/busy/" + kids[1]
		return true
	})

	p.Kill()
	p.Restart()
	b := dialProc(t, sock)
	b.write(t, req{"id": 1, "op": "hello", "protocol": 1, "session_id": hello.SessionID, "secret": hello.Secret,
		"reclaim": true, "holds": []string{held.Key}})
	b.flush(t)
	var resumed wire.HelloResult
	decodeResult(t, replyOf(t, b), &resumed)
	if !resumed.Resumed || resumed.Reclaimed != 1 {
		t.Fatalf("resume: resumed=%v reclaimed=%d, want true and 1", resumed.Resumed, resumed.Reclaimed)
	}
	for path, want := range map[string]bool{held.Key: true, "/rc/mine": true, queued: false} {
		b.write(t, req{"id": 2, "op": "exists", "path": path})
		b.flush(t)
		var ex wire.ExistsResult
		decodeResult(t, replyOf(t, b), &ex)
		if ex.Exists != want {
			t.Errorf("%s exists=%v after the reclaiming resume, want %v", path, ex.Exists, want)
		}
	}
}

func decodeResult(t *testing.T, m *wire.Message, into any) {
	t.Helper()
	if m.Error != nil {
		t.Fatalf("reply %d: %+v", m.ID, m.Error)
	}
	if err := msgpack.Unmarshal(m.Result, into); err != nil {
		t.Fatalf("reply %d: %v", m.ID, err)
	}
}

// replyOf reads the next reply, skipping events.
func replyOf(t *testing.T, c *procConn) *wire.Message {
	t.Helper()
	for {
		if m := c.read(t); m.Event == "" {
			return m
		}
	}
}
