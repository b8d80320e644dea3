package zkapi

import (
	"context"

	"github.com/warden-dev/warden/fsm"
	"github.com/warden-dev/warden/localapi"
	"github.com/warden-dev/warden/localapi/wire"
	"github.com/warden-dev/warden/recipes"
)

// Backend is the replicated tree and the agent, as the server needs them:
// the local API's Backend (the agent's adapter implements both), less
// what only the local API uses, plus the applied index.
//
// The read methods read this agent's replica. Write returns once the
// write is applied here too, so a session reads its own writes. Errors
// other than fsm errors and localapi.ErrBadSecret mean the cluster could
// not be reached in time (no leader, the outcome unknown).
type Backend interface {
	recipes.Store
	// OpenSession opens a session owned by this agent and keeps it alive.
	OpenSession(ctx context.Context, o localapi.SessionOptions) (fsm.Session, error)
	// ResumeSession takes up a resumable session by id and secret; a
	// wrong secret or a session that is gone is localapi.ErrBadSecret.
	ResumeSession(ctx context.Context, id uint64, secret []byte, onState func(string)) (fsm.Session, error)
	// CloseSession ends a session and everything it holds.
	CloseSession(ctx context.Context, id uint64, reason fsm.CloseReason) error
	// Detach stops keeping a session alive without closing it.
	Detach(id uint64)
	// Sync returns once this replica has applied every write committed
	// before the call, with the zxid reached.
	Sync(ctx context.Context) (uint64, error)
	Name() string
	Status() wire.StatusResult
	// Sessions lists the cluster's open sessions.
	Sessions() []wire.SessionInfo
	// Ephemerals lists the ephemeral nodes a session owns.
	Ephemerals(session uint64) []string
	// Index is the zxid (Raft index) of the last entry applied here.
	Index() uint64
	// WaitIndex returns once the entry at index (or a later one) is
	// applied here, or when ctx ends.
	WaitIndex(ctx context.Context, index uint64) error
}
