package localapi

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/warden-dev/warden/localapi/wire"
)

// Observer hears what the server does, for the agent's metrics. Its
// methods are called concurrently, from the goroutines that serve
// requests, and must not block.
type Observer interface {
	// Request is called once for every request answered: its op (OpOther
	// for an op this agent does not serve), the reply's error code
	// (CodeOK for a result) and the time from its arrival until its reply
	// was ready (it is counted just before the reply is sent).
	Request(op string, code wire.Code, d time.Duration)
}

const (
	// OpOther labels requests whose op the agent does not serve, so that
	// apps cannot mint metric labels.
	OpOther = "other"
	// CodeOK is the code Observer hears for a request that succeeded.
	CodeOK wire.Code = "ok"
)

// Ops lists the ops the server serves (hello and cancel included), the
// values Observer and Stats.InFlight name besides OpOther.
func Ops() []string {
	out := []string{wire.OpHello, wire.OpCancel}
	for _, o := range wire.Ops {
		if _, ok := handlers[o.Op]; ok {
			out = append(out, o.Op)
		}
	}
	return out
}

// Stats are the server's counts at one moment, for metrics.
type Stats struct {
	// Connections are the apps' open connections.
	Connections int
	// Streams are the open streams of every connection: one-shot
	// watches, subscriptions and the recipes' watches and observers.
	Streams int
	// InFlight counts the requests being served by op (every op of Ops
	// and OpOther has an entry). Requests that wait (lock, rlock, wlock,
	// acquire, campaign, barrier_wait, ...) stay in flight while they wait, so
	// InFlight["lock"] is the number of apps waiting for or taking a lock.
	InFlight map[string]int
}

// meters are the server's counters behind Stats and Observer.
type meters struct {
	obs      Observer // nil: none
	streams  atomic.Int64
	inflight map[string]*atomic.Int64 // by op; built once, read-only after
}

func newMeters(obs Observer) *meters {
	m := &meters{obs: obs, inflight: map[string]*atomic.Int64{OpOther: new(atomic.Int64)}}
	for _, op := range Ops() {
		m.inflight[op] = new(atomic.Int64)
	}
	return m
}

// label is op if the server serves it, else OpOther.
func (m *meters) label(op string) string {
	if _, ok := m.inflight[op]; ok {
		return op
	}
	return OpOther
}

// begin counts a request of op in flight until end is called with the
// code of its reply; end("") observes nothing (no request came after all).
func (m *meters) begin(op string) (end func(code wire.Code)) {
	op = m.label(op)
	start := time.Now()
	n := m.inflight[op]
	n.Add(1)
	return func(code wire.Code) {
		n.Add(-1)
		if m.obs != nil && code != "" {
			m.obs.Request(op, code, time.Since(start))
		}
	}
}

// codeOf is the code of a reply: CodeOK for a result.
func codeOf(werr *wire.Error) wire.Code {
	if werr == nil {
		return CodeOK
	}
	return werr.Code
}

// helloCode is the code a hello replied with: hello returns its reply's
// *wire.Error, or a frame error when no request came ("").
func helloCode(err error) wire.Code {
	var werr *wire.Error
	switch {
	case err == nil:
		return CodeOK
	case errors.As(err, &werr):
		return werr.Code
	}
	return ""
}

// Stats returns the server's counts.
func (s *Server) Stats() Stats {
	st := Stats{Connections: s.Connections(), Streams: int(s.meters.streams.Load()), InFlight: make(map[string]int, len(s.meters.inflight))}
	for op, n := range s.meters.inflight {
		st.InFlight[op] = int(n.Load())
	}
	return st
}
