package main

import (
	"sync"
	"time"

	"github.com/warden-dev/warden/systest/nemesis/check"
)

// history records what the clients did and saw, and what the nemesis did,
// on one monotonic clock: nanoseconds since the run began.
type history struct {
	start time.Time

	mu      sync.Mutex
	reg     []check.RegOp
	holds   []check.Hold
	writes  []check.ResourceWrite
	acked   []string
	unknown int // creates whose outcome is unknown
	faults  []fault
	nextID  int
}

// fault is one action of the nemesis.
type fault struct {
	Kind     string   `json:"kind"`
	Targets  []string `json:"targets"`
	Start    int64    `json:"start_ns"`
	End      int64    `json:"end_ns"`
	Verified bool     `json:"verified"` // a cut: traffic was seen to be blocked
	Note     string   `json:"note,omitempty"`
}

func newHistory() *history { return &history{start: time.Now()} }

func (h *history) now() int64 { return int64(time.Since(h.start)) }

// client numbers a new client (one per session).
func (h *history) client() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextID++
	return h.nextID
}

func (h *history) addReg(op check.RegOp) {
	h.mu.Lock()
	h.reg = append(h.reg, op)
	h.mu.Unlock()
}

func (h *history) addHold(hd check.Hold) {
	h.mu.Lock()
	h.holds = append(h.holds, hd)
	h.mu.Unlock()
}

func (h *history) addFault(f fault) {
	h.mu.Lock()
	h.faults = append(h.faults, f)
	h.mu.Unlock()
}

func (h *history) addCreate(path string, known bool) {
	h.mu.Lock()
	if known {
		h.acked = append(h.acked, path)
	} else {
		h.unknown++
	}
	h.mu.Unlock()
}

// resource is the protected resource the lock guards: it accepts a write
// only with a fencing token at least as high as any it accepted before,
// as a storage server given Warden's tokens would.
type resource struct {
	h        *history
	mu       sync.Mutex
	max      uint64
	noFences bool // planted bug: accept every token
}

func (r *resource) write(client int, token uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	ok := token >= r.max || r.noFences
	if ok && token > r.max {
		r.max = token
	}
	r.h.mu.Lock()
	r.h.writes = append(r.h.writes, check.ResourceWrite{Client: client, Token: token, At: r.h.now(), Accepted: ok})
	r.h.mu.Unlock()
	return ok
}
