package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// series runs c.histories histories one after another, each on a fresh
// cluster with its own seed, alternating the topologies, and ends with a
// summary of all of them (also in summary.json and summary.md).
func series(c config) (bool, error) {
	topos, err := parseTopologies(c.topos, c.servers, c.replicas)
	if err != nil {
		return false, err
	}
	root := c.out
	if err := os.MkdirAll(root, 0o755); err != nil {
		return false, err
	}
	n := max(c.histories, 1)
	var reps []report
	for i := 0; i < n; i++ {
		hc := c
		hc.servers, hc.replicas = topos[i%len(topos)][0], topos[i%len(topos)][1]
		hc.seed = c.seed + int64(i)
		hc.out = filepath.Join(root, fmt.Sprintf("%s-%d", time.Now().Format("20060102-150405"), hc.seed))
		if n > 1 {
			logf("== history %d of %d", i+1, n)
		}
		rep, err := run(hc)
		if err != nil {
			return false, fmt.Errorf("history %d (seed %d): %w (its agents' logs: %s)", i+1, hc.seed, err, hc.out)
		}
		if err := appendLine(filepath.Join(root, "histories.jsonl"), rep); err != nil {
			return false, err
		}
		if rep.OK && !c.keep {
			os.RemoveAll(hc.out)
		} else {
			logf("history, report and agent logs kept in %s", hc.out)
		}
		reps = append(reps, rep)
	}
	ok := true
	for _, r := range reps {
		ok = ok && r.OK
	}
	if n == 1 {
		return ok, nil
	}
	md := summary(reps)
	fmt.Print("\n" + md)
	name := filepath.Join(root, fmt.Sprintf("summary-%s.md", time.Now().Format("20060102-150405")))
	if err := os.WriteFile(name, []byte(md), 0o644); err != nil {
		return false, err
	}
	logf("summary in %s; one JSON line per history in %s", name, filepath.Join(root, "histories.jsonl"))
	return ok, nil
}

// appendLine adds v as one JSON line to the file at path.
func appendLine(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// parseTopologies reads "5,3+2" as [[5 0] [3 2]].
func parseTopologies(s string, servers, replicas int) ([][2]int, error) {
	if s == "" {
		return [][2]int{{servers, replicas}}, nil
	}
	var out [][2]int
	for _, t := range strings.Split(s, ",") {
		sv, rp, _ := strings.Cut(t, "+")
		n, err := strconv.Atoi(sv)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("topology %q: want SERVERS or SERVERS+REPLICAS", t)
		}
		m := 0
		if rp != "" {
			if m, err = strconv.Atoi(rp); err != nil || m < 0 {
				return nil, fmt.Errorf("topology %q: want SERVERS or SERVERS+REPLICAS", t)
			}
		}
		out = append(out, [2]int{n, m})
	}
	return out, nil
}

// summary is a Markdown account of a series: per topology, the histories
// and their verdicts, the faults, the operations, and every check.
func summary(reps []report) string {
	type group struct {
		n, ok    int
		faults   map[string]int
		verified int
		ops      map[string]int
		failed   map[string]int
		live     time.Duration
		stop     time.Duration
		seeds    []string
	}
	groups := map[string]*group{}
	var names []string
	for _, r := range reps {
		name := fmt.Sprintf("%d servers", r.Servers)
		if r.Replicas > 0 {
			name += fmt.Sprintf(" + %d replicas", r.Replicas)
		}
		g := groups[name]
		if g == nil {
			g = &group{faults: map[string]int{}, ops: map[string]int{}, failed: map[string]int{}}
			groups[name] = g
			names = append(names, name)
		}
		g.n++
		if r.OK {
			g.ok++
		} else {
			g.seeds = append(g.seeds, strconv.FormatInt(r.Seed, 10))
		}
		for _, f := range r.Faults {
			if !strings.HasPrefix(f.Note, "skip") {
				g.faults[f.Kind]++
			}
			if f.Verified {
				g.verified++
			}
		}
		for k, v := range r.Ops {
			g.ops[k] += v
		}
		for k, res := range r.Checks {
			if !res.OK {
				g.failed[k]++
			}
		}
		for _, d := range r.Liveness {
			g.live = max(g.live, d)
		}
		for _, d := range r.Shutdown {
			g.stop = max(g.stop, d)
		}
	}
	var b strings.Builder
	for _, name := range names {
		g := groups[name]
		fmt.Fprintf(&b, "### %s: %d histories, %d passed every check\n\n", name, g.n, g.ok)
		if len(g.seeds) > 0 {
			fmt.Fprintf(&b, "Failed (seeds): %s\n\n", strings.Join(g.seeds, ", "))
		}
		b.WriteString("| faults | count |\n|---|---|\n")
		for _, k := range sortedKeys(g.faults) {
			fmt.Fprintf(&b, "| %s | %d |\n", k, g.faults[k])
		}
		fmt.Fprintf(&b, "| cuts seen to block traffic | %d |\n\n", g.verified)
		b.WriteString("| operations | count |\n|---|---|\n")
		for _, k := range sortedKeys(g.ops) {
			fmt.Fprintf(&b, "| %s | %d |\n", k, g.ops[k])
		}
		b.WriteString("\n| check | histories failed |\n|---|---|\n")
		for _, k := range []string{"linearizable", "monotonic-reads", "lock-safety", "durability", "liveness", "shutdown"} {
			fmt.Fprintf(&b, "| %s | %d |\n", k, g.failed[k])
		}
		fmt.Fprintf(&b, "\nLongest time to serve after healing: %v; longest exit after SIGTERM: %v.\n\n",
			g.live.Round(time.Millisecond), g.stop.Round(time.Millisecond))
	}
	return b.String()
}

func sortedKeys(m map[string]int) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
