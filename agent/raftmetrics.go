package agent

import (
	"strings"
	"sync"
	"time"
	"unicode"

	gometrics "github.com/hashicorp/go-metrics/compat"
	gmprom "github.com/hashicorp/go-metrics/compat/prometheus"
	"github.com/prometheus/client_golang/prometheus"
)

// Raft's library metrics. hashicorp/raft and raft-boltdb report commit,
// apply, append and snapshot timings to go-metrics' process-wide global,
// which drops everything (a blackhole sink) until metrics.NewGlobal
// installs a sink. raftSink installs go-metrics' Prometheus sink once per
// process, and every agent's registry collects it: agents sharing a
// process (tests) share these metrics.
//
// Raft calls go-metrics through its compat package, which by default
// (without the hashicorpmetrics build tag) forwards to armon/go-metrics;
// the sink is installed through the same compat package, so it lands in
// whichever implementation Raft's calls reach.

var raftSink struct {
	once      sync.Once
	collector prometheus.Collector // nil if the sink could not be made
	err       error
}

// raftCollector returns the process's go-metrics collector, installing
// the global sink on first use.
func raftCollector() (prometheus.Collector, error) {
	raftSink.once.Do(func() {
		// The sink registers itself; with a registry of its own, not
		// Prometheus' global default one. Agents register it again in
		// theirs. Series not updated for 10 minutes vanish (those of a
		// peer removed from the cluster, say); Raft's regular ones are
		// updated far more often.
		sink, err := gmprom.NewPrometheusSinkFrom(gmprom.PrometheusOpts{
			Name: "warden_raft_library_sink", Registerer: prometheus.NewRegistry(),
			Expiration: 10 * time.Minute,
		})
		if err != nil {
			raftSink.err = err
			return
		}
		conf := gometrics.DefaultConfig("")
		conf.EnableHostname = false       // no host name in metric names
		conf.EnableRuntimeMetrics = false // go_* comes from client_golang
		if _, err := gometrics.NewGlobal(conf, snakeSink{sink}); err != nil {
			raftSink.err = err
			return
		}
		raftSink.collector = sink
	})
	return raftSink.collector, raftSink.err
}

// snakeSink renames go-metrics keys to Prometheus' conventions before the
// Prometheus sink sees them: each part in snake_case (raft.commitTime
// becomes raft_commit_time) and counters ending in _total, so that
// promtool check metrics accepts the page.
type snakeSink struct{ gometrics.MetricSink }

func (s snakeSink) SetGauge(key []string, val float32) {
	s.MetricSink.SetGauge(snakeKey(key, ""), val)
}

func (s snakeSink) SetGaugeWithLabels(key []string, val float32, labels []gometrics.Label) {
	s.MetricSink.SetGaugeWithLabels(snakeKey(key, ""), val, labels)
}

func (s snakeSink) EmitKey(key []string, val float32) {}

func (s snakeSink) IncrCounter(key []string, val float32) {
	s.MetricSink.IncrCounter(snakeKey(key, "total"), val)
}

func (s snakeSink) IncrCounterWithLabels(key []string, val float32, labels []gometrics.Label) {
	s.MetricSink.IncrCounterWithLabels(snakeKey(key, "total"), val, labels)
}

func (s snakeSink) AddSample(key []string, val float32) {
	s.MetricSink.AddSample(snakeKey(key, ""), val)
}

func (s snakeSink) AddSampleWithLabels(key []string, val float32, labels []gometrics.Label) {
	s.MetricSink.AddSampleWithLabels(snakeKey(key, ""), val, labels)
}

// snakeKey puts every part of key in snake_case and appends suffix (if
// any) as a last part.
func snakeKey(key []string, suffix string) []string {
	out := make([]string, 0, len(key)+1)
	for _, k := range key {
		out = append(out, snake(k))
	}
	if suffix != "" {
		out = append(out, suffix)
	}
	return out
}

// snake turns camelCase into snake_case: commitTime is commit_time,
// getRPCType get_rpc_type.
func snake(s string) string {
	var b strings.Builder
	r := []rune(s)
	for i, c := range r {
		if unicode.IsUpper(c) {
			prevLower := i > 0 && (unicode.IsLower(r[i-1]) || unicode.IsDigit(r[i-1]))
			nextLower := i > 0 && i+1 < len(r) && unicode.IsLower(r[i+1]) && unicode.IsUpper(r[i-1])
			if prevLower || nextLower {
				b.WriteByte('_')
			}
			c = unicode.ToLower(c)
		}
		b.WriteRune(c)
	}
	return b.String()
}
