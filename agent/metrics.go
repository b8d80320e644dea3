package agent

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/warden-dev/warden/localapi"
	"github.com/warden-dev/warden/localapi/wire"
	"github.com/warden-dev/warden/zkapi"
)

// The agent's metrics (docs/operations.md, Monitoring): a Prometheus
// registry of its own per agent, so that agents in one process never mix
// their series, holding the Go and process collectors, warden_build_info,
// the local API's request counters and histograms (fed by localapi's
// Observer), a collector that reads the node's and the server's state at
// each scrape, and the collector of Raft's library metrics, which is
// shared by the whole process (see raftmetrics.go).

// requestBuckets span a ping (tens of microseconds) to a lock wait of a
// minute, in seconds.
var requestBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// metrics is one agent's registry and the instruments the agent feeds.
type metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	zkRequests *prometheus.CounterVec
	zkDuration *prometheus.HistogramVec
	raftErr    error // why Raft's library metrics are missing, if they are
}

// newMetrics makes a's registry. Nothing is read from a until a scrape.
func newMetrics(a *Agent) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "warden_api_requests_total",
			Help: "Requests apps made on the local socket, by op and reply code (ok for a result).",
		}, []string{"op", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "warden_api_request_duration_seconds",
			Help:    "Time from a request's arrival to its reply, by op and reply code; waits (lock, acquire, ...) included.",
			Buckets: requestBuckets,
		}, []string{"op", "code"}),
		zkRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "warden_zk_requests_total",
			Help: "Requests ZooKeeper clients made on the ZooKeeper port, by op and ZooKeeper's reply code (OK; dropped: the connection was closed instead).",
		}, []string{"op", "code"}),
		zkDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "warden_zk_request_duration_seconds",
			Help:    "Time from a ZooKeeper request's arrival to its reply, by op and reply code.",
			Buckets: requestBuckets,
		}, []string{"op", "code"}),
	}
	b := BuildInfo()
	commit := b.Commit
	switch {
	case commit == "":
		commit = "unknown"
	case b.Modified:
		commit += "-dirty"
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "warden_build_info",
		Help: "Always 1; the labels describe the agent's build.",
		ConstLabels: prometheus.Labels{"version": b.Version, "commit": commit,
			"goversion": b.GoVersion, "protocol": strconv.Itoa(b.Protocol)},
	})
	info.Set(1)
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		info, m.requests, m.duration, m.zkRequests, m.zkDuration, &stateCollector{a: a},
	)
	raft, err := raftCollector()
	if err == nil {
		err = m.reg.Register(raft)
		if are := (prometheus.AlreadyRegisteredError{}); errors.As(err, &are) {
			err = nil
		}
	}
	m.raftErr = err
	return m
}

// Request is localapi's Observer.
func (m *metrics) Request(op string, code wire.Code, d time.Duration) {
	m.requests.WithLabelValues(op, string(code)).Inc()
	m.duration.WithLabelValues(op, string(code)).Observe(d.Seconds())
}

// ZKRequest is zkapi's Observer.
func (m *metrics) ZKRequest(op, code string, d time.Duration) {
	m.zkRequests.WithLabelValues(op, code).Inc()
	m.zkDuration.WithLabelValues(op, code).Observe(d.Seconds())
}

var (
	_ localapi.Observer = (*metrics)(nil)
	_ zkapi.Observer    = (*metrics)(nil)
)

// handler serves the registry in Prometheus' text format. A collector
// that fails costs its own series only; the error goes to the log.
func (m *metrics) handler(logger hclog.Logger) http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      logger.Named("metrics").StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Warn}),
	})
}

// stateCollector reads the agent's state at each scrape: Raft's indexes
// and leadership, the tree's sizes, sessions, snapshots, Serf's members
// and the local socket's connections, streams and waiters.
type stateCollector struct{ a *Agent }

// desc is a metric read at scrape time: its name, help, type and labels.
type desc struct {
	*prometheus.Desc
	typ prometheus.ValueType
}

func gauge(name, help string, labels ...string) desc {
	return desc{prometheus.NewDesc(name, help, labels, nil), prometheus.GaugeValue}
}

func counter(name, help string, labels ...string) desc {
	return desc{prometheus.NewDesc(name, help, labels, nil), prometheus.CounterValue}
}

// The names of the first group are read by bench/soak: keep them.
var (
	dHistoryChanges = gauge("warden_history_changes", "Changes held for subscriptions to resume from.")
	dHistoryBytes   = gauge("warden_history_bytes", "Size of the changes held for subscriptions.")
	dResults        = gauge("warden_cached_results", "Results of numbered writes kept to answer retries.")
	dLockDelays     = gauge("warden_lock_delays", "Locks held back after their holder's session expired.")
	dWatches        = gauge("warden_watches", "One-shot watches registered on this agent's replica.")
	dLocal          = gauge("warden_local_sessions", "Sessions this agent keeps alive for its apps.")
	dTracked        = gauge("warden_expiry_tracked_sessions", "Sessions the leader tracks for expiry (0 on a follower).")
	dSessions       = gauge("warden_sessions", "Open sessions in the cluster (this replica's view).")
	dZnodes         = gauge("warden_znodes", "Znodes in the tree, the root included.")
	dApplied        = gauge("warden_raft_applied_index", "Last Raft index applied here.")
	dCommit         = gauge("warden_raft_commit_index", "Last Raft index known committed.")
	dTerm           = gauge("warden_raft_term", "Current Raft term.")
	dIsLeader       = gauge("warden_is_leader", "1 if this agent leads.")
	dConns          = gauge("warden_local_connections", "Apps connected to this agent's socket.")
	dZKConns        = gauge("warden_zk_connections", "ZooKeeper clients connected to this agent's ZooKeeper port (0 when it is off).")

	dHasLeader      = gauge("warden_has_leader", "1 if this agent knows a leader.")
	dLeaderChanges  = counter("warden_raft_leader_changes_total", "Times this agent learnt of a new leader (itself included) since it started.")
	dDataBytes      = gauge("warden_data_bytes", "Sum of the znodes' data lengths.")
	dLocalByState   = gauge("warden_local_sessions_by_state", "This agent's sessions by state: connected (keepalives acknowledged) or suspended (not within half the timeout).", "state")
	dStreams        = gauge("warden_local_streams", "Open streams of the apps' connections: one-shot watches, subscriptions, recipes' watches and observers.")
	dInFlight       = gauge("warden_api_requests_in_flight", "Requests being served, by op; lock, acquire, campaign and other waits included (the apps waiting).", "op")
	dSnapshots      = counter("warden_snapshots_total", "Snapshots of the tree this agent persisted since it started.")
	dSnapBytes      = gauge("warden_snapshot_last_bytes", "Size of the tree's latest snapshot persisted here.")
	dSnapDuration   = gauge("warden_snapshot_last_duration_seconds", "Time the latest snapshot took to write here.")
	dMembers        = gauge("warden_serf_members", "Agents this agent knows, by status (alive, leaving, left, failed; unknown: in Raft's configuration only).", "status")
	stateCollectors = []desc{dHistoryChanges, dHistoryBytes, dResults, dLockDelays, dWatches, dLocal, dTracked,
		dSessions, dZnodes, dApplied, dCommit, dTerm, dIsLeader, dConns, dZKConns, dHasLeader, dLeaderChanges, dDataBytes,
		dLocalByState, dStreams, dInFlight, dSnapshots, dSnapBytes, dSnapDuration, dMembers}
)

// memberStatuses are always reported, zero or not, so that series do not
// come and go with the members.
var memberStatuses = []string{"alive", "leaving", "left", "failed", "unknown"}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range stateCollectors {
		ch <- d.Desc
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	a := c.a
	node := a.node
	if node == nil {
		return
	}
	emit := func(d desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d.Desc, d.typ, v, labels...)
	}
	st := node.Status()
	stats := node.Stats()
	emit(dHistoryChanges, float64(stats.HistoryChanges))
	emit(dHistoryBytes, float64(stats.HistoryBytes))
	emit(dResults, float64(stats.Results))
	emit(dLockDelays, float64(stats.LockDelays))
	emit(dWatches, float64(stats.Watches))
	emit(dLocal, float64(stats.LocalSessions))
	emit(dTracked, float64(stats.ExpiryTracked))
	emit(dSessions, float64(st.Sessions))
	emit(dZnodes, float64(st.Znodes))
	emit(dApplied, float64(st.AppliedIndex))
	emit(dCommit, float64(st.CommitIndex))
	emit(dTerm, float64(st.Term))
	emit(dIsLeader, b2f(st.State == "Leader"))
	emit(dHasLeader, b2f(st.Leader != ""))
	emit(dLeaderChanges, float64(stats.LeaderChanges))
	emit(dDataBytes, float64(stats.DataBytes))
	for state, n := range stats.LocalByState {
		emit(dLocalByState, float64(n), string(state))
	}
	emit(dSnapshots, float64(stats.Snapshots.Count))
	emit(dSnapBytes, float64(stats.Snapshots.LastBytes))
	emit(dSnapDuration, stats.Snapshots.LastDuration.Seconds())
	members := map[string]int{}
	for _, s := range memberStatuses {
		members[s] = 0
	}
	for _, m := range node.Members() {
		members[m.Status]++
	}
	for s, n := range members {
		emit(dMembers, float64(n), s)
	}
	var api localapi.Stats
	if a.ready.Load() {
		api = a.api.Stats()
	} else {
		api.InFlight = map[string]int{}
		for _, op := range append(localapi.Ops(), localapi.OpOther) {
			api.InFlight[op] = 0
		}
	}
	emit(dConns, float64(api.Connections))
	zkConns := 0
	if a.ready.Load() && a.zk != nil {
		zkConns = a.zk.Connections()
	}
	emit(dZKConns, float64(zkConns))
	emit(dStreams, float64(api.Streams))
	for op, n := range api.InFlight {
		emit(dInFlight, float64(n), op)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
