package wire

// The op table: protocol version 1 as data. Every op names the request
// fields it reads (Request is one struct shared by all ops, so each op's
// fields are listed here by key), the type of its result, the events of
// the stream it may start and the error codes of its own. Describe turns
// the table and the result types into the description every client's
// tables are generated from (testdata/protocol/v1-ops.json).

// FieldSpec is one request field of an op: a msgpack key of Request (or,
// for a multi's ops, of Op).
type FieldSpec struct {
	Key string
	// Required: the op needs the field. Absent, an optional field means
	// its zero value or what the op says (docs/protocol.md, section 6).
	Required bool
}

// OpSpec describes one op.
type OpSpec struct {
	Op string
	// Request lists the fields the op reads beyond id and op, in the order
	// they are written (the order of Request's fields).
	Request []FieldSpec
	// Result is a nil pointer of the result's type (*Empty for {}).
	Result any
	// Events are the events the op may cause: the session's events after
	// hello, or the events of the stream it starts.
	Events []string
	// Errors are the codes the op may return beyond CommonCodes.
	// Describe adds permission_denied to every op that names a path and
	// no_session to every op that needs a session.
	Errors []Code
	// Sessionless: allowed on a connection opened with no_session.
	Sessionless bool
}

// MultiOpSpec is one op of a multi, with the fields of Op it reads beyond
// op.
type MultiOpSpec struct {
	Op     string
	Fields []FieldSpec
}

// EventSpec describes one event: its body's type, and whether it belongs
// to a stream (it carries sub).
type EventSpec struct {
	Event  string
	Body   any // a nil pointer of the body's type
	Stream bool
}

func need(key string) FieldSpec { return FieldSpec{Key: key, Required: true} }
func opt(key string) FieldSpec  { return FieldSpec{Key: key} }

// writeErrors are what every write may fail with (docs/protocol.md,
// section 6, Writes).
var writeErrors = []Code{CodeSessionExpired, CodeUnavailable, CodeTimeout, CodeCanceled}

func codes(groups ...[]Code) []Code {
	var out []Code
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// Codes is every error code, in the order of docs/protocol.md, section 8.
var Codes = []Code{
	CodeNoNode, CodeNodeExists, CodeBadVersion, CodeNotEmpty, CodeNoChildrenForEphemerals,
	CodeBadArguments, CodeSessionExpired, CodeTimeout, CodeUnavailable, CodeTooLarge,
	CodeUnknownOp, CodePermissionDenied, CodeCanceled, CodeNotHeld, CodeNoSession,
	CodeUnsupportedVersion, CodeBadFrame, CodeTooManyRequests, CodeInternal,
}

// CommonCodes may answer any request: a bad frame, wrongly typed fields or
// a bad id, a frame over the limit, an unknown op, the in-flight limit, a
// bug.
var CommonCodes = []Code{CodeBadFrame, CodeBadArguments, CodeTooLarge, CodeUnknownOp, CodeTooManyRequests, CodeInternal}

// Events is every event.
var Events = []EventSpec{
	{EventSession, (*SessionEvent)(nil), false},
	{EventWatch, (*WatchEvent)(nil), true},
	{EventChange, (*ChangeEvent)(nil), true},
	{EventLeader, (*LeaderResult)(nil), true},
	{EventTask, (*TaskEvent)(nil), true},
	{EventMember, (*MemberEvent)(nil), true},
}

// MultiOps are the ops of a multi.
var MultiOps = []MultiOpSpec{
	{OpCreate, []FieldSpec{need("path"), opt("data"), opt("ephemeral"), opt("sequential"), opt("container"), opt("ttl_ms")}},
	{OpDelete, []FieldSpec{need("path"), opt("version")}},
	{OpSet, []FieldSpec{need("path"), opt("data"), opt("version")}},
	{OpCheck, []FieldSpec{need("path"), opt("version")}},
}

// The errors of the lock-like recipes: a place in line that waits.
var (
	lockErrors    = codes([]Code{CodeTimeout, CodeCanceled, CodeNotHeld, CodeNoChildrenForEphemerals, CodeNoNode}, writeErrors)
	barrierErrors = codes([]Code{CodeTimeout, CodeCanceled, CodeNotEmpty, CodeNoChildrenForEphemerals}, writeErrors)
	doubleErrors  = codes([]Code{CodeNodeExists, CodeNotHeld, CodeTimeout, CodeCanceled, CodeNoChildrenForEphemerals}, writeErrors)
	counterErrors = codes([]Code{CodeCanceled, CodeNoChildrenForEphemerals}, writeErrors)
	keyringOp     = []FieldSpec{need("key")}
)

// Ops is every op of protocol version 1 but check (only inside a multi),
// in the order of docs/protocol.md.
var Ops = []OpSpec{
	{Op: OpHello, Result: (*HelloResult)(nil), Events: []string{EventSession},
		Request: []FieldSpec{opt("protocol"), opt("session_timeout_ms"), opt("client"), opt("resumable"), opt("heartbeat"),
			opt("session_id"), opt("secret"), opt("reclaim"), opt("holds"), opt("no_session")},
		Errors: []Code{CodeNoSession, CodeUnsupportedVersion, CodeSessionExpired, CodeUnavailable, CodeTimeout}},
	{Op: OpPing, Result: (*Empty)(nil), Sessionless: true},
	{Op: OpCreate, Result: (*CreateResult)(nil),
		Request: []FieldSpec{need("path"), opt("data"), opt("ephemeral"), opt("sequential"), opt("container"), opt("ttl_ms")},
		Errors:  codes([]Code{CodeNoNode, CodeNodeExists, CodeNoChildrenForEphemerals}, writeErrors)},
	{Op: OpDelete, Result: (*Empty)(nil),
		Request: []FieldSpec{need("path"), opt("version")},
		Errors:  codes([]Code{CodeNoNode, CodeBadVersion, CodeNotEmpty}, writeErrors)},
	{Op: OpSet, Result: (*StatResult)(nil),
		Request: []FieldSpec{need("path"), opt("data"), opt("version")},
		Errors:  codes([]Code{CodeNoNode, CodeBadVersion}, writeErrors)},
	{Op: OpGet, Result: (*GetResult)(nil), Events: []string{EventWatch}, Sessionless: true,
		Request: []FieldSpec{need("path"), opt("watch")},
		Errors:  []Code{CodeNoNode}},
	{Op: OpExists, Result: (*ExistsResult)(nil), Events: []string{EventWatch}, Sessionless: true,
		Request: []FieldSpec{need("path"), opt("watch")}},
	{Op: OpChildren, Result: (*ChildrenResult)(nil), Events: []string{EventWatch}, Sessionless: true,
		Request: []FieldSpec{need("path"), opt("watch")},
		Errors:  []Code{CodeNoNode}},
	{Op: OpMulti, Result: (*MultiResult)(nil),
		Request: []FieldSpec{need("ops")},
		Errors:  codes([]Code{CodeNoNode, CodeNodeExists, CodeBadVersion, CodeNotEmpty, CodeNoChildrenForEphemerals}, writeErrors)},
	{Op: OpSync, Result: (*SyncResult)(nil), Sessionless: true,
		Errors: []Code{CodeTimeout, CodeCanceled}},
	{Op: OpLock, Result: (*LockResult)(nil),
		Request: []FieldSpec{need("path"), opt("wait_ms")},
		Errors:  lockErrors},
	{Op: OpUnlock, Result: (*Empty)(nil),
		Request: []FieldSpec{need("key")},
		Errors:  codes([]Code{CodeNotHeld}, writeErrors)},
	{Op: OpLockCheck, Result: (*LockCheckResult)(nil), Sessionless: true,
		Request: []FieldSpec{need("path"), need("token")}},
	{Op: OpCancel, Result: (*Empty)(nil), Sessionless: true,
		Request: []FieldSpec{need("target")}},
	{Op: OpStatus, Result: (*StatusResult)(nil), Sessionless: true},
	{Op: OpMembers, Result: (*MembersResult)(nil), Sessionless: true},
	{Op: OpSessions, Result: (*SessionsResult)(nil), Sessionless: true,
		Errors: []Code{CodePermissionDenied}},

	{Op: OpSubscribe, Result: (*SubscribeResult)(nil), Events: []string{EventChange}, Sessionless: true,
		Request: []FieldSpec{need("path"), opt("scope"), opt("from_zxid"), opt("fold"), opt("known")}},
	{Op: OpUnsubscribe, Result: (*Empty)(nil), Sessionless: true,
		Request: []FieldSpec{need("sub")}},

	{Op: OpCampaign, Result: (*LeaseResult)(nil),
		Request: []FieldSpec{need("path"), opt("data"), opt("wait_ms")},
		Errors:  codes(lockErrors, []Code{CodeTooLarge})},
	{Op: OpResign, Result: (*Empty)(nil),
		Request: []FieldSpec{need("key"), opt("token")},
		Errors:  codes([]Code{CodeNotHeld}, writeErrors)},
	{Op: OpProclaim, Result: (*Empty)(nil),
		Request: []FieldSpec{opt("data"), need("key"), opt("token")},
		Errors:  codes([]Code{CodeNotHeld, CodeTooLarge}, writeErrors)},
	{Op: OpLeader, Result: (*LeaderResult)(nil), Sessionless: true,
		Request: []FieldSpec{need("path")}},
	{Op: OpObserve, Result: (*SubscribeResult)(nil), Events: []string{EventLeader}, Sessionless: true,
		Request: []FieldSpec{need("path")}},

	{Op: OpReport, Result: (*Empty)(nil),
		Request: []FieldSpec{opt("data"), need("job"), need("task"), opt("state"), opt("percent"), opt("message")},
		Errors:  []Code{CodeTooLarge, CodeNoChildrenForEphemerals, CodeSessionExpired, CodeUnavailable, CodeTimeout}},
	{Op: OpProgressGet, Result: (*ProgressResult)(nil), Sessionless: true,
		Request: []FieldSpec{need("job")}},
	{Op: OpProgressWatch, Result: (*SubscribeResult)(nil), Events: []string{EventTask}, Sessionless: true,
		Request: []FieldSpec{need("job")}},

	{Op: OpJoin, Result: (*LeaseResult)(nil),
		Request: []FieldSpec{opt("data"), need("group"), need("member")},
		Errors:  []Code{CodeNodeExists, CodeTooLarge, CodeSessionExpired, CodeUnavailable, CodeTimeout}},
	{Op: OpLeave, Result: (*Empty)(nil),
		Request: []FieldSpec{need("group"), need("member")},
		Errors:  codes([]Code{CodeNotHeld}, writeErrors)},
	{Op: OpMembersOf, Result: (*GroupResult)(nil), Sessionless: true,
		Request: []FieldSpec{need("group")}},
	{Op: OpGroupWatch, Result: (*SubscribeResult)(nil), Events: []string{EventMember}, Sessionless: true,
		Request: []FieldSpec{need("group")}},

	{Op: OpReadLock, Result: (*LeaseResult)(nil),
		Request: []FieldSpec{need("path"), opt("wait_ms")},
		Errors:  lockErrors},
	{Op: OpWriteLock, Result: (*LeaseResult)(nil),
		Request: []FieldSpec{need("path"), opt("wait_ms")},
		Errors:  lockErrors},
	{Op: OpSemAcquire, Result: (*LeaseResult)(nil),
		Request: []FieldSpec{need("path"), opt("wait_ms"), need("count")},
		Errors:  codes([]Code{CodeTimeout, CodeCanceled, CodeNotHeld}, writeErrors)},
	{Op: OpSemRelease, Result: (*Empty)(nil),
		Request: []FieldSpec{need("key")},
		Errors:  codes([]Code{CodeNotHeld}, writeErrors)},

	{Op: OpBarrierSet, Result: (*Empty)(nil),
		Request: []FieldSpec{need("path")},
		Errors:  barrierErrors},
	{Op: OpBarrierRemove, Result: (*Empty)(nil),
		Request: []FieldSpec{need("path")},
		Errors:  barrierErrors},
	{Op: OpBarrierWait, Result: (*Empty)(nil),
		Request: []FieldSpec{need("path"), opt("wait_ms")},
		Errors:  barrierErrors},
	{Op: OpBarrierEnter, Result: (*Empty)(nil),
		Request: []FieldSpec{need("path"), opt("wait_ms"), need("member"), need("count")},
		Errors:  doubleErrors},
	{Op: OpBarrierLeave, Result: (*Empty)(nil),
		Request: []FieldSpec{need("path"), opt("wait_ms"), need("member")},
		Errors:  doubleErrors},

	{Op: OpQueuePut, Result: (*LeaseResult)(nil),
		Request: []FieldSpec{need("path"), opt("data")},
		Errors:  codes([]Code{CodeTooLarge, CodeNoChildrenForEphemerals}, writeErrors)},
	{Op: OpQueueTake, Result: (*QueueItem)(nil),
		Request: []FieldSpec{need("path"), opt("wait_ms")},
		Errors:  codes([]Code{CodeTimeout, CodeCanceled, CodeNoChildrenForEphemerals}, writeErrors)},

	{Op: OpCounterAdd, Result: (*CounterResult)(nil),
		Request: []FieldSpec{need("path"), opt("delta")},
		Errors:  counterErrors},
	{Op: OpCounterGet, Result: (*CounterResult)(nil), Sessionless: true,
		Request: []FieldSpec{need("path")}},
	{Op: OpCounterCAS, Result: (*CounterResult)(nil),
		Request: []FieldSpec{need("path"), need("expect"), need("value")},
		Errors:  counterErrors},

	{Op: OpKeyringList, Result: (*KeyringResult)(nil), Sessionless: true,
		Errors: []Code{CodePermissionDenied}},
	{Op: OpKeyringInstall, Result: (*KeyringResult)(nil), Sessionless: true, Request: keyringOp,
		Errors: []Code{CodePermissionDenied}},
	{Op: OpKeyringUse, Result: (*KeyringResult)(nil), Sessionless: true, Request: keyringOp,
		Errors: []Code{CodePermissionDenied}},
	{Op: OpKeyringRemove, Result: (*KeyringResult)(nil), Sessionless: true, Request: keyringOp,
		Errors: []Code{CodePermissionDenied}},

	{Op: OpSnapshotSave, Result: (*SnapshotChunk)(nil), Sessionless: true,
		Request: []FieldSpec{opt("offset")},
		Errors:  []Code{CodePermissionDenied, CodeUnavailable, CodeTimeout, CodeCanceled}},
	{Op: OpSnapshotRestore, Result: (*RestoreResult)(nil), Sessionless: true,
		Request: []FieldSpec{opt("data"), opt("offset"), opt("final"), opt("force")},
		Errors:  []Code{CodePermissionDenied, CodeNotEmpty, CodeUnavailable, CodeTimeout, CodeCanceled}},
	{Op: OpRemovePeer, Result: (*PeerResult)(nil), Sessionless: true,
		Request: []FieldSpec{need("node")},
		Errors:  []Code{CodePermissionDenied, CodeUnavailable, CodeTimeout, CodeCanceled}},
	{Op: OpForceLeave, Result: (*PeerResult)(nil), Sessionless: true,
		Request: []FieldSpec{need("node")},
		Errors:  []Code{CodePermissionDenied, CodeUnavailable, CodeTimeout, CodeCanceled}},
}
