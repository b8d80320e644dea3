package zkcompat

import (
	"fmt"
	"io"
	"log"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

// TestGoZooKeeper runs go-zookeeper's own lock recipe (zk.NewLock) and
// watches against a 3-server target: four clients, each on a connection
// of its own, take one lock in turns with never two inside, and a data
// watch, a child watch and an exists watch each fire once, with the
// event ZooKeeper gives.
func TestGoZooKeeper(t *testing.T) {
	for _, kind := range Kinds(t) {
		t.Run(kind, func(t *testing.T) {
			tg := Start(t, kind, 3)
			dial := func() *zk.Conn {
				c, ev, err := zk.Connect(strings.Split(tg.Hosts(), ","), 10*time.Second,
					zk.WithLogger(log.New(io.Discard, "", 0)))
				if err != nil {
					t.Fatal(err)
				}
				go func() {
					for range ev {
					}
				}()
				t.Cleanup(c.Close)
				return c
			}
			t.Run("lock", func(t *testing.T) { goZKLock(t, dial) })
			t.Run("watches", func(t *testing.T) { goZKWatches(t, dial) })
		})
	}
}

func goZKLock(t *testing.T, dial func() *zk.Conn) {
	const clients, rounds = 4, 5
	path := "/gozk/lock"
	if _, err := dial().Create("/gozk", nil, 0, zk.WorldACL(zk.PermAll)); err != nil && err != zk.ErrNodeExists {
		t.Fatal(err)
	}
	var mu sync.Mutex
	inside, most, turns := 0, 0, 0
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		l := zk.NewLock(dial(), path, zk.WorldACL(zk.PermAll))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				if err := l.Lock(); err != nil {
					errs <- fmt.Errorf("lock: %w", err)
					return
				}
				mu.Lock()
				inside++
				most = max(most, inside)
				turns++
				mu.Unlock()
				// Hold it a moment, so the others queue behind it.
				time.Sleep(5 * time.Millisecond)
				mu.Lock()
				inside--
				mu.Unlock()
				if err := l.Unlock(); err != nil {
					errs <- fmt.Errorf("unlock: %w", err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the clients did not take their turns within 60s")
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if most != 1 || turns != clients*rounds {
		t.Fatalf("%d turns (want %d), at most %d inside at once (want 1)", turns, clients*rounds, most)
	}
	c := dial()
	if _, err := c.Sync(path); err != nil {
		t.Fatal(err)
	}
	if kids, _, err := c.Children(path); err != nil || len(kids) != 0 {
		t.Fatalf("lock nodes left after every unlock: %v %v", kids, err)
	}
}

func goZKWatches(t *testing.T, dial func() *zk.Conn) {
	a, b := dial(), dial()
	acl := zk.WorldACL(zk.PermAll)
	for _, p := range []string{"/gozkw", "/gozkw/d"} {
		if _, err := a.Create(p, []byte("v0"), 0, acl); err != nil && err != zk.ErrNodeExists {
			t.Fatal(err)
		}
	}
	_, _, data, err := a.GetW("/gozkw/d")
	if err != nil {
		t.Fatal(err)
	}
	_, _, kids, err := a.ChildrenW("/gozkw")
	if err != nil {
		t.Fatal(err)
	}
	_, _, exists, err := a.ExistsW("/gozkw/new")
	if err != nil {
		t.Fatal(err)
	}
	// Another session makes the changes.
	if _, err := b.Set("/gozkw/d", []byte("v1"), -1); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Create("/gozkw/new", nil, 0, acl); err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		name string
		ch   <-chan zk.Event
		want zk.EventType
		path string
	}{
		{"data", data, zk.EventNodeDataChanged, "/gozkw/d"},
		{"exists", exists, zk.EventNodeCreated, "/gozkw/new"},
		{"children", kids, zk.EventNodeChildrenChanged, "/gozkw"},
	} {
		select {
		case ev := <-w.ch:
			if ev.Type != w.want || ev.Path != w.path || ev.Err != nil {
				t.Errorf("%s watch: %+v, want %v on %s", w.name, ev, w.want, w.path)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s watch did not fire within 20s", w.name)
		}
	}
	// One-shot: a second change fires nothing on the spent watches.
	if _, err := b.Set("/gozkw/d", []byte("v2"), -1); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Sync("/gozkw/d"); err != nil {
		t.Fatal(err)
	}
	select {
	case ev, ok := <-data:
		if ok {
			t.Fatalf("a spent data watch fired again: %+v", ev)
		}
	default:
	}
}
