package cluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
)

// The task progress recipe end to end, with real processes: a job of 20
// tasks, each a `warden task` process whose command reports through
// `warden report`, spread over two agents (a server and a replica), shows
// in `warden progress` on both; SIGKILL of one task's process removes it
// from the view and tells the watchers, on both agents.

// progressTask is one `warden task` process.
type progressTask struct {
	name   string
	agent  *agenttest.Proc
	cmd    *exec.Cmd
	exited chan struct{}
}

// progressJob is what `warden progress --json --once` prints.
type progressJob struct {
	Job   string `json:"job"`
	Tasks []struct {
		Task    string  `json:"task"`
		State   string  `json:"state"`
		Percent float64 `json:"percent"`
		Message string  `json:"message"`
		Updated int64   `json:"updated"`
	} `json:"tasks"`
}

// progressView runs `warden progress --json --once job` against agent p.
func progressView(t *testing.T, bin string, p *agenttest.Proc, job string) progressJob {
	t.Helper()
	cmd := exec.Command(bin, "progress", "--json", "--once", job)
	cmd.Env = append(os.Environ(), "WARDEN_SOCKET="+p.Socket)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("warden progress on %s: %v: %s", p.Name, err, errb.String())
	}
	var j progressJob
	if err := json.Unmarshal(out.Bytes(), &j); err != nil {
		t.Fatalf("warden progress on %s printed %q: %v", p.Name, out.String(), err)
	}
	return j
}

// progressChildrenOf returns the pids whose parent is pid.
func progressChildrenOf(pid int) []int {
	var kids []int
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		cpid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:]) // state, ppid, ...
		if len(f) > 1 && f[1] == strconv.Itoa(pid) && f[0] != "Z" {
			kids = append(kids, cpid)
		}
	}
	return kids
}

// progressProcAlive reports whether pid is a running process (not gone, not a zombie).
func progressProcAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestProgressOnCluster(t *testing.T) {
	const job, n = "build", 20
	c := agenttest.StartCluster(t, 1, 1)
	agents := c.All()
	bin := agenttest.Binary(t)
	binDir := t.TempDir()
	if err := os.Symlink(bin, filepath.Join(binDir, "warden")); err != nil {
		t.Fatal(err)
	}
	path := "PATH=" + binDir + string(os.PathListSeparator) + os.Getenv("PATH")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// A watcher on each agent, from before the job starts.
	watchers := make([]*warden.ProgressWatch, len(agents))
	for i, p := range agents {
		cl := p.Dial(t, warden.Options{Name: "watcher"})
		w, err := cl.WatchProgress(ctx, job)
		if err != nil {
			t.Fatal(err)
		}
		watchers[i] = w
	}

	tasks := make([]*progressTask, n)
	for i := range tasks {
		p := agents[i%len(agents)]
		pt := &progressTask{name: fmt.Sprintf("t%d", i+1), agent: p, exited: make(chan struct{})}
		pt.cmd = exec.Command(bin, "task", job, pt.name, "--", "sh", "-c", "warden report 50 half; sleep 600")
		pt.cmd.Env = append(os.Environ(), "WARDEN_SOCKET="+p.Socket, path)
		pt.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		var errb bytes.Buffer
		pt.cmd.Stderr = &errb
		if err := pt.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = pt.cmd.Wait(); close(pt.exited) }()
		t.Cleanup(func() {
			_ = syscall.Kill(-pt.cmd.Process.Pid, syscall.SIGKILL)
			<-pt.exited
			if t.Failed() && errb.Len() > 0 {
				t.Logf("warden task %s on %s: %s", pt.name, p.Name, errb.String())
			}
		})
		tasks[i] = pt
	}

	// Every watcher sees every task's report; the view on each agent lists
	// all 20 with it.
	started := time.Now()
	for i, w := range watchers {
		half := map[string]bool{}
		for len(half) < n {
			ev, err := w.Next(ctx)
			if err != nil {
				t.Fatalf("watcher on %s: %v (saw %d tasks at 50%%)", agents[i].Name, err, len(half))
			}
			if ev.Removed {
				t.Fatalf("watcher on %s: task %s removed while the job ran", agents[i].Name, ev.Task.Task)
			}
			if ev.Task.Percent == 50 && ev.Task.Message == "half" && ev.Task.State == warden.TaskRunning {
				half[ev.Task.Task] = true
			}
		}
	}
	t.Logf("%d tasks on %d agents: every watcher saw them all at 50%% within %v of the last one's start", n, len(agents), time.Since(started))
	for _, p := range agents {
		v := progressView(t, bin, p, job)
		if v.Job != job || len(v.Tasks) != n {
			t.Fatalf("warden progress on %s lists %d tasks, want %d: %+v", p.Name, len(v.Tasks), n, v)
		}
		for _, tk := range v.Tasks {
			if tk.State != warden.TaskRunning || tk.Percent != 50 || tk.Message != "half" || tk.Updated == 0 {
				t.Fatalf("warden progress on %s: task %+v", p.Name, tk)
			}
		}
	}

	// SIGKILL one task's process (on the replica): it leaves the view and
	// every watcher is told; its command dies with it.
	victim := tasks[7] // t8, on agents[1]: the replica
	cmds := progressChildrenOf(victim.cmd.Process.Pid)
	if len(cmds) != 1 {
		t.Fatalf("warden task %s has children %v, want its command", victim.name, cmds)
	}
	if err := syscall.Kill(victim.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	// Each watcher's wait runs at once, so none's latency includes another's.
	removedAt := make([]chan time.Time, len(watchers))
	for i, w := range watchers {
		removedAt[i] = make(chan time.Time, 1)
		go func() {
			defer close(removedAt[i])
			for {
				ev, err := w.Next(ctx)
				if err != nil {
					t.Errorf("watcher on %s: %v", agents[i].Name, err)
					return
				}
				if !ev.Removed {
					continue // a late report of a live task
				}
				at := time.Now()
				if ev.Task.Task != victim.name {
					t.Errorf("watcher on %s: task %s removed, but %s was killed", agents[i].Name, ev.Task.Task, victim.name)
					return
				}
				if ev.Task.Percent != 50 || ev.Task.Message != "half" {
					t.Errorf("watcher on %s: removal with the last report %+v", agents[i].Name, ev.Task)
				}
				removedAt[i] <- at
				return
			}
		}()
	}
	times := make([]time.Time, len(watchers))
	for i := range watchers {
		var ok bool
		select {
		case times[i], ok = <-removedAt[i]:
		case <-time.After(30 * time.Second):
			t.Errorf("the watcher on %s was not told within 30s", agents[i].Name)
		}
		if !ok {
			cancel() // the other watchers' goroutines end too
			for _, ch := range removedAt {
				for range ch {
				}
			}
			t.FailNow()
		}
	}
	for i, at := range times {
		t.Logf("SIGKILL of %s's process (via %s) -> Removed at the watcher on %s: %v",
			victim.name, victim.agent.Name, agents[i].Name, at.Sub(killed))
		// That agent's replica has applied the removal: its view no longer
		// lists the task, and lists every other.
		v := progressView(t, bin, agents[i], job)
		if len(v.Tasks) != n-1 {
			t.Fatalf("warden progress on %s after the kill lists %d tasks, want %d", agents[i].Name, len(v.Tasks), n-1)
		}
		for _, tk := range v.Tasks {
			if tk.Task == victim.name {
				t.Fatalf("warden progress on %s still lists %s", agents[i].Name, victim.name)
			}
		}
	}
	agenttest.Eventually(t, 10*time.Second, "the killed task's command to die with it", func() bool { return !progressProcAlive(cmds[0]) })
	for _, pt := range tasks {
		if pt == victim {
			continue
		}
		select {
		case <-pt.exited:
			t.Fatalf("warden task %s exited", pt.name)
		default:
		}
	}
}
