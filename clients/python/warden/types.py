"""Values the agent returns, as plain immutable dataclasses, and their parsers."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

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


def _int(d: Mapping[str, Any], k: str) -> int:
    v = d.get(k)
    return v if type(v) is int else 0


def _float(d: Mapping[str, Any], k: str) -> float:
    v = d.get(k)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 0.0


def _str(d: Mapping[str, Any], k: str) -> str:
    v = d.get(k)
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return v if isinstance(v, str) else ""


def _bytes(d: Mapping[str, Any], k: str) -> bytes:
    v = d.get(k)
    if isinstance(v, bytes):
        return v
    if isinstance(v, str):
        return v.encode("utf-8")
    return b""


def _bool(d: Mapping[str, Any], k: str) -> bool:
    return d.get(k) is True


def _map(d: Mapping[str, Any], k: str) -> Mapping[str, Any]:
    v = d.get(k)
    return v if isinstance(v, dict) else {}


def _list(d: Mapping[str, Any], k: str) -> List[Any]:
    v = d.get(k)
    return v if isinstance(v, list) else []


@dataclass(frozen=True)
class Stat:
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

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> "Stat":
        g = d.get
        vals = [g(f) for f in _STAT_FIELDS]
        return cls(*[v if type(v) is int else 0 for v in vals])


_STAT_FIELDS = ("czxid", "mzxid", "pzxid", "ctime", "mtime", "version", "cversion", "aversion",
                "ephemeral_owner", "data_length", "num_children")


@dataclass(frozen=True)
class HelloResult:
    protocol: int
    session_id: int
    session_timeout_ms: int
    agent: str
    secret: bytes = b""
    resumed: bool = False

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> "HelloResult":
        return cls(protocol=_int(d, "protocol"), session_id=_int(d, "session_id"),
                   session_timeout_ms=_int(d, "session_timeout_ms"), agent=_str(d, "agent"),
                   secret=_bytes(d, "secret"), resumed=_bool(d, "resumed"))


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
class CreateResult:
    path: str
    stat: Stat

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> "CreateResult":
        return cls(_str(d, "path"), Stat.parse(_map(d, "stat")))


@dataclass(frozen=True)
class GetResult:
    data: bytes
    stat: Stat
    watch: int = 0

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> "GetResult":
        return cls(_bytes(d, "data"), Stat.parse(_map(d, "stat")), _int(d, "watch"))


@dataclass(frozen=True)
class ExistsResult:
    exists: bool
    stat: Stat
    watch: int = 0

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> "ExistsResult":
        return cls(_bool(d, "exists"), Stat.parse(_map(d, "stat")), _int(d, "watch"))


@dataclass(frozen=True)
class ChildrenResult:
    children: List[str]
    stat: Stat
    watch: int = 0

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> "ChildrenResult":
        names = [c if isinstance(c, str) else bytes(c).decode("utf-8", "replace")
                 for c in _list(d, "children")]
        return cls(names, Stat.parse(_map(d, "stat")), _int(d, "watch"))


@dataclass(frozen=True)
class OpResult:
    """One op's outcome in a multi. ``path`` is set for create."""

    path: str
    stat: Stat

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> "OpResult":
        return cls(_str(d, "path"), Stat.parse(_map(d, "stat")))


def parse_multi(d: Mapping[str, Any]) -> List[OpResult]:
    return [OpResult.parse(r) for r in _list(d, "results") if isinstance(r, dict)]


@dataclass(frozen=True)
class LeaseResult:
    """A grant: lock, candidacy, membership, semaphore lease, queued item."""

    key: str
    token: int

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> "LeaseResult":
        return cls(_str(d, "key"), _int(d, "token"))


@dataclass(frozen=True)
class Leader:
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

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> "Leader":
        return cls(_str(d, "key"), _bytes(d, "data"), _int(d, "token"))


def parse_leader(d: Mapping[str, Any]) -> Optional[Leader]:
    """The leader, or None when nobody leads."""
    ld = Leader.parse(d)
    return None if ld.none else ld


@dataclass(frozen=True)
class ChangeEvent:
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

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> "ChangeEvent":
        return cls(_str(d, "type"), _str(d, "path"), _int(d, "zxid"), _bytes(d, "data"),
                   Stat.parse(_map(d, "stat")))


@dataclass(frozen=True)
class WatchEvent:
    """What fired a one-shot watch: created, deleted, data_changed or children_changed."""

    type: str
    path: str
    zxid: int

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> "WatchEvent":
        return cls(_str(d, "type"), _str(d, "path"), _int(d, "zxid"))


@dataclass(frozen=True)
class SessionEvent:
    state: str
    session_id: int

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> "SessionEvent":
        return cls(_str(d, "state"), _int(d, "session_id"))


@dataclass(frozen=True)
class TaskReport:
    """A task's latest report. ``updated`` is ms since the epoch."""

    task: str
    state: str
    percent: float
    message: str
    data: bytes
    updated: int

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> "TaskReport":
        return cls(_str(d, "task"), _str(d, "state"), _float(d, "percent"), _str(d, "message"),
                   _bytes(d, "data"), _int(d, "updated"))


@dataclass(frozen=True)
class ProgressResult:
    job: str
    tasks: List[TaskReport]

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> "ProgressResult":
        return cls(_str(d, "job"), [TaskReport.parse(t) for t in _list(d, "tasks") if isinstance(t, dict)])


@dataclass(frozen=True)
class TaskEvent:
    """A watched task's new report, or its end (``removed``)."""

    task: TaskReport
    removed: bool = False

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> "TaskEvent":
        return cls(TaskReport.parse(_map(d, "task")), _bool(d, "removed"))


@dataclass(frozen=True)
class GroupMember:
    member: str
    data: bytes = b""

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> "GroupMember":
        return cls(_str(d, "member"), _bytes(d, "data"))


@dataclass(frozen=True)
class GroupResult:
    group: str
    members: List[GroupMember]

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> "GroupResult":
        return cls(_str(d, "group"), [GroupMember.parse(m) for m in _list(d, "members") if isinstance(m, dict)])


@dataclass(frozen=True)
class MemberEvent:
    """A watched group's change: a member joined or changed, or ``left``."""

    member: GroupMember
    left: bool = False

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> "MemberEvent":
        return cls(GroupMember.parse(_map(d, "member")), _bool(d, "left"))


@dataclass(frozen=True)
class QueueItem:
    key: str
    data: bytes

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> "QueueItem":
        return cls(_str(d, "key"), _bytes(d, "data"))


@dataclass(frozen=True)
class CounterResult:
    value: int
    version: int
    swapped: bool = False

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> "CounterResult":
        return cls(_int(d, "value"), _int(d, "version"), _bool(d, "swapped"))


@dataclass(frozen=True)
class Status:
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

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> "Status":
        return cls(_str(d, "node"), _str(d, "role"), _str(d, "state"), _str(d, "leader"),
                   _int(d, "term"), _int(d, "commit_index"), _int(d, "applied_index"),
                   _int(d, "sessions"), _int(d, "znodes"))


@dataclass(frozen=True)
class AgentMember:
    """One agent of the cluster, as ``members`` lists them."""

    name: str
    addr: str
    rpc_addr: str
    role: str
    status: str
    suffrage: str
    version: str

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> "AgentMember":
        return cls(*(_str(d, f) for f in ("name", "addr", "rpc_addr", "role", "status", "suffrage", "version")))


def parse_members(d: Mapping[str, Any]) -> List[AgentMember]:
    return [AgentMember.parse(m) for m in _list(d, "members") if isinstance(m, dict)]


@dataclass(frozen=True)
class SessionInfo:
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

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> "SessionInfo":
        return cls(_int(d, "id"), _str(d, "agent"), _int(d, "pid"), _int(d, "uid"), _int(d, "gid"),
                   _str(d, "client"), _int(d, "timeout_ms"), _bool(d, "resumable"), _bool(d, "heartbeat"),
                   _int(d, "created"))


def parse_sessions(d: Mapping[str, Any]) -> List[SessionInfo]:
    return [SessionInfo.parse(s) for s in _list(d, "sessions") if isinstance(s, dict)]


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


class Op:
    """Builders for the ops of a ``multi``."""

    @staticmethod
    def create(path: str, data: bytes = b"", *, ephemeral: bool = False, sequential: bool = False,
               container: bool = False) -> Dict[str, Any]:
        return {"op": "create", "path": path, "data": data, "ephemeral": ephemeral,
                "sequential": sequential, "container": container}

    @staticmethod
    def delete(path: str, version: int = ANY_VERSION) -> Dict[str, Any]:
        return {"op": "delete", "path": path, "version": version}

    @staticmethod
    def set(path: str, data: bytes, version: int = ANY_VERSION) -> Dict[str, Any]:
        return {"op": "set", "path": path, "data": data, "version": version}

    @staticmethod
    def check(path: str, version: int = ANY_VERSION) -> Dict[str, Any]:
        return {"op": "check", "path": path, "version": version}

