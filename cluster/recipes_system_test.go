package cluster_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
)

// The recipes beyond locks and elections on a real 3-server cluster, with
// clients spread over every agent: the semaphore never has more than N
// holders, the read-write lock never admits a writer alongside anyone, the
// queue hands out each item once while its consumers (real processes) are
// SIGKILLed, and N clients adding M times each leave a counter at exactly
// N×M.

const (
	queueConsumerTest = "TestRecipesQueueConsumerHelper"
	queueSocketEnv    = "WARDEN_TEST_QUEUE_SOCKET" // set only in consumer processes
	queuePathEnv      = "WARDEN_TEST_QUEUE_PATH"
)

// TestRecipesQueueConsumerHelper is not a test: it is the body of the
// queue consumer processes that TestRecipesOnCluster starts (real
// processes, so that SIGKILL is real), and skips in a normal run. A
// consumer takes items for ever and prints "TAKEN KEY DATA" for each, the
// moment Take returns it.
func TestRecipesQueueConsumerHelper(t *testing.T) {
	socket := os.Getenv(queueSocketEnv)
	if socket == "" {
		t.Skip("runs only as a queue consumer process")
	}
	ctx := context.Background()
	c, err := warden.Dial(ctx, warden.Options{Socket: socket, Name: "consumer"})
	if err != nil {
		fmt.Printf("ERROR dial: %v\n", err)
		os.Exit(2)
	}
	q := c.Queue(os.Getenv(queuePathEnv))
	for {
		it, err := q.Take(ctx)
		if err != nil {
			fmt.Printf("ERROR take: %v\n", err)
			os.Exit(2)
		}
		fmt.Printf("TAKEN %s %s\n", it.Key, it.Data) // one write(2), unbuffered
	}
}

func TestRecipesOnCluster(t *testing.T) {
	c := agenttest.StartCluster(t, 3, 0)
	agents := c.All()
	t.Run("Semaphore", func(t *testing.T) { semaphoreOnCluster(t, agents) })
	t.Run("ReadWriteLock", func(t *testing.T) { rwLockOnCluster(t, agents) })
	t.Run("Counter", func(t *testing.T) { counterOnCluster(t, agents) })
	t.Run("DoubleBarrier", func(t *testing.T) { doubleBarrierOnCluster(t, agents) })
	t.Run("Queue", func(t *testing.T) { queueOnCluster(t, agents) })
}

// recipesErrs collects the errors of a test's goroutines.
type recipesErrs struct {
	mu   sync.Mutex
	errs []error
}

func (e *recipesErrs) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errs = append(e.errs, err)
}

// recipesDial connects to agent p from a worker goroutine (where t.Fatal
// may not be called).
func recipesDial(ctx context.Context, p *agenttest.Proc) (*warden.Client, error) {
	return warden.Dial(ctx, warden.Options{Socket: p.Socket})
}

func (e *recipesErrs) report(t *testing.T) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, err := range e.errs {
		if i == 10 {
			t.Errorf("... and %d more", len(e.errs)-10)
			break
		}
		t.Error(err)
	}
}

// semaphoreOnCluster: 9 workers on 3 agents share a semaphore of 3. Each
// counts itself in and out of the critical section (an atomic in this
// process, so across every agent); now and then one closes its connection
// while holding, as a crashed process would. Never more than 3 hold.
func semaphoreOnCluster(t *testing.T, agents []*agenttest.Proc) {
	const n, workers, rounds = 3, 9, 10
	const path = "/recipes/semaphore"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var holders, peak, crashes atomic.Int32
	var errs recipesErrs
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		p := agents[i%len(agents)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := recipesDial(ctx, p)
			if err != nil {
				errs.add(err)
				return
			}
			defer func() { cl.Close() }()
			for r := 0; r < rounds; r++ {
				lease, err := cl.Semaphore(path, n).Acquire(ctx)
				if err != nil {
					errs.add(fmt.Errorf("worker %d round %d: %w", i, r, err))
					return
				}
				h := holders.Add(1)
				if h > n {
					errs.add(fmt.Errorf("worker %d round %d: %d holders of a semaphore of %d", i, r, h, n))
				}
				for pk := peak.Load(); h > pk && !peak.CompareAndSwap(pk, h); pk = peak.Load() {
				}
				time.Sleep(time.Duration(5+rand.IntN(20)) * time.Millisecond)
				holders.Add(-1)
				if (i+r)%7 == 3 {
					crashes.Add(1)
					cl.Close() // the lease goes with the session
					if cl, err = recipesDial(ctx, p); err != nil {
						errs.add(err)
						return
					}
					continue
				}
				if err := lease.Release(ctx); err != nil {
					errs.add(fmt.Errorf("worker %d round %d release: %w", i, r, err))
					return
				}
			}
		}()
	}
	wg.Wait()
	errs.report(t)
	if peak.Load() != n {
		t.Errorf("at most %d holders at once; the semaphore of %d was never full", peak.Load(), n)
	}
	t.Logf("%d acquisitions by %d workers on %d agents, %d holders dropped their connection, peak %d holders",
		workers*rounds, workers, len(agents), crashes.Load(), peak.Load())
}

// rwLockOnCluster: 9 workers on 3 agents take a read-write lock, a third of
// the time for writing. Inside, each checks and updates the count of
// readers and writers (under a mutex in this process): a writer is never
// in with anyone, and readers do share.
func rwLockOnCluster(t *testing.T, agents []*agenttest.Proc) {
	const workers, rounds = 9, 10
	const path = "/recipes/rwlock"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var mu sync.Mutex
	readers, writers, maxReaders, writes := 0, 0, 0, 0
	var errs recipesErrs
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		p := agents[i%len(agents)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := recipesDial(ctx, p)
			if err != nil {
				errs.add(err)
				return
			}
			defer func() { cl.Close() }()
			for r := 0; r < rounds; r++ {
				write := (i+r)%3 == 0
				var lease *warden.Lease
				var err error
				if write {
					lease, err = cl.WriteLock(ctx, path)
				} else {
					lease, err = cl.ReadLock(ctx, path)
				}
				if err != nil {
					errs.add(fmt.Errorf("worker %d round %d: %w", i, r, err))
					return
				}
				mu.Lock()
				if write {
					writers++
					writes++
				} else {
					readers++
					maxReaders = max(maxReaders, readers)
				}
				if writers > 1 || (writers == 1 && readers > 0) {
					errs.add(fmt.Errorf("worker %d round %d: %d writers and %d readers hold the lock at once", i, r, writers, readers))
				}
				mu.Unlock()
				time.Sleep(time.Duration(2+rand.IntN(8)) * time.Millisecond)
				mu.Lock()
				if write {
					writers--
				} else {
					readers--
				}
				mu.Unlock()
				if (i+r)%11 == 5 {
					cl.Close() // a holder that goes away
					if cl, err = recipesDial(ctx, p); err != nil {
						errs.add(err)
						return
					}
					continue
				}
				if err := lease.Unlock(ctx); err != nil {
					errs.add(fmt.Errorf("worker %d round %d unlock: %w", i, r, err))
					return
				}
			}
		}()
	}
	wg.Wait()
	errs.report(t)
	if maxReaders < 2 {
		t.Errorf("at most %d reader at once: readers never shared the lock", maxReaders)
	}
	t.Logf("%d writes and %d reads, up to %d readers at once", writes, workers*rounds-writes, maxReaders)
}

// counterOnCluster: 6 clients on 3 agents add 1 to one counter 25 times
// each, concurrently. The counter ends at exactly 150 on every agent, and
// the adds returned 1..150, each once.
func counterOnCluster(t *testing.T, agents []*agenttest.Proc) {
	const clients, adds = 6, 25
	const path = "/recipes/counter"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var values []int64
	var errs recipesErrs
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		k := agents[i%len(agents)].Dial(t, warden.Options{}).Counter(path)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < adds; j++ {
				v, err := k.Add(ctx, 1)
				if err != nil {
					errs.add(fmt.Errorf("client %d add %d: %w", i, j, err))
					return
				}
				mu.Lock()
				values = append(values, v)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	errs.report(t)
	for _, p := range agents {
		cl := p.Dial(t, warden.Options{})
		if _, err := cl.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if v, err := cl.Counter(path).Get(ctx); err != nil || v != clients*adds {
			t.Errorf("counter on %s = %d %v, want %d", p.Name, v, err, clients*adds)
		}
	}
	slices.Sort(values)
	for i, v := range values {
		if v != int64(i+1) {
			t.Fatalf("the adds returned %v, want 1..%d once each", values, clients*adds)
		}
	}
}

// doubleBarrierOnCluster: 6 members on 3 agents, two rounds of a double
// barrier of 6. No member gets past Enter before all 6 have called it, and
// none past Leave before all 6 have called it.
func doubleBarrierOnCluster(t *testing.T, agents []*agenttest.Proc) {
	const n = 6
	const path = "/recipes/barrier"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var errs recipesErrs
	for round := 0; round < 2; round++ {
		var entering, leaving atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			cl := agents[i%len(agents)].Dial(t, warden.Options{})
			b := cl.DoubleBarrier(path, n, fmt.Sprintf("m%d", i))
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration(rand.IntN(50)) * time.Millisecond)
				entering.Add(1)
				if err := b.Enter(ctx); err != nil {
					errs.add(fmt.Errorf("round %d member %d enter: %w", round, i, err))
					return
				}
				if e := entering.Load(); e != n {
					errs.add(fmt.Errorf("round %d member %d entered when only %d of %d had", round, i, e, n))
				}
				time.Sleep(time.Duration(rand.IntN(50)) * time.Millisecond)
				leaving.Add(1)
				if err := b.Leave(ctx); err != nil {
					errs.add(fmt.Errorf("round %d member %d leave: %w", round, i, err))
					return
				}
				if l := leaving.Load(); l != n {
					errs.add(fmt.Errorf("round %d member %d left when only %d of %d had", round, i, l, n))
				}
			}()
		}
		wg.Wait()
	}
	errs.report(t)
	probe := agents[0].Dial(t, warden.Options{})
	if _, err := probe.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := probe.Exists(ctx, path); err != nil || ok {
		t.Errorf("barrier node left after both rounds: %v %v", ok, err)
	}
}

// queueConsumer is one consumer process and what it printed.
type queueConsumer struct {
	cmd   *exec.Cmd
	agent string
	done  chan struct{} // closed once its output is read and it has exited
	mu    sync.Mutex
	taken []string // data of the items it reported taken
	other []string // any other output
}

func startQueueConsumer(t *testing.T, p *agenttest.Proc, path string) *queueConsumer {
	t.Helper()
	qc := &queueConsumer{agent: p.Name, done: make(chan struct{})}
	qc.cmd = exec.Command(os.Args[0], "-test.run=^"+queueConsumerTest+"$")
	qc.cmd.Env = append(os.Environ(), queueSocketEnv+"="+p.Socket, queuePathEnv+"="+path)
	out, err := qc.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := qc.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(qc.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			qc.mu.Lock()
			if f := strings.Fields(line); len(f) == 3 && f[0] == "TAKEN" {
				qc.taken = append(qc.taken, f[2])
			} else if line != "" {
				qc.other = append(qc.other, line)
			}
			qc.mu.Unlock()
		}
		_ = qc.cmd.Wait()
	}()
	t.Cleanup(qc.kill)
	return qc
}

// kill SIGKILLs the consumer and waits until its output is read.
func (qc *queueConsumer) kill() {
	_ = qc.cmd.Process.Kill()
	<-qc.done
}

// queueOnCluster: a producer puts 240 items while 3 consumer processes (one
// per agent) take them; every 50-200 ms one consumer, chosen at random, is
// SIGKILLed mid-run and replaced. Checked at the end, against what the
// consumers printed and what is left in the queue:
//   - no item is handed out twice;
//   - every item is handed out, or still in the queue, or was lost with a
//     consumer killed between the agent's delete and its print (delivery is
//     at most once): at most one such item per kill.
func queueOnCluster(t *testing.T, agents []*agenttest.Proc) {
	const items = 240
	const path = "/recipes/queue"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var all []*queueConsumer
	live := make([]*queueConsumer, len(agents))
	for i, p := range agents {
		live[i] = startQueueConsumer(t, p, path)
		all = append(all, live[i])
	}

	producer := agents[0].Dial(t, warden.Options{}).Queue(path)
	produced := make(chan error, 1)
	go func() {
		for i := 0; i < items; i++ {
			if _, err := producer.Put(ctx, []byte(fmt.Sprintf("item%03d", i))); err != nil {
				produced <- err
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		produced <- nil
	}()

	probe := agents[1].Dial(t, warden.Options{})
	left := func() []string {
		kids, _, err := probe.Children(ctx, path)
		if errors.Is(err, warden.ErrNoNode) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, k := range kids {
			if strings.HasPrefix(k, "item-") {
				out = append(out, k)
			}
		}
		return out
	}
	kills := 0
	producing := true
	deadline := time.Now().Add(2 * time.Minute)
	for {
		time.Sleep(time.Duration(50+rand.IntN(150)) * time.Millisecond)
		if producing {
			select {
			case err := <-produced:
				if err != nil {
					t.Fatalf("put: %v", err)
				}
				producing = false
			default:
			}
		}
		if !producing {
			if _, err := probe.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			if len(left()) == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("the consumers did not drain the queue: %d items left", len(left()))
			break
		}
		i := rand.IntN(len(live))
		live[i].kill()
		kills++
		live[i] = startQueueConsumer(t, agents[i], path)
		all = append(all, live[i])
	}
	for _, qc := range live {
		qc.kill()
	}

	// The items still in the queue.
	if _, err := probe.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	remaining := map[string]bool{}
	for _, k := range left() {
		data, _, err := probe.Get(ctx, path+"/"+k)
		if err != nil {
			t.Fatal(err)
		}
		remaining[string(data)] = true
	}
	handed := map[string]int{}
	for _, qc := range all {
		qc.mu.Lock()
		for _, d := range qc.taken {
			handed[d]++
		}
		for _, line := range qc.other {
			if strings.HasPrefix(line, "ERROR") {
				t.Errorf("consumer on %s: %s", qc.agent, line)
			}
		}
		qc.mu.Unlock()
	}
	lost := 0
	for i := 0; i < items; i++ {
		d := fmt.Sprintf("item%03d", i)
		switch {
		case handed[d] > 1:
			t.Errorf("%s handed out %d times", d, handed[d])
		case handed[d] == 1 && remaining[d]:
			t.Errorf("%s handed out and still in the queue", d)
		case handed[d] == 0 && !remaining[d]:
			lost++
		}
	}
	for d := range handed {
		if !strings.HasPrefix(d, "item") {
			t.Errorf("a consumer reported an item never put: %q", d)
		}
	}
	if lost > kills {
		t.Errorf("%d items neither handed out nor in the queue, more than the %d consumers killed", lost, kills)
	}
	if kills < 5 {
		t.Errorf("only %d consumers killed during the run", kills)
	}
	t.Logf("%d items, %d consumer processes, %d SIGKILLed mid-run; %d handed out, %d left in the queue, %d lost with a killed consumer",
		items, len(all), kills, len(handed), len(remaining), lost)
}
