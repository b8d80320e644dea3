package main

import (
	"context"
	"fmt"
	"path"
	"sort"
	"sync"
	"syscall"
	"time"

	warden "github.com/warden-dev/warden/clients/go"
	"github.com/warden-dev/warden/systest/nemesis/check"
)

// recover undoes every fault: cuts healed, paused agents continued, dead
// agents started again on their data directories.
func recoverAll(agents []*agent) error {
	if err := heal(); err != nil {
		return err
	}
	for _, a := range agents {
		if a.running() {
			_ = a.signal(syscall.SIGCONT)
		} else if err := a.start(); err != nil {
			return err
		}
	}
	return nil
}

// liveness measures, for every agent at once, how long after the healing
// it takes to open a session, write through it and read the write back
// after a sync; limit bounds each.
func liveness(agents []*agent, limit time.Duration) (map[string]time.Duration, []string) {
	var mu sync.Mutex
	took := map[string]time.Duration{}
	var problems []string
	var wg sync.WaitGroup
	for _, a := range agents {
		wg.Add(1)
		go func(a *agent) {
			defer wg.Done()
			t0 := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), limit)
			defer cancel()
			err := func() error {
				c, err := session(ctx, a, warden.Options{Name: "nemesis-liveness"})
				if err != nil {
					return err
				}
				defer c.Close()
				p := root + "/live/" + a.Name
				for {
					_, err = c.Create(ctx, p, []byte(a.Name), warden.Persistent)
					if err == nil || ctx.Err() != nil {
						break
					}
				}
				if err != nil {
					return fmt.Errorf("write: %w", err)
				}
				if _, err := c.Sync(ctx); err != nil {
					return fmt.Errorf("sync: %w", err)
				}
				if data, _, err := c.Get(ctx, p); err != nil || string(data) != a.Name {
					return fmt.Errorf("read back %q: %v", data, err)
				}
				return nil
			}()
			mu.Lock()
			defer mu.Unlock()
			took[a.Name] = time.Since(t0)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s does not serve a write and a read within %v of the healing: %v", a.Name, limit, err))
			}
		}(a)
	}
	wg.Wait()
	sort.Strings(problems)
	return took, problems
}

// settledTrees reads every agent's copy until two agree everywhere, at
// most rounds times: a write an agent was still retrying for a client that
// gave up on it may commit between one agent's read and the next.
func settledTrees(agents []*agent, rounds int) (map[string]check.Tree, int, error) {
	for i := 1; ; i++ {
		ts, err := trees(agents)
		if err != nil || i == rounds || check.Durability(nil, ts).OK {
			return ts, i, err
		}
	}
}

// trees reads every agent's copy of the persistent nodes under root,
// after a sync on each.
func trees(agents []*agent) (map[string]check.Tree, error) {
	out := map[string]check.Tree{}
	for _, a := range agents {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		t, err := tree(ctx, a)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.Name, err)
		}
		out[a.Name] = t
	}
	return out, nil
}

func tree(ctx context.Context, a *agent) (check.Tree, error) {
	c, err := a.client(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := c.Sync(ctx); err != nil {
		return nil, err
	}
	t := check.Tree{}
	var walk func(p string) error
	walk = func(p string) error {
		data, st, err := c.Get(ctx, p)
		if err != nil {
			return fmt.Errorf("get %s: %w", p, err)
		}
		if st.EphemeralOwner != 0 {
			return nil // sessions still ending may own it on one agent and not yet gone on another
		}
		t[p] = check.Node{Data: string(data), Version: st.Version}
		kids, _, err := c.Children(ctx, p)
		if err != nil {
			return fmt.Errorf("children %s: %w", p, err)
		}
		for _, k := range kids {
			if err := walk(path.Join(p, k)); err != nil && !isNoNode(err) {
				return err
			}
		}
		return nil
	}
	return t, walk(root)
}
