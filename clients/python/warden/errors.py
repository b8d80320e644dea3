"""Exceptions: one class per error code of the protocol, plus the client's own.

Every exception the client raises derives from :class:`WardenError`, which
carries ``code`` (the agent's stable error code, or a client code such as
``"connection_closed"``), ``message`` (human-readable, never parse it) and
``index`` (the failing op of a ``multi``, else ``None``).
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Type

from . import _protocol


class WardenError(Exception):
    """Base class of every error the client raises."""

    code: str = ""

    def __init__(self, message: str = "", *, code: Optional[str] = None,
                 index: Optional[int] = None) -> None:
        if code is not None:
            self.code = code
        self.message = message
        self.index = index
        super().__init__(message or self.code)

    def __str__(self) -> str:
        text = self.message or self.code
        if self.index is not None:
            text += f" (op {self.index})"
        return f"{self.code}: {text}" if self.code and self.message else text

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, index={self.index!r})"


class NoNodeError(WardenError):
    """The node does not exist (for create: its parent does not)."""
    code = "no_node"


class NodeExistsError(WardenError):
    """The node already exists."""
    code = "node_exists"


class BadVersionError(WardenError):
    """The node's version differs from the one given."""
    code = "bad_version"


class NotEmptyError(WardenError):
    """The node has children."""
    code = "not_empty"


class NoChildrenForEphemeralsError(WardenError):
    """Ephemeral nodes cannot have children."""
    code = "no_children_for_ephemerals"


class BadArgumentsError(WardenError, ValueError):
    """The request is malformed or an argument is invalid."""
    code = "bad_arguments"


class SessionExpiredError(WardenError):
    """The session no longer exists in the cluster."""
    code = "session_expired"


class OperationTimeoutError(WardenError):
    """Not done within its deadline: a lock (or other) wait ran out, a try
    failed, or the cluster did not confirm a write in time."""
    code = "timeout"


class UnavailableError(WardenError):
    """The cluster cannot take the write now (no leader)."""
    code = "unavailable"


class TooLargeError(WardenError):
    """Data over 1 MiB, or a reply or frame over 4 MiB."""
    code = "too_large"


class UnknownOpError(WardenError):
    """The agent does not know this op."""
    code = "unknown_op"


class PermissionDeniedError(WardenError):
    """The caller may not do this (reserved)."""
    code = "permission_denied"


class CanceledError(WardenError):
    """The request was canceled."""
    code = "canceled"


class NotHeldError(WardenError):
    """The lock (or candidacy, membership, lease) is not held by this session."""
    code = "not_held"


class NoSessionError(WardenError):
    """The connection has no session for this op (or the first request was not hello)."""
    code = "no_session"


class UnsupportedVersionError(WardenError):
    """The agent does not speak the protocol version the client asked for."""
    code = "unsupported_version"


class BadFrameError(WardenError):
    """The agent could not read a frame the client sent; it closes the connection."""
    code = "bad_frame"


class TooManyRequestsError(WardenError):
    """The connection already has 1024 requests in flight."""
    code = "too_many_requests"


class InternalError(WardenError):
    """A bug in the agent."""
    code = "internal"


# Client-side errors.

class ConnectionClosedError(WardenError):
    """The connection to the agent has ended (or the client was closed).

    A request that was in flight when it ended may or may not have taken
    effect.
    """
    code = "connection_closed"


class DisconnectedError(ConnectionClosedError):
    """The connection dropped; the client is resuming its resumable session.
    Retry once the session is ``connected`` again (see ``wait_connected``)."""
    code = "disconnected"


class SessionLostError(ConnectionClosedError):
    """The session is lost: nothing it held (locks, ephemeral nodes) may be
    relied on any more."""
    code = "session_lost"


class SocketOwnerError(ConnectionClosedError):
    """The client refused to connect: the socket belongs to another user
    than root or the expected one (``$WARDEN_SOCKET_OWNER``, else the
    process's own), so it may not be the agent's. ``path``, ``owner`` and
    ``expected`` say which."""
    code = "socket_owner"

    def __init__(self, path: str, owner: int, expected: int) -> None:
        self.path = path
        self.owner = owner
        self.expected = expected
        super().__init__(
            f"refusing to connect to {path}: the socket belongs to uid {owner}, not to uid {expected} or root, "
            "so it may not be the warden agent's (set WARDEN_SOCKET_OWNER to the agent's user if it runs as "
            "another one)")


class StreamClosedError(WardenError):
    """The stream was closed by the application."""
    code = "stream_closed"


class StreamOverflowError(WardenError):
    """The stream ended because the application did not read its events as
    fast as they came and its backlog filled up. Subscribe again (a
    subscription from its ``last_zxid``)."""
    code = "stream_overflow"


def _error_classes() -> Dict[str, Type[WardenError]]:
    """The class of each error code of the protocol (``_protocol.ERROR_CLASSES``
    names them), in the protocol's order. A code whose class this module
    lacks is left out: it gives a plain WardenError (tests/test_protocol.py
    makes sure none is missing)."""
    out: Dict[str, Type[WardenError]] = {}
    for code, name in _protocol.ERROR_CLASSES.items():
        cls = globals().get(name)
        if isinstance(cls, type) and issubclass(cls, WardenError) and cls.code == code:
            out[code] = cls
    return out


ERROR_CLASSES: Dict[str, Type[WardenError]] = _error_classes()


def error_from_wire(err: Mapping[str, Any]) -> WardenError:
    """The exception for an error map from the agent. An unknown code gives a
    plain WardenError with that code."""
    code = err.get("code")
    code = code if isinstance(code, str) else ""
    message = err.get("message")
    message = message if isinstance(message, str) else ""
    index = err.get("index")
    idx = index if isinstance(index, int) and not isinstance(index, bool) else None
    cls = ERROR_CLASSES.get(code)
    if cls is None:
        return WardenError(message, code=code or "unknown", index=idx)
    return cls(message, index=idx)
