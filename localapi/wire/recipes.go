package wire

import "github.com/vmihailenco/msgpack/v5"

// Watches, subscriptions and the recipes beyond locks: op names, events and
// result shapes. Every stream (a one-shot watch, a subscription, an
// election observer, a job or group watch) is numbered by a "sub" id that
// its events carry; "unsubscribe" ends any of them.

// Op names.
const (
	OpSubscribe   = "subscribe"   // path, scope, from_zxid, fold, known -> SubscribeResult; events "change"
	OpUnsubscribe = "unsubscribe" // sub -> Empty

	OpCampaign = "campaign" // path, data (the candidate's value), wait_ms -> LeaseResult when elected
	OpResign   = "resign"   // key -> Empty
	OpProclaim = "proclaim" // key, data -> Empty
	OpLeader   = "leader"   // path -> LeaderResult
	OpObserve  = "observe"  // path -> SubscribeResult; events "leader"

	OpReport        = "report"         // job, task, state, percent, message, data -> Empty
	OpProgressGet   = "progress_get"   // job -> ProgressResult
	OpProgressWatch = "progress_watch" // job -> SubscribeResult; events "task"

	OpJoin       = "join"              // group, member, data -> LeaseResult (key)
	OpLeave      = "leave"             // group, member -> Empty
	OpMembersOf  = "members_of"        // group -> GroupResult
	OpGroupWatch = "group_watch"       // group -> SubscribeResult; events "member"
	OpReadLock   = "read_lock"         // path, wait_ms -> LeaseResult
	OpWriteLock  = "write_lock"        // path, wait_ms -> LeaseResult
	OpSemAcquire = "semaphore_acquire" // path, count (leases), wait_ms -> LeaseResult
	OpSemRelease = "semaphore_release" // key -> Empty

	OpBarrierSet    = "barrier_set"    // path -> Empty
	OpBarrierRemove = "barrier_remove" // path -> Empty
	OpBarrierWait   = "barrier_wait"   // path, wait_ms -> Empty once the barrier is gone
	OpBarrierEnter  = "barrier_enter"  // path, count, member, wait_ms -> Empty once count members entered
	OpBarrierLeave  = "barrier_leave"  // path, member, wait_ms -> Empty once every member left

	OpQueuePut  = "queue_put"  // path, data -> LeaseResult (key of the item)
	OpQueueTake = "queue_take" // path, wait_ms -> QueueItem

	OpCounterAdd = "counter_add" // path, delta -> CounterResult
	OpCounterGet = "counter_get" // path -> CounterResult
	OpCounterCAS = "counter_cas" // path, expect, value -> CounterResult (Swapped says whether it did)
)

// Event names for streams.
const (
	EventWatch  = "watch"  // a one-shot watch fired; Body is WatchEvent
	EventChange = "change" // a subscription's change; Body is ChangeEvent
	EventLeader = "leader" // an observed election's leader changed; Body is LeaderResult
	EventTask   = "task"   // a watched job's task reported or went away; Body is TaskEvent
	EventMember = "member" // a watched group's member joined, changed or left; Body is MemberEvent
)

// Scopes of a subscription.
const (
	ScopeNode     = "node"     // the path itself
	ScopeChildren = "children" // its direct children
	ScopeSubtree  = "subtree"  // the path and everything below it
)

// Change and watch event types.
const (
	ChangeCreated         = "created"
	ChangeDeleted         = "deleted"
	ChangeDataChanged     = "data_changed"
	ChangeChildrenChanged = "children_changed" // one-shot child watches only
	// ChangeResync: one node of the current state, sent when a stream
	// starts from nothing or its history is gone; a "synced" follows the
	// last one (in a folded stream, the last one is marked Synced, and
	// paths the app knew that are gone come as resync events marked
	// Deleted). Replace what you know with the resync's nodes.
	ChangeResync = "resync"
	ChangeSynced = "synced"
)

// SubscribeResult answers every op that starts a stream.
type SubscribeResult struct {
	Sub uint64 `msgpack:"sub"`
}

// WatchEvent is a fired one-shot watch.
type WatchEvent struct {
	Type string `msgpack:"type"`
	Path string `msgpack:"path"`
	Zxid uint64 `msgpack:"zxid"`
}

// ChangeEvent is one change a subscription covers. Data and Stat are the
// node's after the change (for deleted: its last Stat, no data).
//
// A folded subscription (Request.Fold) sends no "synced" event: Synced
// marks the last resync event instead. Deleted marks a resync event for a
// path the app knew that no longer exists; such an event has only type,
// path, zxid and the two flags (no data, no stat).
type ChangeEvent struct {
	Type    string `msgpack:"type"`
	Path    string `msgpack:"path"`
	Zxid    uint64 `msgpack:"zxid"`
	Data    []byte `msgpack:"data,omitempty"`
	Stat    Stat   `msgpack:"stat"`
	Deleted bool   `msgpack:"deleted,omitempty"`
	Synced  bool   `msgpack:"synced,omitempty"`
}

// resyncGone is the shape of a folded resync event for a path that no
// longer exists: its last Stat is not known, so it has none.
type resyncGone struct {
	Type    string `msgpack:"type"`
	Path    string `msgpack:"path"`
	Zxid    uint64 `msgpack:"zxid"`
	Deleted bool   `msgpack:"deleted"`
	Synced  bool   `msgpack:"synced,omitempty"`
}

// EncodeMsgpack implements msgpack.CustomEncoder: a deleted resync event
// leaves out data and stat; every other event encodes field by field.
func (ev ChangeEvent) EncodeMsgpack(e *msgpack.Encoder) error {
	if ev.Type == ChangeResync && ev.Deleted {
		return e.Encode(&resyncGone{Type: ev.Type, Path: ev.Path, Zxid: ev.Zxid, Deleted: true, Synced: ev.Synced})
	}
	type fields ChangeEvent // without this method
	return e.Encode((*fields)(&ev))
}

// LeaseResult answers an op that grants something held by the session: a
// candidacy that won, a group membership, a read or write lock, a
// semaphore lease, a queued item. Token is the grant's fencing token.
type LeaseResult struct {
	Key   string `msgpack:"key"`
	Token uint64 `msgpack:"token"`
}

// LeaderResult says who leads an election. Key is empty when nobody does.
type LeaderResult struct {
	Key   string `msgpack:"key"`
	Data  []byte `msgpack:"data"`
	Token uint64 `msgpack:"token"`
}

// Task is one task's latest report.
type Task struct {
	Task    string  `msgpack:"task" json:"task"`
	State   string  `msgpack:"state" json:"state"`
	Percent float64 `msgpack:"percent" json:"percent"`
	Message string  `msgpack:"message" json:"message"`
	Data    []byte  `msgpack:"data,omitempty" json:"data,omitempty"`
	Updated int64   `msgpack:"updated" json:"updated"` // ms since the epoch
}

// ProgressResult answers progress_get: every live task of the job.
type ProgressResult struct {
	Job   string `msgpack:"job" json:"job"`
	Tasks []Task `msgpack:"tasks" json:"tasks"`
}

// TaskEvent is a watched task's new report, or its end (Removed: its owner's
// session ended or it was finished).
type TaskEvent struct {
	Task    Task `msgpack:"task"`
	Removed bool `msgpack:"removed,omitempty"`
}

// GroupMember is one member of a group.
type GroupMember struct {
	Member string `msgpack:"member" json:"member"`
	Data   []byte `msgpack:"data,omitempty" json:"data,omitempty"`
}

// GroupResult answers members_of.
type GroupResult struct {
	Group   string        `msgpack:"group" json:"group"`
	Members []GroupMember `msgpack:"members" json:"members"`
}

// MemberEvent is a watched group's change.
type MemberEvent struct {
	Member GroupMember `msgpack:"member"`
	Left   bool        `msgpack:"left,omitempty"`
}

// QueueItem answers queue_take.
type QueueItem struct {
	Key  string `msgpack:"key"`
	Data []byte `msgpack:"data"`
}

// CounterResult answers the counter ops.
type CounterResult struct {
	Value   int64 `msgpack:"value"`
	Version int32 `msgpack:"version"`
	Swapped bool  `msgpack:"swapped,omitempty"`
}
