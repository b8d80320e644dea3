// Command nemesis is Warden's randomized fault test, in the manner of
// Jepsen: it starts a fresh cluster of real agents on loopback addresses
// inside a network namespace of its own, runs clients on every agent's
// socket while a nemesis kills, pauses and partitions agents at random,
// heals everything, and then checks what the clients saw: linearizable
// registers, monotonic local reads, lock safety with fencing, durability
// of acknowledged creates, identical trees, and liveness. It exits 1 if a
// check fails and 2 if the run itself could not be made.
//
//	go build -o bin/warden ./cmd/warden
//	go run ./systest/nemesis -warden bin/warden -duration 60s -histories 3 -topologies 5,3+2
//
// It needs root (network namespace, policy-routing rules) and the ip and
// unshare commands. Every process and rule it makes goes with it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	warden "github.com/warden-dev/warden/clients/go"
	"github.com/warden-dev/warden/systest/nemesis/check"
)

type config struct {
	bin       string
	servers   int
	replicas  int
	duration  time.Duration
	interval  time.Duration
	faults    string
	seed      int64
	out       string
	pace      time.Duration
	clients   int
	keys      int
	plant     string
	linTime   time.Duration
	liveLimit time.Duration
	netns     string
	histories int
	topos     string
	keep      bool
}

func main() {
	var c config
	flag.StringVar(&c.bin, "warden", "bin/warden", "the warden binary to test")
	flag.IntVar(&c.servers, "servers", 5, "Raft voters")
	flag.IntVar(&c.replicas, "replicas", 0, "replicas (non-voting agents)")
	flag.DurationVar(&c.duration, "duration", 60*time.Second, "how long the clients run under faults")
	flag.DurationVar(&c.interval, "interval", 3*time.Second, "mean pause between two faults")
	flag.StringVar(&c.faults, "faults", strings.Join(faultKinds, ","), "faults to choose from: "+strings.Join(faultKinds, ", "))
	flag.Int64Var(&c.seed, "seed", 0, "random seed (0: from the clock; the run prints it)")
	flag.StringVar(&c.out, "out", "systest/nemesis/results", "directory for results: a JSON line per history (histories.jsonl), and for a failed history its report, history and agent logs")
	flag.BoolVar(&c.keep, "keep", false, "keep the history and agent logs of histories that pass too")
	flag.DurationVar(&c.pace, "pace", 20*time.Millisecond, "mean pause between one register client's ops")
	flag.IntVar(&c.clients, "clients", 2, "register clients per agent")
	flag.IntVar(&c.keys, "keys", 8, "registers (znodes)")
	flag.StringVar(&c.plant, "plant", "", "plant a bug to see a checker catch it: read-without-sync, no-fencing, phantom-ack")
	flag.DurationVar(&c.linTime, "check-timeout", 2*time.Minute, "longest the linearizability search may take")
	flag.DurationVar(&c.liveLimit, "liveness", 30*time.Second, "longest an agent may take to serve after the healing")
	flag.IntVar(&c.histories, "histories", 1, "histories to run one after another (each on a fresh cluster), with a summary of all at the end")
	flag.StringVar(&c.topos, "topologies", "", "with -histories: the topologies to alternate, e.g. 5,3+2 (servers+replicas; default: -servers and -replicas)")
	flag.StringVar(&c.netns, "netns", "", "(internal) the namespace this run is in")
	flag.Parse()
	if c.netns == "" {
		os.Exit(inNetns(os.Args[1:]))
	}
	if c.seed == 0 {
		c.seed = time.Now().UnixNano()
	}
	ok, err := series(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "nemesis:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Printf("%s  %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// report is what a run writes to report.json.
type report struct {
	Seed      int64                    `json:"seed"`
	Servers   int                      `json:"servers"`
	Replicas  int                      `json:"replicas"`
	Duration  string                   `json:"duration"`
	Faults    []fault                  `json:"faults"`
	Ops       map[string]int           `json:"ops"`
	Checks    map[string]check.Result  `json:"checks"`
	Liveness  map[string]time.Duration `json:"liveness_ns"`
	Shutdown  map[string]time.Duration `json:"shutdown_ns"`
	TreeReads int                      `json:"tree_reads"` // rounds until every agent's copy agreed
	OK        bool                     `json:"ok"`
}

func run(c config) (report, error) {
	bin, err := filepath.Abs(c.bin)
	if err != nil {
		return report{}, err
	}
	if _, err := os.Stat(bin); err != nil {
		return report{}, fmt.Errorf("the warden binary: %w (build it: go build -o bin/warden ./cmd/warden)", err)
	}
	for _, cmd := range []string{"ip", "unshare"} {
		if _, err := exec.LookPath(cmd); err != nil {
			return report{}, fmt.Errorf("needs the %s command: %w", cmd, err)
		}
	}
	kinds := strings.Split(c.faults, ",")
	for _, k := range kinds {
		if !contains(faultKinds, k) {
			return report{}, fmt.Errorf("unknown fault %q (known: %s)", k, strings.Join(faultKinds, ", "))
		}
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return report{}, err
	}
	dir, err := os.MkdirTemp("", "warden-nemesis-data-")
	if err != nil {
		return report{}, err
	}
	defer os.RemoveAll(dir)
	logf("seed %d; %d servers, %d replicas; %v of faults (%s)", c.seed, c.servers, c.replicas, c.duration, c.faults)

	agents := newAgents(bin, dir, c.servers, c.replicas, []string{"--lock-delay", "1s"})
	defer func() {
		for _, a := range agents {
			a.kill()
			if a.log != nil {
				a.log.Close()
				_ = os.Rename(a.log.Name(), filepath.Join(c.out, a.Name+".log"))
			}
		}
	}()
	for _, a := range agents {
		if err := a.start(); err != nil {
			return report{}, err
		}
	}
	keys := make([]string, c.keys)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s/r%d", root, i)
	}
	if err := setup(agents, keys); err != nil {
		return report{}, err
	}
	logf("cluster up")

	h := newHistory()
	w := &workload{h: h, res: &resource{h: h, noFences: c.plant == "no-fencing"}, pace: c.pace, seed: c.seed,
		plantRead: c.plant == "read-without-sync"}
	w.keys = keys
	ctx, cancel := context.WithTimeout(context.Background(), c.duration)
	defer cancel()
	w.start(ctx, agents, c.clients)
	n := &nemesis{h: h, agents: agents, w: w, kinds: kinds, interval: c.interval, r: rand.New(rand.NewSource(c.seed)), logf: logf}
	n.run(ctx)
	<-ctx.Done()
	logf("healing")
	if err := recoverAll(agents); err != nil {
		return report{}, err
	}
	w.wait()
	if n.err != nil {
		return report{}, n.err
	}
	if c.plant == "phantom-ack" {
		h.addCreate(root+"/c/never-made", true)
	}

	rep := report{Seed: c.seed, Servers: c.servers, Replicas: c.replicas, Duration: c.duration.String(),
		Faults: h.faults, Checks: map[string]check.Result{}}
	took, problems := liveness(agents, c.liveLimit)
	rep.Liveness = took
	rep.Checks["liveness"] = check.Result{OK: len(problems) == 0, Checked: len(agents), Problems: problems}
	ts, rounds, err := settledTrees(agents, 5)
	if err != nil {
		return report{}, fmt.Errorf("reading the final trees: %w", err)
	}
	rep.TreeReads = rounds
	logf("checking %d register ops, %d holds, %d resource writes, %d acknowledged creates",
		len(h.reg), len(h.holds), len(h.writes), len(h.acked))
	rep.Checks["linearizable"] = check.Linearizable(h.reg, c.linTime)
	rep.Checks["monotonic-reads"] = check.MonotonicReads(h.reg)
	rep.Checks["lock-safety"] = check.LockSafety(h.holds, h.writes)
	rep.Checks["durability"] = check.Durability(h.acked, ts)

	rep.Shutdown = map[string]time.Duration{}
	var down []string
	for _, a := range agents {
		d, err := a.stop(15 * time.Second)
		rep.Shutdown[a.Name] = d
		if err != nil {
			down = append(down, err.Error())
		}
	}
	rep.Checks["shutdown"] = check.Result{OK: len(down) == 0, Checked: len(agents), Problems: down}
	rep.Ops = counts(h)
	rep.OK = true
	for _, r := range rep.Checks {
		rep.OK = rep.OK && r.OK
	}
	summarize(rep, took)
	return rep, writeJSON(c.out, rep, h)
}

// setup waits until every agent serves and agrees on a leader, then
// creates the registers and the nodes the clients write under.
func setup(agents []*agent, keys []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, a := range agents {
		for {
			st, err := a.status(ctx)
			if err == nil && st.Leader != "" {
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("%s did not join a cluster with a leader within 60s (its log: %s)", a.Name, a.log.Name())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	c, err := session(ctx, agents[0], warden.Options{Name: "nemesis-setup"})
	if err != nil {
		return err
	}
	defer c.Close()
	for _, p := range append([]string{root, root + "/c", root + "/live", lockPath}, keys...) {
		if _, err := c.Create(ctx, p, nil, warden.Persistent); err != nil {
			return fmt.Errorf("create %s: %w", p, err)
		}
	}
	return nil
}

func counts(h *history) map[string]int {
	out := map[string]int{"creates-acknowledged": len(h.acked), "creates-unknown": h.unknown,
		"lock-holds": len(h.holds), "resource-writes": len(h.writes)}
	names := map[check.RegKind]string{check.Write: "write", check.CAS: "cas", check.Read: "sync-read", check.LocalRead: "local-read"}
	for _, op := range h.reg {
		k := names[op.Kind]
		switch {
		case op.Unknown:
			k += "-unknown"
		case op.OK:
			k += "-ok"
		default:
			k += "-failed"
		}
		out[k]++
	}
	for _, hd := range h.holds {
		if hd.Lost {
			out["lock-holds-lost"]++
		}
	}
	for _, wr := range h.writes {
		if !wr.Accepted {
			out["resource-writes-refused"]++
		}
	}
	return out
}

func summarize(rep report, took map[string]time.Duration) {
	kinds := map[string]int{}
	verified := 0
	for _, f := range rep.Faults {
		kinds[f.Kind]++
		if f.Verified {
			verified++
		}
	}
	logf("faults: %v (%d cuts seen to block traffic)", kinds, verified)
	var keys []string
	for k := range rep.Ops {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		logf("  %-26s %d", k, rep.Ops[k])
	}
	var worst time.Duration
	for _, d := range took {
		worst = max(worst, d)
	}
	logf("liveness: every agent served a write and a read within %v of the healing", worst.Round(time.Millisecond))
	var names []string
	for k := range rep.Checks {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		r := rep.Checks[k]
		verdict := "ok"
		if !r.OK {
			verdict = "FAILED"
		}
		logf("check %-16s %-6s (%d checked)", k, verdict, r.Checked)
		for i, p := range r.Problems {
			if i == 10 {
				logf("    … %d more in report.json", len(r.Problems)-10)
				break
			}
			logf("    %s", p)
		}
	}
}

func writeJSON(dir string, rep report, h *history) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), b, 0o644); err != nil {
		return err
	}
	hist := map[string]any{"registers": h.reg, "holds": h.holds, "resource_writes": h.writes, "acknowledged_creates": h.acked}
	if b, err = json.Marshal(hist); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "history.json"), b, 0o644)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func isNoNode(err error) bool { return errors.Is(err, warden.ErrNoNode) }
