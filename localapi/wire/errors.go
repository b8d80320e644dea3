package wire

// Code is a stable error code. Clients match on codes, never on messages.
type Code string

// Error codes. New codes may be added; existing ones never change meaning.
const (
	CodeNoNode                  Code = "no_node"                    // the node does not exist
	CodeNodeExists              Code = "node_exists"                // the node already exists
	CodeBadVersion              Code = "bad_version"                // the node's version differs from the expected one
	CodeNotEmpty                Code = "not_empty"                  // the node has children
	CodeNoChildrenForEphemerals Code = "no_children_for_ephemerals" // ephemeral nodes cannot have children
	CodeBadArguments            Code = "bad_arguments"              // the request is malformed or its arguments invalid
	CodeSessionExpired          Code = "session_expired"            // the session is gone
	CodeTimeout                 Code = "timeout"                    // the operation did not finish within its deadline
	CodeUnavailable             Code = "unavailable"                // the cluster cannot serve writes right now
	CodeTooLarge                Code = "too_large"                  // data or frame over its size limit
	CodeUnknownOp               Code = "unknown_op"                 // the op is not one this agent knows
	CodePermissionDenied        Code = "permission_denied"          // the caller may not do this
	CodeCanceled                Code = "canceled"                   // the request was canceled
	CodeNotHeld                 Code = "not_held"                   // the lock is not held by this session
	CodeNoSession               Code = "no_session"                 // the first request was not hello
	CodeUnsupportedVersion      Code = "unsupported_version"        // the agent does not speak the requested protocol version
	CodeBadFrame                Code = "bad_frame"                  // the frame was not a msgpack map; the agent closes the connection
	CodeTooManyRequests         Code = "too_many_requests"          // the connection already has the maximum of requests in flight
	CodeInternal                Code = "internal"                   // a bug in the agent
)

// Error is an error reply. Index is the failing op of a multi.
type Error struct {
	Code    Code   `msgpack:"code"`
	Message string `msgpack:"message"`
	Index   *int   `msgpack:"index,omitempty"`
}

func (e *Error) Error() string {
	if e.Message == "" {
		return string(e.Code)
	}
	return e.Message
}

// Is matches by code, so errors.Is(err, &wire.Error{Code: wire.CodeNoNode})
// holds for every no_node error whatever its message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Errorf is a shorthand for an error reply.
func Errorf(c Code, msg string) *Error { return &Error{Code: c, Message: msg} }
