package agent

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
)

// httpServer serves status, members, health and metrics.
type httpServer struct {
	*http.Server
	ln   net.Listener
	done chan error // Serve's result
}

// listenHTTP opens the HTTP endpoint, over TLS with Config.HTTPTLS. It
// serves status, members, health, readiness and metrics: no data values,
// so that nothing the local socket guards can be read from the network.
func (a *Agent) listenHTTP(bind string, port int) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(bind, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("listen for http: %w", err)
	}
	if a.cfg.HTTPTLS {
		// The agent's cluster certificate, re-read with it on ReloadTLS.
		tc, err := a.node.ListenerTLS(a.cfg.HTTPTLSVerifyClient)
		if err != nil {
			ln.Close()
			return fmt.Errorf("https: %w", err)
		}
		ln = tls.NewListener(ln, tc)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, a.backend().Status())
	})
	mux.HandleFunc("GET /v1/members", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, a.backend().Members())
	})
	// Liveness: the process answers.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	// Readiness: the agent serves apps and knows a leader.
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !a.ready.Load() || a.node.Status().Leader == "" {
			http.Error(w, "not ready: no leader", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /metrics", a.metrics)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		// Failed handshakes (plain HTTP, a client without a trusted
		// certificate) are logged at debug level, not on stderr.
		ErrorLog: a.hc.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug})}
	a.http = &httpServer{Server: srv, ln: ln, done: make(chan error, 1)}
	// Served from the start, so probes answer while the agent waits for
	// its cluster.
	go func() {
		err := a.http.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		a.http.done <- err
	}()
	return nil
}

// waitHTTP returns when the HTTP server stops.
func (a *Agent) waitHTTP() error { return <-a.http.done }

// HTTPAddr is the HTTP endpoint's address, or "" when it is off.
func (a *Agent) HTTPAddr() string {
	if a.http == nil {
		return ""
	}
	return a.http.ln.Addr().String()
}

func (a *Agent) backend() backend { return backend{Node: a.node, server: a.cfg.Server || a.cfg.Dev} }

// metrics writes a few gauges in Prometheus' text format.
func (a *Agent) metrics(w http.ResponseWriter, r *http.Request) {
	st := a.backend().Status()
	leader := 0
	if st.State == "Leader" {
		leader = 1
	}
	conns := 0
	if a.ready.Load() {
		conns = a.api.Connections()
	}
	stats := a.node.Stats()
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	for _, m := range []struct {
		name, help string
		v          uint64
	}{
		{"warden_history_changes", "Changes held for subscriptions to resume from.", uint64(stats.HistoryChanges)},
		{"warden_history_bytes", "Size of the changes held for subscriptions.", uint64(stats.HistoryBytes)},
		{"warden_cached_results", "Results of numbered writes kept to answer retries.", uint64(stats.Results)},
		{"warden_lock_delays", "Locks held back after their holder's session expired.", uint64(stats.LockDelays)},
		{"warden_watches", "One-shot watches registered.", uint64(stats.Watches)},
		{"warden_local_sessions", "Sessions this agent keeps alive for its apps.", uint64(stats.LocalSessions)},
		{"warden_expiry_tracked_sessions", "Sessions the leader tracks for expiry.", uint64(stats.ExpiryTracked)},
		{"go_goroutines", "Goroutines that currently exist.", uint64(runtime.NumGoroutine())},
		{"go_memstats_heap_inuse_bytes", "Bytes in in-use heap spans.", mem.HeapInuse},
		{"go_memstats_heap_alloc_bytes", "Bytes of allocated heap objects.", mem.HeapAlloc},
		{"go_memstats_sys_bytes", "Bytes obtained from the system.", mem.Sys},
		{"warden_sessions", "Open sessions in the cluster.", uint64(st.Sessions)},
		{"warden_znodes", "Znodes in the tree.", uint64(st.Znodes)},
		{"warden_raft_applied_index", "Last Raft index applied here.", st.AppliedIndex},
		{"warden_raft_commit_index", "Last Raft index known committed.", st.CommitIndex},
		{"warden_raft_term", "Current Raft term.", st.Term},
		{"warden_is_leader", "1 if this agent leads.", uint64(leader)},
		{"warden_local_connections", "Apps connected to this agent.", uint64(conns)},
	} {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n", m.name, m.help, m.name, m.name, m.v)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
