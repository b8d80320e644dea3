"""Values the agent returns, as plain immutable dataclasses, and their parsers."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Type, TypeVar, cast

from . import _ops, _protocol

ANY_VERSION = -1
"""Matches every version in set, delete and check."""

CONFIG_ABSENT = -2
"""As Config.set's expected version: set only if the value was never set."""

PROGRESS_ROOT = "/warden/progress"
GROUP_ROOT = "/warden/groups"
ELECTION_ROOT = "/warden/elections"


class SessionState(str, enum.Enum):
    """What the client knows of its session. Passed (as a str) to the
    ``on_session_state`` callback; states the agent may add later are passed
    through as plain strings."""

    CONNECTED = "connected"
    """The agent confirms the session (after hello, a resume, or a suspension)."""
    SUSPENDED = "suspended"
    """The agent cannot confirm the session: do not start work that relies on it."""
    DISCONNECTED = "disconnected"
    """A resumable session's connection dropped; the client is resuming it."""
    LOST = "lost"
    """The session is over, or can no longer be relied on. Final."""
    CLOSED = "closed"
    """The application closed the client. Final."""

    def __str__(self) -> str:
        return self.value


class Scope(str, enum.Enum):
    NODE = "node"
    CHILDREN = "children"
    SUBTREE = "subtree"

    def __str__(self) -> str:
        return self.value


# -- parsing, by the protocol's tables ---------------------------------------
#
# Every result and event class below is parsed from a map by a parser built
# from its wire type's fields in _protocol.TYPES (generated from the
# protocol's description): each dataclass field is read from the key of its
# name, converted by that key's wire type. Absent or mistyped values become
# the zero value. The classes are bound to their wire types at the end of
# this module.

_T = TypeVar("_T")
_Conv = Callable[[Any], Any]


def _as_int(v: Any) -> int:
    return v if type(v) is int else 0


def _as_float(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 0.0


def _as_str(v: Any) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return v if isinstance(v, str) else ""


def _as_bytes(v: Any) -> bytes:
    if isinstance(v, bytes):
        return v
    if isinstance(v, str):
        return v.encode("utf-8")
    return b""


def _as_bool(v: Any) -> bool:
    return v is True


_SCALARS: Dict[str, _Conv] = {"int": _as_int, "uint": _as_int, "float": _as_float, "str": _as_str,
                              "bin": _as_bytes, "bool": _as_bool}
# The parser of each wire type bound to a class (by name), and of each class.
_BY_WIRE: Dict[str, Callable[[Mapping[str, Any]], Any]] = {}
_BY_CLASS: Dict[type, Callable[[Mapping[str, Any]], Any]] = {}


def _converter(typ: str) -> _Conv:
    """The conversion of a value of wire type typ."""
    if typ in _SCALARS:
        return _SCALARS[typ]
    if typ.startswith("[]"):
        elem = typ[2:]
        if elem in _SCALARS:
            conv = _SCALARS[elem]
            return lambda v: [conv(e) for e in v] if isinstance(v, list) else []
        return lambda v: [_BY_WIRE[elem](e) for e in v if isinstance(e, dict)] if isinstance(v, list) else []
    if typ not in _protocol.TYPES:
        raise KeyError(f"no wire type {typ!r} in the protocol's tables")
    return lambda v: _BY_WIRE[typ](v if isinstance(v, dict) else {})


def _bind(cls: Type[_T], wire: str, **rename: str) -> None:
    """Makes cls's parser from the fields of wire type wire: each field of
    the dataclass is read from the key of its name (or the one rename gives
    it). A field whose key the protocol lacks fails at import."""
    types = {f.key: f.type for f in _protocol.TYPES[wire]}
    plan: List[Tuple[str, _Conv]] = []
    for f in dataclasses.fields(cast(Any, cls)):
        key = rename.get(f.name, f.name)
        if key not in types:
            raise KeyError(f"{cls.__name__}.{f.name}: the protocol's {wire} has no key {key!r}")
        plan.append((key, _converter(types[key])))

    def parse(d: Mapping[str, Any]) -> _T:
        g = d.get
        return cls(*[conv(g(k)) for k, conv in plan])

    if all(conv is _as_int for _, conv in plan):  # Stat: the hot one, all integers
        keys = [k for k, _ in plan]

        def parse(d: Mapping[str, Any]) -> _T:
            return cls(*[v if type(v) is int else 0 for v in map(d.get, keys)])

    _BY_WIRE.setdefault(wire, parse)
    _BY_CLASS[cls] = parse


class _Parsed:
    """A result or event class, parsed by the parser _bind made of it."""

    @classmethod
    def parse(cls: Type[_T], d: Mapping[str, Any]) -> _T:
        p: Callable[[Mapping[str, Any]], _T] = _BY_CLASS[cls]
        return p(d)


def _list_parser(wire: str) -> Callable[[Mapping[str, Any]], List[Any]]:
    """The parser of a result type that only holds a list (MultiResult,
    MembersResult, SessionsResult): the list."""
    (f,) = _protocol.TYPES[wire]
    conv = _converter(f.type)
    return lambda d: conv(d.get(f.key))


@dataclass(frozen=True)
class Stat(_Parsed):
    """A znode's metadata. Zxids are log positions; times are ms since the epoch."""

    czxid: int = 0
    mzxid: int = 0
    pzxid: int = 0
    ctime: int = 0
    mtime: int = 0
    version: int = 0
    cversion: int = 0
    aversion: int = 0
    ephemeral_owner: int = 0
    data_length: int = 0
    num_children: int = 0
    ttl: int = 0
    """A TTL node's time to live in ms; 0 for every other node."""


@dataclass(frozen=True)
class HelloResult(_Parsed):
    protocol: int
    session_id: int
    session_timeout_ms: int
    agent: str
    secret: bytes = b""
    resumed: bool = False


@dataclass(frozen=True)
class ResumeToken:
    """Names a resumable session and proves the right to it. Keep it private."""

    session_id: int
    secret: bytes
    heartbeat: bool = False
    """The session was opened with heartbeat (a client resuming it pings)."""

    def to_str(self) -> str:
        """A printable form, ``ID:HEXSECRET``, with ``:heartbeat`` appended
        for a heartbeat session."""
        return f"{self.session_id}:{self.secret.hex()}" + (":heartbeat" if self.heartbeat else "")

    @classmethod
    def from_str(cls, s: str) -> "ResumeToken":
        parts = s.split(":")
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "heartbeat"):
            raise ValueError(f"not a resume token: {s!r}")
        return cls(int(parts[0]), bytes.fromhex(parts[1]), len(parts) == 3)


@dataclass(frozen=True)
class CreateResult(_Parsed):
    path: str
    stat: Stat


@dataclass(frozen=True)
class GetResult(_Parsed):
    data: bytes
    stat: Stat
    watch: int = 0


@dataclass(frozen=True)
class ExistsResult(_Parsed):
    exists: bool
    stat: Stat
    watch: int = 0


@dataclass(frozen=True)
class ChildrenResult(_Parsed):
    children: List[str]
    stat: Stat
    watch: int = 0


@dataclass(frozen=True)
class OpResult(_Parsed):
    """One op's outcome in a multi. ``path`` is set for create."""

    path: str
    stat: Stat


@dataclass(frozen=True)
class LeaseResult(_Parsed):
    """A grant: lock, candidacy, membership, semaphore lease, queued item."""

    key: str
    token: int


@dataclass(frozen=True)
class Leader(_Parsed):
    """Who leads an election."""

    key: str
    value: bytes
    token: int

    @property
    def none(self) -> bool:
        """True when nobody leads."""
        return self.key == ""

    def __bool__(self) -> bool:
        return self.key != ""


def parse_leader(d: Mapping[str, Any]) -> Optional[Leader]:
    """The leader, or None when nobody leads."""
    ld = Leader.parse(d)
    return None if ld.none else ld


@dataclass(frozen=True)
class ChangeEvent(_Parsed):
    """One change of a subscription: ``type`` is created, deleted,
    data_changed, resync or synced."""

    type: str
    path: str
    zxid: int
    data: bytes = b""
    stat: Stat = field(default_factory=Stat)

    @property
    def deleted(self) -> bool:
        return self.type == "deleted"


@dataclass(frozen=True)
class WatchEvent(_Parsed):
    """What fired a one-shot watch: created, deleted, data_changed or children_changed."""

    type: str
    path: str
    zxid: int


@dataclass(frozen=True)
class SessionEvent(_Parsed):
    state: str
    session_id: int


@dataclass(frozen=True)
class TaskReport(_Parsed):
    """A task's latest report. ``updated`` is ms since the epoch."""

    task: str
    state: str
    percent: float
    message: str
    data: bytes
    updated: int


@dataclass(frozen=True)
class ProgressResult(_Parsed):
    job: str
    tasks: List[TaskReport]


@dataclass(frozen=True)
class TaskEvent(_Parsed):
    """A watched task's new report, or its end (``removed``)."""

    task: TaskReport
    removed: bool = False


@dataclass(frozen=True)
class GroupMember(_Parsed):
    member: str
    data: bytes = b""


@dataclass(frozen=True)
class GroupResult(_Parsed):
    group: str
    members: List[GroupMember]


@dataclass(frozen=True)
class MemberEvent(_Parsed):
    """A watched group's change: a member joined or changed, or ``left``."""

    member: GroupMember
    left: bool = False


@dataclass(frozen=True)
class QueueItem(_Parsed):
    key: str
    data: bytes


@dataclass(frozen=True)
class CounterResult(_Parsed):
    value: int
    version: int
    swapped: bool = False


@dataclass(frozen=True)
class Status(_Parsed):
    """An agent's view of the cluster."""

    node: str
    role: str
    state: str
    leader: str
    term: int
    commit_index: int
    applied_index: int
    sessions: int
    znodes: int
    no_leader_ms: int = 0
    """How long this agent has known of no leader, in ms; 0 while it knows one
    (and from agents that predate the field)."""


@dataclass(frozen=True)
class AgentMember(_Parsed):
    """One agent of the cluster, as ``members`` lists them."""

    name: str
    addr: str
    rpc_addr: str
    role: str
    status: str
    suffrage: str
    version: str


@dataclass(frozen=True)
class SessionInfo(_Parsed):
    """One open session of the cluster, as ``sessions`` lists them: who
    opened it (the app's process, as the kernel reported it to its agent)
    and how."""

    id: int
    agent: str
    """The agent keeping the session alive."""
    pid: int
    uid: int
    gid: int
    client: str
    """The name the app gave in its hello."""
    timeout_ms: int
    resumable: bool
    heartbeat: bool
    created: int
    """When it was opened, ms since the epoch."""
    holds: List["Hold"] = field(default_factory=list)
    """What the session holds or waits for: its ephemeral nodes, each read as
    the recipe whose layout it follows, from the answering agent's replica.
    Empty from agents that predate the field."""


@dataclass(frozen=True)
class Hold(_Parsed):
    """One of a session's ephemeral nodes, as ``sessions`` reads it."""

    kind: str
    """lock, read_lock, semaphore, queue_take, election, group, task, or
    ephemeral (a node no recipe's layout explains); other kinds may come."""
    path: str
    """The recipe's path (the lock, semaphore, queue, election, or the group's
    or job's node); for an ephemeral, the node itself."""
    key: str
    """The session's node."""
    state: str
    """held or waiting (locks, semaphores, queue takers; groups and tasks are
    held), leader or candidate (elections); empty for an ephemeral."""


@dataclass(frozen=True)
class ConfigUpdate:
    """One change of a config, or one node of its current state (``resync``).

    ``zxid`` is the resume point. ``synced`` marks the last update of a resync.
    """

    path: str
    value: Optional[bytes]
    version: int
    zxid: int
    deleted: bool = False
    resync: bool = False
    synced: bool = False


def _multi_op(op: str, **fields: Any) -> Dict[str, Any]:
    """A multi's op with fields, checked against the op's fields in the
    protocol's table (``_protocol.MULTI_OPS``) and in their order."""
    spec = _protocol.MULTI_OPS[op]
    out: Dict[str, Any] = {"op": op}
    for f in spec:
        if f.key in fields:
            out[f.key] = fields[f.key]
    if len(out) != len(fields) + 1:
        raise ValueError(f"a multi's {op} has no field {sorted(set(fields) - set(out))}")
    return out


class Op:
    """Builders for the ops of a ``multi``."""

    @staticmethod
    def create(path: str, data: bytes = b"", *, ephemeral: bool = False, sequential: bool = False,
               container: bool = False, ttl: Optional[float] = None) -> Dict[str, Any]:
        """A create; ttl in seconds, as for ``create``."""
        return _multi_op("create", path=path, data=data, ephemeral=ephemeral, sequential=sequential,
                         container=container, **_ops.ttl_fields(ttl))

    @staticmethod
    def delete(path: str, version: int = ANY_VERSION) -> Dict[str, Any]:
        return _multi_op("delete", path=path, version=version)

    @staticmethod
    def set(path: str, data: bytes, version: int = ANY_VERSION) -> Dict[str, Any]:
        return _multi_op("set", path=path, data=data, version=version)

    @staticmethod
    def check(path: str, version: int = ANY_VERSION) -> Dict[str, Any]:
        return _multi_op("check", path=path, version=version)


# The wire type (in _protocol.TYPES) each class is parsed from.
for _cls, _wire in ((Stat, "Stat"), (HelloResult, "HelloResult"), (CreateResult, "CreateResult"),
                    (GetResult, "GetResult"), (ExistsResult, "ExistsResult"), (ChildrenResult, "ChildrenResult"),
                    (OpResult, "OpResult"), (LeaseResult, "LeaseResult"), (ChangeEvent, "ChangeEvent"),
                    (WatchEvent, "WatchEvent"), (SessionEvent, "SessionEvent"), (TaskReport, "Task"),
                    (ProgressResult, "ProgressResult"), (TaskEvent, "TaskEvent"), (GroupMember, "GroupMember"),
                    (GroupResult, "GroupResult"), (MemberEvent, "MemberEvent"), (QueueItem, "QueueItem"),
                    (CounterResult, "CounterResult"), (Status, "StatusResult"), (AgentMember, "Member"),
                    (SessionInfo, "SessionInfo"), (Hold, "Hold")):
    _bind(_cls, _wire)
_bind(Leader, "LeaderResult", value="data")
del _cls, _wire

# The lists of the results that only hold one.
parse_multi: Callable[[Mapping[str, Any]], List[OpResult]] = _list_parser("MultiResult")
parse_members: Callable[[Mapping[str, Any]], List[AgentMember]] = _list_parser("MembersResult")
parse_sessions: Callable[[Mapping[str, Any]], List[SessionInfo]] = _list_parser("SessionsResult")
