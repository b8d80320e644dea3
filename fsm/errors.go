package fsm

import "errors"

// Code names why an operation was refused. Codes travel in Raft results and
// snapshots (the dedup cache), so their numbers never change.
type Code uint8

// Codes. CodeOK is the zero value.
const (
	CodeOK Code = iota
	CodeNoNode
	CodeNodeExists
	CodeBadVersion
	CodeNotEmpty
	CodeNoChildrenForEphemerals
	CodeBadArguments
	CodeSessionExpired
	CodeTooLarge
	CodeStaleRequest
	CodePermissionDenied
)

// QuoteName quotes a name or path for an error message, cut after 64
// bytes so that a long argument cannot swell the message.
func QuoteName(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return `"` + s + `"`
}

// Sentinel errors, one per code; errors.Is matches an *Error against them.
var (
	ErrNoNode                  = &Error{Code: CodeNoNode, Msg: "node does not exist"}
	ErrNodeExists              = &Error{Code: CodeNodeExists, Msg: "node already exists"}
	ErrBadVersion              = &Error{Code: CodeBadVersion, Msg: "version does not match"}
	ErrNotEmpty                = &Error{Code: CodeNotEmpty, Msg: "node has children"}
	ErrNoChildrenForEphemerals = &Error{Code: CodeNoChildrenForEphemerals, Msg: "ephemeral nodes may not have children"}
	ErrBadArguments            = &Error{Code: CodeBadArguments, Msg: "bad arguments"}
	ErrSessionExpired          = &Error{Code: CodeSessionExpired, Msg: "session expired or unknown"}
	ErrTooLarge                = &Error{Code: CodeTooLarge, Msg: "data larger than 1 MiB"}
	ErrStaleRequest            = &Error{Code: CodeStaleRequest, Msg: "request sequence already acknowledged"}
	ErrPermissionDenied        = &Error{Code: CodePermissionDenied, Msg: "permission denied: the node is another session's ephemeral"}
)

var sentinels = map[Code]*Error{
	CodeNoNode:                  ErrNoNode,
	CodeNodeExists:              ErrNodeExists,
	CodeBadVersion:              ErrBadVersion,
	CodeNotEmpty:                ErrNotEmpty,
	CodeNoChildrenForEphemerals: ErrNoChildrenForEphemerals,
	CodeBadArguments:            ErrBadArguments,
	CodeSessionExpired:          ErrSessionExpired,
	CodeTooLarge:                ErrTooLarge,
	CodeStaleRequest:            ErrStaleRequest,
	CodePermissionDenied:        ErrPermissionDenied,
}

// Error is a rule the tree refused to break: the node exists, the version
// differs. It is a result, not a failure of the state machine.
type Error struct {
	Code Code   `msgpack:"c"`
	Msg  string `msgpack:"m"`
}

func (e *Error) Error() string { return e.Msg }

// Is matches errors by code, so a detailed error matches its sentinel.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code
}

// errorf builds an error with a code and a message naming the path.
func errorf(c Code, path string) *Error {
	return &Error{Code: c, Msg: sentinels[c].Msg + ": " + path}
}

// CodeOf returns the code of err, or CodeOK when err is nil. Errors that are
// not *Error report CodeBadArguments.
func CodeOf(err error) Code {
	if err == nil {
		return CodeOK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeBadArguments
}
