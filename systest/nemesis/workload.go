package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
	"time"

	warden "github.com/warden-dev/warden/clients/go"
	"github.com/warden-dev/warden/systest/nemesis/check"
)

// opTimeout bounds every client call; an acknowledged write is one whose
// reply came within it.
const opTimeout = 2 * time.Second

// workload runs the clients: on every agent, register clients (writes,
// compare-and-sets, sync+reads and plain reads on a few znodes), a lock
// client writing its fencing token to the protected resource, and a client
// creating uniquely named nodes.
type workload struct {
	h         *history
	res       *resource
	keys      []string
	pace      time.Duration // mean pause between one client's ops
	seed      int64
	plantRead bool // planted bug: Read skips the sync
	wg        sync.WaitGroup
	seq       atomic.Int64
	holder    atomic.Pointer[agent] // the agent of the lock's current holder, if a hold is on
}

const (
	root     = "/nemesis"
	lockPath = root + "/lock"
)

func (w *workload) rng() *rand.Rand { return rand.New(rand.NewSource(w.seed + w.seq.Add(1)*7919)) }

// start launches perAgent register clients, one lock client and one create
// client on every agent; they stop when ctx ends.
func (w *workload) start(ctx context.Context, agents []*agent, perAgent int) {
	for _, a := range agents {
		for i := 0; i < perAgent; i++ {
			w.run(func() { w.register(ctx, a) })
		}
		w.run(func() { w.locker(ctx, a) })
		w.run(func() { w.creator(ctx, a) })
	}
}

func (w *workload) run(f func()) {
	w.wg.Add(1)
	go func() { defer w.wg.Done(); f() }()
}

func (w *workload) wait() { w.wg.Wait() }

// pause waits about d (0.5–1.5 d) or until ctx ends.
func pause(ctx context.Context, r *rand.Rand, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d/2 + time.Duration(r.Int63n(int64(d))))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// session dials a on behalf of one client until it works or ctx ends.
func session(ctx context.Context, a *agent, o warden.Options) (*warden.Client, error) {
	o.Socket = a.Socket
	for {
		dctx, cancel := context.WithTimeout(ctx, opTimeout)
		c, err := warden.Dial(dctx, o)
		cancel()
		if err == nil {
			return c, nil
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// definite reports whether a failed write certainly had no effect.
func definite(err error) bool {
	return errors.Is(err, warden.ErrBadVersion) || errors.Is(err, warden.ErrNoNode) ||
		errors.Is(err, warden.ErrBadArguments)
}

// sessionOver reports whether err means the client must open a new session.
func sessionOver(err error) bool {
	return errors.Is(err, warden.ErrClosed) || errors.Is(err, warden.ErrSessionLost) ||
		errors.Is(err, warden.ErrSessionExpired)
}

// register runs one client's register ops against the agent a.
func (w *workload) register(ctx context.Context, a *agent) {
	r := w.rng()
	w.resumable(ctx, a, "nemesis-register", func(c *warden.Client, id, n int) error {
		pause(ctx, r, w.pace)
		return w.registerOp(c, id, n, w.keys[r.Intn(len(w.keys))], r)
	})
}

// resumable calls step over and over (n counting up) on a resumable
// session with a, which the client resumes by itself when the agent
// comes back; a session that is lost is replaced by a new client.
func (w *workload) resumable(ctx context.Context, a *agent, name string, step func(c *warden.Client, id, n int) error) {
	for ctx.Err() == nil {
		c, err := session(ctx, a, warden.Options{Resumable: true, SessionTimeout: 10 * time.Second, Name: name})
		if err != nil {
			return
		}
		id := w.h.client()
		for n := 0; ctx.Err() == nil; n++ {
			err := step(c, id, n)
			if sessionOver(err) {
				break
			}
			if errors.Is(err, warden.ErrDisconnected) {
				wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				_ = c.WaitConnected(wctx)
				cancel()
			}
		}
		c.Close()
	}
}

// registerOp does one op on key and records it; it returns the call's error.
func (w *workload) registerOp(c *warden.Client, id, n int, key string, r *rand.Rand) error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	op := check.RegOp{Client: id, Key: key}
	var err error
	switch p := r.Intn(10); {
	case p < 3: // write
		op.Kind, op.Value = check.Write, fmt.Sprintf("%d.%d", id, n)
		op.Call = w.h.now()
		var st warden.Stat
		st, err = c.Set(ctx, key, []byte(op.Value), warden.AnyVersion)
		op.Return, op.Version = w.h.now(), st.Version
	case p < 5: // compare-and-set on the version this agent last saw
		var st warden.Stat
		if _, st, err = c.Get(ctx, key); err != nil {
			return err
		}
		op.Kind, op.Value, op.Expect = check.CAS, fmt.Sprintf("%d.%d", id, n), st.Version
		op.Call = w.h.now()
		st, err = c.Set(ctx, key, []byte(op.Value), op.Expect)
		op.Return, op.Version = w.h.now(), st.Version
	case p < 8: // sync, then read: linearizable
		op.Kind = check.Read
		op.Call = w.h.now()
		if !w.plantRead {
			_, err = c.Sync(ctx)
		}
		var data []byte
		var st warden.Stat
		if err == nil {
			data, st, err = c.Get(ctx, key)
		}
		op.Return, op.Value, op.Version = w.h.now(), string(data), st.Version
	default: // a plain read from the local copy
		op.Kind = check.LocalRead
		op.Call = w.h.now()
		var data []byte
		var st warden.Stat
		data, st, err = c.Get(ctx, key)
		op.Return, op.Value, op.Version = w.h.now(), string(data), st.Version
	}
	switch {
	case err == nil:
		op.OK = true
	case op.Kind == check.Read || op.Kind == check.LocalRead || definite(err):
	default:
		op.Unknown = true
	}
	w.h.addReg(op)
	return err
}

// locker takes the lock over and over on a short session (2 s), holds it
// (mostly for tens of milliseconds, sometimes for seconds) writing its
// token to the protected resource every few milliseconds, and unlocks. A hold ends early when the
// session is lost or the connection closes.
func (w *workload) locker(ctx context.Context, a *agent) {
	r := w.rng()
	for ctx.Err() == nil {
		var lostAt atomic.Int64
		lost := make(chan struct{})
		c, err := session(ctx, a, warden.Options{SessionTimeout: 2 * time.Second, Name: "nemesis-lock",
			OnSessionState: func(s string) {
				if s == warden.SessionLost && lostAt.CompareAndSwap(0, w.h.now()) {
					close(lost)
				}
			}})
		if err != nil {
			return
		}
		id := w.h.client()
		for ctx.Err() == nil && lostAt.Load() == 0 {
			lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			lease, err := c.Lock(lctx, lockPath)
			cancel()
			if err != nil {
				if sessionOver(err) || c.Err() != nil {
					break
				}
				continue
			}
			hold := check.Hold{Client: id, Token: lease.Token, Granted: w.h.now(), Released: -1}
			// Most holds are short; one in five lasts 1–6 s, past the
			// session's timeout, so a pause or a partition of the
			// holder's agent catches it holding while the lock passes on.
			d := 20*time.Millisecond + time.Duration(r.Int63n(int64(60*time.Millisecond)))
			if r.Intn(5) == 0 {
				d = time.Second + time.Duration(r.Int63n(int64(5*time.Second)))
			}
			until := time.Now().Add(d)
			w.holder.Store(a)
			for time.Now().Before(until) && lostAt.Load() == 0 && c.Err() == nil {
				w.res.write(id, lease.Token)
				pause(context.Background(), r, 5*time.Millisecond)
			}
			hold.Released = w.h.now()
			w.holder.CompareAndSwap(a, nil)
			if lostAt.Load() == 0 && c.Err() == nil && !unlock(c, lease, lost) {
				// The unlock did not go through: the hold ended with the
				// session, which the agent says is lost (an agent paused
				// past the session's timeout says so once it runs again).
				t := time.NewTimer(10 * time.Second)
				select {
				case <-lost:
				case <-c.Done():
				case <-t.C:
				}
				t.Stop()
			}
			if l := lostAt.Load(); l != 0 {
				hold.Lost, hold.LostAt, hold.Released = true, l, min(hold.Released, l)
			}
			w.h.addHold(hold)
			pause(ctx, r, 10*time.Millisecond)
		}
		c.Close()
	}
}

// unlock releases the lease, retrying while the session lives (a paused
// agent answers late), and reports whether the agent confirmed it.
func unlock(c *warden.Client, lease *warden.Lease, lost <-chan struct{}) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		err := lease.Unlock(ctx)
		cancel()
		if err == nil {
			return true
		}
		select {
		case <-lost:
			return false
		case <-c.Done():
			return false
		default:
		}
		if sessionOver(err) || errors.Is(err, warden.ErrNotHeld) {
			return false
		}
		t := time.NewTimer(50 * time.Millisecond) // the agent may be paused or without a leader
		select {
		case <-lost:
		case <-c.Done():
		case <-t.C:
		}
		t.Stop()
	}
	return false
}

// creator creates uniquely named persistent nodes; every acknowledged one
// must be on every agent at the end.
func (w *workload) creator(ctx context.Context, a *agent) {
	r := w.rng()
	w.resumable(ctx, a, "nemesis-create", func(c *warden.Client, id, n int) error {
		pause(ctx, r, 2*w.pace)
		path := fmt.Sprintf("%s/c/%s-%d-%d", root, a.Name, id, n)
		cctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		_, err := c.Create(cctx, path, []byte(path), warden.Persistent)
		cancel()
		w.h.addCreate(path, err == nil)
		return err
	})
}
