// This file simulates a correct register under many concurrent clients,
// with random delays and random unknown outcomes, and checks that the
// checkers accept its history, then that one corrupted read is caught.

package check

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// simEvent is something that happens to one op of the simulation: its call,
// the moment it takes effect (linearizes), or its return.
type simEvent struct {
	at, seq int64
	what    int // simCall, simApply, simReturn
	client  int
	op      int // index in sim.ops (not for simCall)
}

const (
	simCall = iota
	simApply
	simReturn
)

// sim is a simulated run: registers that apply each op at one instant
// between its call and return (or later, or never, for an unknown outcome).
type sim struct {
	rng      *rand.Rand
	keys     []string
	perOp    int                      // ops per client
	unknown  int                      // the share of writes and CASes whose outcome is unknown, in %
	issued   []int                    // ops issued, per client
	known    []map[string]int32       // the version each client last saw, per key
	state    map[string]regState      // the registers
	history  map[string][]regState    // per key, every version's state
	producer map[string]map[int32]int // per key and version, the op that made it
	ops      []RegOp
	events   []simEvent
	seq      int64
}

func (s *sim) schedule(e simEvent) {
	s.seq++
	e.seq = s.seq
	s.events = append(s.events, e)
}

// next removes and returns the earliest event.
func (s *sim) next() simEvent {
	m := 0
	for i, e := range s.events {
		if e.at < s.events[m].at || e.at == s.events[m].at && e.seq < s.events[m].seq {
			m = i
		}
	}
	e := s.events[m]
	s.events = append(s.events[:m], s.events[m+1:]...)
	return e
}

func (s *sim) delay(n int64) int64 { return 1 + s.rng.Int64N(n) }

// call starts a client's next op.
func (s *sim) call(e simEvent) {
	c := e.client
	if s.issued[c] == s.perOp {
		return
	}
	s.issued[c]++
	key := s.keys[s.rng.IntN(len(s.keys))]
	o := RegOp{Client: c, Key: key, Call: e.at, Value: fmt.Sprintf("c%d-%d", c, s.issued[c])}
	switch p := s.rng.IntN(100); {
	case p < 40:
		o.Kind = Read
	case p < 50:
		o.Kind = LocalRead
	case p < 75:
		o.Kind = Write
	default:
		o.Kind, o.Expect = CAS, s.known[c][key]
	}
	i := len(s.ops)
	if o.isWrite() && s.rng.IntN(100) < s.unknown {
		o.Unknown = true // the client gives up; the op applies later, or never
		if s.rng.IntN(2) == 0 {
			s.schedule(simEvent{at: e.at + s.delay(400), what: simApply, client: c, op: i})
		}
		s.schedule(simEvent{at: e.at + s.delay(200), what: simReturn, client: c, op: i})
	} else {
		apply := e.at + s.delay(100)
		s.schedule(simEvent{at: apply, what: simApply, client: c, op: i})
		s.schedule(simEvent{at: apply + s.delay(100), what: simReturn, client: c, op: i})
	}
	s.ops = append(s.ops, o)
}

// apply makes an op take effect on its register.
func (s *sim) apply(e simEvent) {
	o := &s.ops[e.op]
	st := s.state[o.Key]
	if !o.isWrite() {
		o.Value, o.Version, o.OK = st.Value, st.Version, true
		return
	}
	if o.Kind == CAS && o.Expect != st.Version {
		return // refused
	}
	st = regState{Value: o.Value, Version: st.Version + 1}
	s.state[o.Key] = st
	s.history[o.Key] = append(s.history[o.Key], st)
	s.producer[o.Key][st.Version] = e.op
	if !o.Unknown {
		o.OK, o.Version = true, st.Version
	}
}

// ret ends an op for its client, which then calls its next one.
func (s *sim) ret(e simEvent) {
	o := &s.ops[e.op]
	o.Return = e.at
	if o.OK && !o.Unknown {
		s.known[e.client][o.Key] = o.Version
	}
	s.schedule(simEvent{at: e.at + s.rng.Int64N(50), what: simCall, client: e.client})
}

// simulate runs clients×perOp ops on keys, unknownPct% of writes and CASes
// with an unknown outcome, and returns the history.
func simulate(seed uint64, clients, perOp, unknownPct int, keys []string) *sim {
	s := &sim{
		rng: rand.New(rand.NewPCG(seed, 1)), keys: keys, perOp: perOp, unknown: unknownPct,
		issued: make([]int, clients), known: make([]map[string]int32, clients),
		state: map[string]regState{}, history: map[string][]regState{}, producer: map[string]map[int32]int{},
	}
	for _, k := range keys {
		s.history[k] = []regState{{}}
		s.producer[k] = map[int32]int{}
	}
	for c := range clients {
		s.known[c] = map[string]int32{}
		s.schedule(simEvent{at: s.rng.Int64N(50), what: simCall, client: c})
	}
	for len(s.events) > 0 {
		switch e := s.next(); e.what {
		case simCall:
			s.call(e)
		case simApply:
			s.apply(e)
		case simReturn:
			s.ret(e)
		}
	}
	return s
}

// staleRead picks a synced read whose version was made by an acknowledged
// op that returned before the read was called, and makes it return the
// previous version instead.
func (s *sim) staleRead() (int, bool) {
	for i := len(s.ops) / 2; i < len(s.ops); i++ {
		o := &s.ops[i]
		if o.Kind != Read || o.Version == 0 {
			continue
		}
		p := s.ops[s.producer[o.Key][o.Version]]
		if p.Unknown || p.Return >= o.Call {
			continue
		}
		prev := s.history[o.Key][o.Version-1]
		o.Value, o.Version = prev.Value, prev.Version
		return i, true
	}
	return 0, false
}

func TestGeneratedHistory(t *testing.T) {
	s := simulate(42, 20, 200, 10, []string{"a", "b", "c"})
	counts := map[string]int{}
	for _, o := range s.ops {
		switch {
		case o.Unknown:
			counts["unknown"]++
		case o.Kind == CAS && !o.OK:
			counts["refused"]++
		default:
			counts[o.Kind.String()]++
		}
	}
	t.Logf("%d ops: %v", len(s.ops), counts)
	if counts["unknown"] == 0 || counts["refused"] == 0 {
		t.Fatalf("the simulation should have unknown outcomes and refused CASes: %v", counts)
	}

	start := time.Now()
	res := Linearizable(s.ops, 10*time.Second)
	t.Logf("Linearizable: %d ops in %v", res.Checked, time.Since(start))
	wantOK(t, res)
	wantOK(t, MonotonicReads(s.ops))

	i, ok := s.staleRead()
	if !ok {
		t.Fatal("no read to corrupt")
	}
	t.Logf("corrupted %s", s.ops[i])
	res = Linearizable(s.ops, 10*time.Second)
	wantProblem(t, res, fmt.Sprintf("key %q: not linearizable", s.ops[i].Key), s.ops[i].String())
	if res.Undecided {
		t.Fatalf("undecided: %q", res.Problems)
	}
}
