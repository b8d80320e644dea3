package agent

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
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
	mux.Handle("GET /metrics", a.metrics.handler(a.hc))
	if a.cfg.EnablePprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
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

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
