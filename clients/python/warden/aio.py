"""The asyncio client.

    client = await warden.aio.connect()
    async with client.lock("/jobs/nightly") as lease:
        ...
    async for event in client.subscribe("/config/app", recursive=True):
        ...

It is the engine of both clients (the blocking client runs it on a loop
thread of its own): one reader task per connection dispatches replies to
futures and events to per-stream queues; session states go to
``on_session_state`` (a function or a coroutine function) through the event
loop, never from inside the reader. A resumable session is resumed after
its connection drops, with grant waits sent again and streams carried on
(see ``warden._engine``).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple, Mapping

from . import _arecipes as r
from . import _ops
from ._ops import wait_ms
from ._arecipes import (AsyncBarrier, AsyncConfig, AsyncCounter, AsyncDoubleBarrier, AsyncElection, AsyncLease,
                        AsyncLeadership, AsyncMembership, AsyncQueue, AsyncSemaphore, AsyncSemaphoreLease,
                        AsyncTask, _Acquire)
from ._astreams import AsyncConfigSubscription, AsyncStream, AsyncSubscription, AsyncWatch
from ._engine import Engine, StateCallback
from ._stream import DEFAULT_STREAM_BACKLOG
from ._wire import PROTOCOL_VERSION
from .types import (ANY_VERSION, AgentMember, ChildrenResult, CreateResult, ExistsResult, GetResult, GroupMember,
                    GroupResult, Leader, MemberEvent, OpResult, ProgressResult, ResumeToken, SessionInfo, Stat,
                    Status, TaskEvent, TaskReport, parse_members, parse_multi, parse_sessions)


class AsyncClient(Engine):
    """An asyncio connection to the local warden agent and its session.
    Make one with ``await warden.aio.connect()``."""

    async def request(self, /, op: str, timeout: Optional[float] = None, **fields: Any) -> Dict[str, Any]:
        """Sends any request and returns its raw result map: a low-level escape
        hatch for ops this client has no method for. timeout as for create."""
        return await self._call({"op": op, **fields}, timeout)

    async def _watch(self, req: Mapping[str, Any]) -> Tuple[Dict[str, Any], AsyncWatch]:
        w = await AsyncWatch(self, req).open()
        return w.result, w

    # -- znodes ------------------------------------------------------------------

    async def create(self, path: str, data: bytes = b"", *, ephemeral: bool = False, sequential: bool = False,
                     container: bool = False, ttl: Optional[float] = None, timeout: Optional[float] = None) -> str:
        """Creates a node; returns the path created (with the sequence suffix).

        ttl (**seconds**, a float; sent as whole milliseconds, rounded up)
        makes a TTL node: the cluster deletes it once ttl has passed since
        its last change (its creation or last set, which restarts the
        countdown) and it has no children. Only for a persistent node
        (sequential or not), not ephemeral or container; it must be
        positive (BadArgumentsError). Its Stat's ``ttl`` is in ms.

        timeout (seconds; here and in every other call that takes one, None
        waits for the agent's own bounds) is sent to the agent as
        ``timeout_ms``: it answers just before it passes, with
        UnavailableError ("cluster unavailable: no leader for 5s") when the
        cluster has no leader, or OperationTimeoutError. The client gives up
        with TimeoutError only if no answer comes by then."""
        return CreateResult.parse(await self._op("create", timeout, path=path, data=data, ephemeral=ephemeral,
                                                 sequential=sequential, container=container,
                                                 **_ops.ttl_fields(ttl))).path

    async def get(self, path: str, *, timeout: Optional[float] = None) -> Tuple[bytes, Stat]:
        """A node's data and Stat. NoNodeError if it does not exist."""
        res = GetResult.parse(await self._op("get", timeout, path=path))
        return res.data, res.stat

    async def set(self, path: str, data: bytes, version: int = ANY_VERSION, *,
                  timeout: Optional[float] = None) -> Stat:
        """Replaces a node's data if its version is version (or ANY_VERSION)."""
        return Stat.parse((await self._op("set", timeout, path=path, data=data, version=version)).get("stat") or {})

    async def delete(self, path: str, version: int = ANY_VERSION, *, timeout: Optional[float] = None) -> None:
        """Deletes a childless node if its version is version (or ANY_VERSION)."""
        await self._op("delete", timeout, path=path, version=version)

    async def exists(self, path: str, *, timeout: Optional[float] = None) -> Optional[Stat]:
        """The node's Stat, or None when it does not exist."""
        res = ExistsResult.parse(await self._op("exists", timeout, path=path))
        return res.stat if res.exists else None

    async def children(self, path: str, *, timeout: Optional[float] = None) -> List[str]:
        """A node's children's names, in byte order."""
        return ChildrenResult.parse(await self._op("children", timeout, path=path)).children

    async def get_w(self, path: str) -> Tuple[bytes, Stat, AsyncWatch]:
        """get, with a one-shot watch fired when the data changes or the node goes."""
        res, w = await self._watch(_ops.req("get", path=path, watch=True))
        g = GetResult.parse(res)
        return g.data, g.stat, w

    async def exists_w(self, path: str) -> Tuple[Optional[Stat], AsyncWatch]:
        """exists, with a one-shot watch fired when the node is created, changed or deleted."""
        res, w = await self._watch(_ops.req("exists", path=path, watch=True))
        e = ExistsResult.parse(res)
        return (e.stat if e.exists else None), w

    async def children_w(self, path: str) -> Tuple[List[str], AsyncWatch]:
        """children, with a one-shot watch fired when a child comes or goes."""
        res, w = await self._watch(_ops.req("children", path=path, watch=True))
        return ChildrenResult.parse(res).children, w

    async def multi(self, ops: Sequence[Mapping[str, Any]], *, timeout: Optional[float] = None) -> List[OpResult]:
        """Applies ops (built with warden.Op) all or nothing. On failure the
        error's index names the op."""
        return parse_multi(await self._op("multi", timeout, ops=[dict(o) for o in ops]))

    async def sync(self, *, timeout: Optional[float] = None) -> int:
        """Waits until this agent has applied every write committed before the
        call; returns the zxid reached."""
        z = (await self._op("sync", timeout)).get("zxid")
        return z if isinstance(z, int) else 0

    async def ping(self, timeout: Optional[float] = None) -> None:
        await self._call(_ops.req("ping"), timeout)

    async def status(self, *, timeout: Optional[float] = None) -> Status:
        return Status.parse(await self._op("status", timeout))

    async def members(self, *, timeout: Optional[float] = None) -> List[AgentMember]:
        """The cluster's agents."""
        return parse_members(await self._op("members", timeout))

    async def sessions(self, *, timeout: Optional[float] = None) -> List[SessionInfo]:
        """The cluster's open sessions, by id, as this agent's copy of the
        tree has them (this client's own included), each with what it holds
        (``holds``: its locks, leaderships, memberships and other ephemeral
        nodes, held or waiting). Needs read access to "/"; works on a
        connection without a session."""
        return parse_sessions(await self._op("sessions", timeout))

    def subscribe(self, path: str, *, recursive: bool = False, children: bool = False,
                  scope: Optional[str] = None, from_zxid: int = 0) -> AsyncSubscription:
        """Every change under path, in order: the node itself, or with
        recursive=True the node and everything below, or with children=True
        its direct children. from_zxid resumes after that zxid."""
        sc = scope if scope is not None else ("subtree" if recursive else "children" if children else "")
        req = _ops.req("subscribe", path=path, scope=str(sc), from_zxid=from_zxid)
        return AsyncSubscription(self, req, from_zxid)

    async def lock_check(self, path: str, token: int) -> bool:
        """Whether token is the fencing token of the lock's current holder."""
        return await r.lock_check(self, path, token)

    # -- locks -------------------------------------------------------------------

    def _lease(self, op: str, path: str, timeout: Optional[float]) -> _Acquire[AsyncLease]:
        """A lock, read or write lock (op) at path."""
        return _Acquire(lambda: AsyncLease._grant(self, _ops.req(op, path=path, wait_ms=wait_ms(timeout)), path))

    def lock(self, path: str, timeout: Optional[float] = None) -> _Acquire[AsyncLease]:
        """``lease = await client.lock(path)`` or ``async with client.lock(path) as lease``:
        the lock at path, waiting in line (timeout in seconds, passed to the
        agent as the wait; None waits forever). Cancelling the awaiting task
        cancels the wait at the agent."""
        return self._lease("lock", path, timeout)

    async def try_lock(self, path: str) -> Optional[AsyncLease]:
        """The lock if it is free now, else None."""
        return await r.try_(self._lease("lock", path, 0))

    async def unlock(self, key: str) -> None:
        """Releases a lease by its key."""
        await self._release(_ops.req("unlock", key=key), key)

    def read_lock(self, path: str, timeout: Optional[float] = None) -> _Acquire[AsyncLease]:
        """The lock at path for reading: shared with readers, never with a writer."""
        return self._lease("read_lock", path, timeout)

    def write_lock(self, path: str, timeout: Optional[float] = None) -> _Acquire[AsyncLease]:
        """The lock at path for writing (the same line as lock)."""
        return self._lease("write_lock", path, timeout)

    async def try_read_lock(self, path: str) -> Optional[AsyncLease]:
        return await r.try_(self._lease("read_lock", path, 0))

    async def try_write_lock(self, path: str) -> Optional[AsyncLease]:
        return await r.try_(self._lease("write_lock", path, 0))

    def semaphore(self, path: str, n: int) -> AsyncSemaphore:
        """The semaphore at path with n leases."""
        return AsyncSemaphore(self, path, n)

    # -- elections, progress, groups ---------------------------------------------

    def election(self, name: str) -> AsyncElection:
        """The election called name (under /warden/elections), or at a path."""
        return AsyncElection(self, name)

    async def leader(self, path: str) -> Optional[Leader]:
        """Who leads the election; None when nobody does."""
        return await r.leader(self, _ops.election_path(path))

    def observe(self, path: str) -> AsyncStream[Leader]:
        """The election's current leader, then each change (``leader.none``
        when nobody leads)."""
        return r.observe(self, _ops.election_path(path))

    def task(self, job: str, task: str) -> AsyncTask:
        """The task of job to report progress for. Nothing is sent until a report."""
        return AsyncTask(self, job, task)

    async def progress(self, job: str, *, timeout: Optional[float] = None) -> List[TaskReport]:
        """Every live task of job with its latest report (this client's
        accepted reports included: the agent writes them first)."""
        return ProgressResult.parse(await self._op("progress_get", timeout, job=job)).tasks

    def watch_progress(self, job: str) -> AsyncStream[TaskEvent]:
        """The job's current tasks, then every report and every task's end."""
        return AsyncStream(self, _ops.req("progress_watch", job=job), "task", TaskEvent.parse)

    def join(self, group: str, member: str, data: bytes = b"") -> _Acquire[AsyncMembership]:
        """Joins group as member (NodeExistsError if another session holds the id)."""
        return _Acquire(lambda: r.join(self, group, member, data))

    async def group_members(self, group: str, *, timeout: Optional[float] = None) -> List[GroupMember]:
        return GroupResult.parse(await self._op("members_of", timeout, group=group)).members

    def watch_group(self, group: str) -> AsyncStream[MemberEvent]:
        """The group's current members, then every join, change and leave."""
        return AsyncStream(self, _ops.req("group_watch", group=group), "member", MemberEvent.parse)

    def barrier(self, path: str) -> AsyncBarrier:
        return AsyncBarrier(self, path)

    def double_barrier(self, path: str, count: int, member: str) -> AsyncDoubleBarrier:
        return AsyncDoubleBarrier(self, path, count, member)

    def queue(self, path: str) -> AsyncQueue:
        return AsyncQueue(self, path)

    def counter(self, path: str) -> AsyncCounter:
        return AsyncCounter(self, path)

    def config(self, path: str) -> AsyncConfig:
        return AsyncConfig(self, path)

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def connect(socket: Optional[str] = None, *, session_timeout: Optional[float] = None, name: str = "",
                  resumable: bool = False, heartbeat: bool = False, resume: Optional[ResumeToken] = None,
                  no_session: bool = False, on_session_state: Optional[StateCallback] = None,
                  connect_timeout: Optional[float] = None, protocol: int = PROTOCOL_VERSION,
                  stream_backlog: int = DEFAULT_STREAM_BACKLOG) -> AsyncClient:
    """Connects to the local warden agent and opens a session (options as
    for warden.connect; on_session_state may be a coroutine function)."""
    client = AsyncClient(socket, session_timeout=session_timeout, name=name, resumable=resumable,
                         heartbeat=heartbeat, resume=resume, no_session=no_session,
                         on_session_state=on_session_state, connect_timeout=connect_timeout, protocol=protocol,
                         stream_backlog=stream_backlog)
    await client._start()
    return client


__all__ = ["connect", "AsyncClient", "AsyncStream", "AsyncSubscription", "AsyncWatch", "AsyncLease",
           "AsyncLeadership", "AsyncElection", "AsyncTask", "AsyncMembership", "AsyncSemaphore",
           "AsyncSemaphoreLease", "AsyncBarrier", "AsyncDoubleBarrier", "AsyncQueue", "AsyncCounter",
           "AsyncConfig", "AsyncConfigSubscription"]
