// Command bench-peers runs the same workloads against three-node clusters
// of ZooKeeper, etcd and Warden on loopback addresses, a fresh cluster
// for every workload, and prints one table (the median over -runs runs,
// and Warden's ratio to the best peer) and JSON lines. See
// docs/bench-peers.md.
//
//	bench-peers -warden bin/warden -clients 1,16,64 -runs 3 -out bench-peers.jsonl
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/warden-dev/warden/bench/peers/etcd"
	"github.com/warden-dev/warden/bench/peers/report"
	"github.com/warden-dev/warden/bench/peers/system"
	"github.com/warden-dev/warden/bench/peers/wardensys"
	"github.com/warden-dev/warden/bench/peers/workload"
	"github.com/warden-dev/warden/bench/peers/zookeeper"
)

// options are the command's flags.
type options struct {
	systems, workloads, placements string
	clients                        []int
	runs                           int
	window, warmup, warmupZK       time.Duration
	session                        time.Duration
	iterations, znodes             int
	configInterval                 time.Duration
	wardenBin, etcdBin, java, heap string
	wardenArgs                     string
	zkClasspath                    string
	etcdSerializable               bool
	out, dir                       string
	timeout                        time.Duration

	// The crash-failover helper process.
	holder, holderEndpoint, holderKey string
	holderElect                       bool
}

func parseFlags() (*options, error) {
	o := &options{}
	var clients string
	flag.StringVar(&o.systems, "systems", "zookeeper,etcd,warden", "systems to run, in this order (also warden-zk: Warden through its ZooKeeper port, with the ZooKeeper client)")
	flag.StringVar(&o.workloads, "workloads", "all", "comma-separated workloads: "+workloadNames()+", or all")
	flag.StringVar(&o.placements, "warden-placements", "leader,follower", "where Warden's clients connect: leader, follower (each its own column), usual (spread over every agent)")
	flag.StringVar(&clients, "clients", "1,16,64", "client counts")
	flag.IntVar(&o.runs, "runs", 1, "repeat everything this many times; the table shows medians")
	flag.DurationVar(&o.window, "window", 5*time.Second, "measurement window")
	flag.DurationVar(&o.warmup, "warmup", 5*time.Second, "warm-up before each window (etcd, Warden)")
	flag.DurationVar(&o.warmupZK, "warmup-zk", 30*time.Second, "warm-up before each window for ZooKeeper, whose JIT needs tens of seconds of load")
	flag.DurationVar(&o.session, "session-timeout", 10*time.Second, "ZooKeeper session timeout and etcd lease TTL (crash failover waits for it)")
	flag.IntVar(&o.iterations, "iterations", 3, "crash-failover and crash-election: holders killed per run")
	flag.IntVar(&o.znodes, "znodes", 20000, "memory: nodes created")
	flag.DurationVar(&o.configInterval, "config-interval", 10*time.Millisecond, "config: pause between the writer's writes")
	flag.StringVar(&o.wardenBin, "warden", "bin/warden", "warden binary")
	flag.StringVar(&o.wardenArgs, "warden-args", "", "extra flags for every Warden agent, space-separated (e.g. \"--enable-pprof --http-port 7302\" to profile one: its HTTP endpoint is on the agent's own address)")
	flag.StringVar(&o.etcdBin, "etcd", "etcd", "etcd server binary")
	flag.StringVar(&o.java, "java", "java", "java binary for ZooKeeper")
	flag.StringVar(&o.heap, "zk-heap", "1000m", "ZooKeeper's -Xmx (zkServer.sh's default)")
	flag.StringVar(&o.zkClasspath, "zk-classpath", strings.Join(zookeeper.DefaultClasspath, ":"), "ZooKeeper server jars")
	flag.BoolVar(&o.etcdSerializable, "etcd-serializable", false, "etcd reads are serializable (local) instead of clientv3's default linearizable")
	flag.StringVar(&o.out, "out", "bench-peers.jsonl", "JSON lines output (appended)")
	flag.StringVar(&o.dir, "dir", "", "parent of the clusters' temporary directories (default $TMPDIR)")
	flag.DurationVar(&o.timeout, "timeout", 4*time.Hour, "give up after this long")
	flag.StringVar(&o.holder, "holder", "", "internal: run as the crash-failover holder of this system")
	flag.StringVar(&o.holderEndpoint, "holder-endpoint", "", "internal: the holder's endpoint")
	flag.StringVar(&o.holderKey, "holder-key", "", "internal: the holder's lock or election")
	flag.BoolVar(&o.holderElect, "holder-elect", false, "internal: the holder campaigns instead of locking")
	flag.Parse()
	for _, f := range strings.Split(clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-clients: bad count %q", f)
		}
		o.clients = append(o.clients, n)
	}
	if o.runs < 1 {
		return nil, errors.New("-runs must be at least 1")
	}
	return o, nil
}

func workloadNames() string {
	var n []string
	for _, w := range workload.All {
		n = append(n, w.Name)
	}
	return strings.Join(n, ", ")
}

// newSystem returns the system named name.
func newSystem(o *options, name string) (system.System, error) {
	switch name {
	case "zookeeper":
		return &zookeeper.System{Java: o.java, Heap: o.heap, Classpath: strings.Split(o.zkClasspath, ":"), SessionTimeout: o.session}, nil
	case "etcd":
		return &etcd.System{Binary: o.etcdBin, TTL: o.session, Serializable: o.etcdSerializable}, nil
	case "warden":
		bin, err := filepath.Abs(o.wardenBin)
		if err != nil {
			return nil, err
		}
		return &wardensys.System{Binary: bin, Args: strings.Fields(o.wardenArgs)}, nil
	case "warden-zk":
		bin, err := filepath.Abs(o.wardenBin)
		if err != nil {
			return nil, err
		}
		return &wardensys.ZK{Warden: wardensys.System{Binary: bin, Args: strings.Fields(o.wardenArgs)}, Client: zookeeper.System{SessionTimeout: o.session}}, nil
	}
	return nil, fmt.Errorf("unknown system %q (zookeeper, etcd, warden, warden-zk)", name)
}

func main() {
	o, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-peers:", err)
		os.Exit(2)
	}
	if o.holder != "" {
		sys, err := newSystem(o, o.holder)
		if err == nil {
			err = runHolder(sys, o.holderEndpoint, o.holderKey, o.holderElect, o.session)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench-peers holder:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-peers:", err)
		os.Exit(1)
	}
}

// target is one column of the table: a system and a placement of its
// clients.
type target struct {
	label     string
	sys       system.System
	placement string
}

func targets(o *options) ([]target, error) {
	var ts []target
	for _, name := range strings.Split(o.systems, ",") {
		sys, err := newSystem(o, strings.TrimSpace(name))
		if err != nil {
			return nil, err
		}
		if sys.Name() != "warden" {
			ts = append(ts, target{sys.Name(), sys, system.Usual})
			continue
		}
		for _, p := range strings.Split(o.placements, ",") {
			switch p = strings.TrimSpace(p); p {
			case "usual":
				ts = append(ts, target{"warden", sys, system.Usual})
			case system.Leader, system.Follower:
				ts = append(ts, target{"warden/" + p, sys, p})
			default:
				return nil, fmt.Errorf("-warden-placements: unknown %q", p)
			}
		}
	}
	return ts, nil
}

func selected(o *options) ([]workload.Workload, error) {
	if o.workloads == "all" {
		return workload.All, nil
	}
	var ws []workload.Workload
	for _, n := range strings.Split(o.workloads, ",") {
		w, ok := workload.Find(strings.TrimSpace(n))
		if !ok {
			return nil, fmt.Errorf("unknown workload %q (%s)", n, workloadNames())
		}
		ws = append(ws, w)
	}
	return ws, nil
}

func run(ctx context.Context, o *options) error {
	ts, err := targets(o)
	if err != nil {
		return err
	}
	ws, err := selected(o)
	if err != nil {
		return err
	}
	out, err := os.OpenFile(o.out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var recs []report.Record
	var labels []string
	for _, t := range ts {
		labels = append(labels, t.label)
	}
	cluster := 0
	defer func() {
		fmt.Printf("\nbench-peers: %d run(s), window %v, warm-up %v (ZooKeeper %v); medians over runs; ratios are Warden / best peer\n",
			o.runs, o.window, o.warmup, o.warmupZK)
		report.Table(os.Stdout, recs, labels)
		fmt.Printf("JSON lines appended to %s\n", o.out)
	}()
	for runNo := 1; runNo <= o.runs; runNo++ {
		for _, w := range ws {
			counts := o.clients
			if !w.PerClients {
				counts = []int{0}
			}
			for _, n := range counts {
				for _, t := range ts {
					if ctx.Err() != nil {
						return fmt.Errorf("stopped: %w (the table shows what was measured)", ctx.Err())
					}
					cluster++
					rec := measure(ctx, o, t, w, max(n, w.MinClients), cluster, self)
					rec.Run, rec.Clients = runNo, n
					if rec.Clients > 0 {
						rec.Clients = max(n, w.MinClients)
					}
					recs = append(recs, rec)
					if err := report.JSONL(out, rec); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// measure starts a fresh cluster of t, runs w on it and stops it.
func measure(ctx context.Context, o *options, t target, w workload.Workload, clients, cluster int, self string) report.Record {
	warm := o.warmup
	if t.sys.Name() == "zookeeper" {
		warm = o.warmupZK
	}
	rec := report.Record{System: t.label, Workload: w.Name, Unit: w.Unit, Warmup: warm.String(), Window: o.window.String()}
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	logf("== %s %s clients=%d: starting a cluster", t.label, w.Name, clients)
	dir, err := os.MkdirTemp(o.dir, "bench-peers-")
	if err != nil {
		rec.Error = err.Error()
		return rec
	}
	defer os.RemoveAll(dir)
	c, err := t.sys.Start(ctx, system.StartOptions{Dir: dir, IPs: ips(cluster)})
	if err != nil {
		rec.Error = err.Error()
		logf("   %s", err)
		return rec
	}
	defer c.Stop()
	eps, err := c.Endpoints(ctx, t.placement)
	if err != nil {
		rec.Error = err.Error()
		return rec
	}
	env := &workload.Env{
		Sys: t.sys, Cluster: c, Endpoints: eps, Clients: clients,
		Warmup: warm, Window: o.window, Dial: system.DialOptions{SessionTimeout: o.session},
		Iterations: o.iterations, Znodes: o.znodes, ConfigInterval: o.configInterval, Logf: logf,
		Holder: func(endpoint, key string, elect bool) *exec.Cmd {
			return exec.Command(self, append(passThrough(o), "-holder", t.sys.Name(),
				"-holder-endpoint", endpoint, "-holder-key", key, fmt.Sprintf("-holder-elect=%t", elect))...)
		},
	}
	res, err := w.Run(ctx, env)
	if err != nil {
		rec.Error = err.Error()
		logf("   %s %s: %s", t.label, w.Name, err)
		return rec
	}
	rec.Result = res
	logf("   %d ops in %.1f s: %.0f %s, p50 %.2f ms, p99 %.2f ms (%s), %.0f cpu-µs/op, %d errors, missed %d, rss %.0f MiB",
		res.Ops, res.Seconds, res.Rate, w.Unit, res.P50ms, res.P99ms, res.Latency, res.CPUus, res.Errors, res.Missed, res.RSSMB)
	return rec
}

// passThrough are the flags the holder process needs to build its system.
func passThrough(o *options) []string {
	return []string{"-session-timeout", o.session.String(), "-warden", o.wardenBin, "-etcd", o.etcdBin}
}

// ips returns the three loopback addresses of the cluster'th cluster:
// 127.X.N.1-3, with X in 230-249 (away from the 127.20-219 range the
// project's tests use) chosen by this process's id, so that each cluster
// starts on addresses no earlier one's sockets linger on.
func ips(cluster int) []string {
	x := 230 + os.Getpid()%20
	n := cluster % 250
	return []string{fmt.Sprintf("127.%d.%d.1", x, n), fmt.Sprintf("127.%d.%d.2", x, n), fmt.Sprintf("127.%d.%d.3", x, n)}
}
