"""The thread-safe, blocking client.

It runs the asyncio client (``warden.aio``, the engine of both) on an event
loop of its own, on a thread of its own: one connection carries one
session, a reader task reads every frame, and a resumable session is
resumed by the same code whichever API the application uses. Each blocking
call runs its coroutine on that loop and waits for it; stream events are
read from thread-safe queues without a detour through the loop. Session
states go to the ``on_session_state`` callback from a thread of its own.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple, Type, TypeVar

from . import _arecipes as r
from ._conn import Conn, Pending, result_of
from ._loop import Blocking, LoopThread, blocking, closing, wrapping
from ._stream import DEFAULT_STREAM_BACKLOG, ThreadSink, fresh
from ._streams import ConfigSubscription, Stream, Subscription, Watch
from ._wire import PROTOCOL_VERSION
from .aio import AsyncClient
from .errors import ConnectionClosedError, OperationTimeoutError
from .types import HelloResult, Leader, MemberEvent, ResumeToken, SessionState, Stat, TaskEvent

StateCallback = Callable[[str], None]
T = TypeVar("T")
A = TypeVar("A")


class PendingRequest:
    """A request sent with Client.submit, whose reply has not been read yet."""

    def __init__(self, client: "Client", conn: Conn, rid: int, p: Pending) -> None:
        self.client = client
        self.id = rid
        self._conn = conn
        self._p = p

    def cancel(self) -> None:
        """Asks the agent to cancel the request (its reply still comes)."""
        self.client._run(self.client._a._cancel(self._conn, self.id))

    def result(self, timeout: Optional[float] = None) -> Dict[str, Any]:
        """The request's result map; its error raised. TimeoutError after timeout."""
        async def wait() -> Dict[str, Any]:
            try:
                return result_of(await asyncio.wait_for(asyncio.shield(self._p.fut), timeout))
            except asyncio.TimeoutError:
                raise TimeoutError(f"no reply within {timeout} s") from None

        return self.client._run(wait())


class Client(Blocking[AsyncClient]):
    """A connection to the local warden agent, and the session it opened.

    Safe to use from many threads. Use :func:`warden.connect` to make one.
    Its methods are the blocking twins of :class:`warden.aio.AsyncClient`'s.
    """

    def __init__(self, socket: Optional[str] = None, *, session_timeout: Optional[float] = None,
                 name: str = "", resumable: bool = False, heartbeat: bool = False,
                 resume: Optional[ResumeToken] = None, no_session: bool = False,
                 on_session_state: Optional[StateCallback] = None,
                 connect_timeout: Optional[float] = None, protocol: int = PROTOCOL_VERSION,
                 stream_backlog: int = DEFAULT_STREAM_BACKLOG) -> None:
        self._loop = LoopThread()
        self._states: "Optional[queue.SimpleQueue[Optional[str]]]" = None
        report: Optional[StateCallback] = None
        if on_session_state is not None:
            states: "queue.SimpleQueue[Optional[str]]" = queue.SimpleQueue()
            self._states = states
            threading.Thread(target=_run_callbacks, args=(states, on_session_state),
                             name="warden-session-state", daemon=True).start()

            def report(state: str) -> None:
                states.put(state)
                if state in (SessionState.LOST, SessionState.CLOSED):
                    states.put(None)

        async def start() -> AsyncClient:
            a = AsyncClient(socket, session_timeout=session_timeout, name=name, resumable=resumable,
                            heartbeat=heartbeat, resume=resume, no_session=no_session,
                            on_session_state=report, connect_timeout=connect_timeout, protocol=protocol,
                            stream_backlog=stream_backlog)
            a._sink = ThreadSink
            await a._start()
            return a

        try:
            self._a = self._loop.run(start())
        except BaseException:
            if self._states is not None:
                self._states.put(None)
            self._loop.stop()
            raise
        self.socket_path = self._a.socket_path
        self.stream_backlog = stream_backlog
        self.session_id = self._a.session_id
        self.agent = self._a.agent
        self.session_timeout = self._a.session_timeout
        assert self._a.hello is not None
        self.hello: HelloResult = self._a.hello

    def _run(self, aw: Awaitable[T]) -> T:
        """Runs aw on the client's loop and waits for it."""
        if self._loop.stopped:
            closing(aw)
            raise fresh(self._a._terminal or ConnectionClosedError("the client was closed"))
        return self._loop.run(aw)

    def _quiet(self, aw: Awaitable[None]) -> None:
        """Runs a with block's exit: nothing to do once the client is closed."""
        if self._loop.stopped:
            closing(aw)
            return
        self._loop.run(aw)

    # -- session -----------------------------------------------------------------

    @property
    def state(self) -> str:
        """The last session state: connected, suspended, disconnected, lost or
        closed. ``connected`` as soon as connect() returns."""
        return self._a.state

    @property
    def closed(self) -> bool:
        """True once the session is lost or the client closed."""
        return self._a.closed

    def resume_token(self) -> Optional[ResumeToken]:
        """What ``connect(resume=...)`` needs to take this session up again
        from another process or connection; None when it is not resumable."""
        return self._a.resume_token()

    def wait_connected(self, timeout: Optional[float] = None) -> None:
        """Waits until the session is connected (after a resume, say).
        Raises SessionLostError / ConnectionClosedError if it ends first,
        TimeoutError if timeout seconds pass."""
        self._run(self._a.wait_connected(timeout))

    def close(self) -> None:
        """Ends the connection, and with it the session: its ephemeral nodes go
        and its locks pass on (a resumable session is only detached until its
        timeout). Safe to call twice."""
        if not self._loop.stopped:
            self._loop.run(self._a.close())
            self._loop.stop()

    def close_wait(self, timeout: Optional[float] = 10.0) -> None:
        """Closes, waiting until the agent has written the session's accepted
        progress reports and closed the session."""
        if not self._loop.stopped:
            self._loop.run(self._a.close_wait(timeout))
            self._loop.stop()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests and znodes -------------------------------------------------------

    def submit(self, op: str, **fields: Any) -> PendingRequest:
        """Sends any request without waiting for its reply (low level)."""
        conn, rid, p = self._run(self._a._submit({"op": op, **fields}))
        return PendingRequest(self, conn, rid, p)

    request = blocking(AsyncClient.request)
    create = blocking(AsyncClient.create)
    get = blocking(AsyncClient.get)
    set = blocking(AsyncClient.set)
    delete = blocking(AsyncClient.delete)
    exists = blocking(AsyncClient.exists)
    children = blocking(AsyncClient.children)
    multi = blocking(AsyncClient.multi)
    sync = blocking(AsyncClient.sync)
    ping = blocking(AsyncClient.ping)
    status = blocking(AsyncClient.status)
    members = blocking(AsyncClient.members)
    sessions = blocking(AsyncClient.sessions)
    lock_check = blocking(AsyncClient.lock_check)
    unlock = blocking(AsyncClient.unlock)
    leader = blocking(AsyncClient.leader)
    progress = blocking(AsyncClient.progress)
    group_members = blocking(AsyncClient.group_members)

    def get_w(self, path: str) -> Tuple[bytes, Stat, Watch]:
        """get, with a one-shot watch fired when the data changes or the node goes."""
        data, stat, w = self._run(self._a.get_w(path))
        return data, stat, Watch(self, w)

    def exists_w(self, path: str) -> Tuple[Optional[Stat], Watch]:
        """exists, with a one-shot watch fired when the node is created, changed or deleted."""
        stat, w = self._run(self._a.exists_w(path))
        return stat, Watch(self, w)

    def children_w(self, path: str) -> Tuple[List[str], Watch]:
        """children, with a one-shot watch fired when a child comes or goes."""
        names, w = self._run(self._a.children_w(path))
        return names, Watch(self, w)

    subscribe = wrapping(AsyncClient.subscribe, Subscription)

    # -- locks -------------------------------------------------------------------

    def lock(self, path: str, timeout: Optional[float] = None) -> Lease:
        """Acquires the lock at path, waiting in line (first come, first served).
        timeout (seconds; None waits forever) is passed to the agent as the
        wait: OperationTimeoutError when it runs out. If interrupted while
        waiting, the request is canceled (and a lock granted meanwhile
        released)."""
        return Lease._of(self, self._run(self._a.lock(path, timeout)))

    def try_lock(self, path: str) -> Optional[Lease]:
        """The lock if it is free now, else None."""
        return Lease._maybe(self, self._run(self._a.try_lock(path)))

    def read_lock(self, path: str, timeout: Optional[float] = None) -> Lease:
        """The lock at path for reading: shared with readers, never with a writer."""
        return Lease._of(self, self._run(self._a.read_lock(path, timeout)))

    def write_lock(self, path: str, timeout: Optional[float] = None) -> Lease:
        """The lock at path for writing (the same line as lock)."""
        return Lease._of(self, self._run(self._a.write_lock(path, timeout)))

    def try_read_lock(self, path: str) -> Optional[Lease]:
        return Lease._maybe(self, self._run(self._a.try_read_lock(path)))

    def try_write_lock(self, path: str) -> Optional[Lease]:
        return Lease._maybe(self, self._run(self._a.try_write_lock(path)))

    def semaphore(self, path: str, n: int) -> Semaphore:
        """The semaphore at path with n leases."""
        return Semaphore(self, path, n)

    # -- elections, progress, groups, other recipes ------------------------------

    def election(self, name: str) -> Election:
        """The election called name (under /warden/elections), or at a path."""
        return Election(self, name)

    observe = wrapping(AsyncClient.observe, Stream[Leader])

    def task(self, job: str, task: str) -> Task:
        """The task of job to report progress for. Nothing is sent until a report."""
        return Task(self, job, task)

    watch_progress = wrapping(AsyncClient.watch_progress, Stream[TaskEvent])

    def join(self, group: str, member: str, data: bytes = b"") -> Membership:
        """Joins group as member (NodeExistsError if another session holds the id)."""
        m = self._run(self._a.join(group, member, data))
        return Membership(self, group, member, m.key, m.token)

    watch_group = wrapping(AsyncClient.watch_group, Stream[MemberEvent])

    def barrier(self, path: str) -> Barrier:
        return Barrier(self, path)

    def double_barrier(self, path: str, count: int, member: str) -> DoubleBarrier:
        return DoubleBarrier(self, path, count, member)

    def queue(self, path: str) -> Queue:
        return Queue(self, path)

    def counter(self, path: str) -> Counter:
        return Counter(self, path)

    def config(self, path: str) -> Config:
        return Config(self, path)


# -- recipe objects ------------------------------------------------------------
# Each is the blocking face of its asyncio twin (warden._arecipes).


class _Handle(Blocking[A]):
    client: Client

    def _run(self, aw: Awaitable[T]) -> T:
        return self.client._run(aw)

    def _quiet(self, aw: Awaitable[None]) -> None:
        self.client._quiet(aw)


HA = TypeVar("HA", bound=r._Held)
HS = TypeVar("HS", bound="_Held[Any]")


class _Held(_Handle[HA]):
    """A held lease. A context manager: leaving the ``with`` block releases
    it (quietly: a session that has ended holds nothing any more, and one
    being resumed has it released by the resume)."""

    _twin: Type[HA]

    def __init__(self, client: Client, path: str, key: str, token: int) -> None:
        self.client = client
        self.path = path
        self.key = key
        self.token = token
        """The fencing token: it strictly increases from one holder to the next."""
        self._a = self._twin(client._a, path, key, token)

    @classmethod
    def _of(cls: Type[HS], client: Client, a: r._Held) -> HS:
        """The blocking face of the asyncio lease a."""
        return cls(client, a.path, a.key, a.token)

    @classmethod
    def _maybe(cls: Type[HS], client: Client, a: Optional[r._Held]) -> Optional[HS]:
        return None if a is None else cls._of(client, a)

    def __enter__(self: HS) -> HS:
        return self

    def __exit__(self, *exc: object) -> None:
        self._quiet(self._a._exit())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(path={self.path!r}, key={self.key!r}, token={self.token})"


class Lease(_Held[r.AsyncLease]):
    """A held lock (plain, read or write). A context manager: leaving the
    ``with`` block unlocks it."""

    _twin = r.AsyncLease
    unlock = blocking(r.AsyncLease.unlock)
    release = unlock
    check = blocking(r.AsyncLease.check)


class Leadership(_Held[r.AsyncLeadership]):
    """A won election, held until resign() or the end of the session. A
    context manager: leaving the ``with`` block resigns."""

    _twin = r.AsyncLeadership
    resign = blocking(r.AsyncLeadership.resign)
    proclaim = blocking(r.AsyncLeadership.proclaim)


class Election(_Handle[r.AsyncElection]):
    """An election: a name (under /warden/elections) or a path."""

    def __init__(self, client: Client, name: str) -> None:
        self.client = client
        self._a = r.AsyncElection(client._a, name)
        self.path = self._a.path
        self.leadership: Optional[Leadership] = None

    def campaign(self, value: bytes = b"", timeout: Optional[float] = None) -> Leadership:
        """Enters as a candidate with value and returns once elected. With a
        timeout (seconds), OperationTimeoutError if not elected in time."""
        self.leadership = Leadership._of(self.client, self._run(self._a.campaign(value, timeout)))
        return self.leadership

    def try_campaign(self, value: bytes = b"") -> Optional[Leadership]:
        """Leads now if nobody leads, else returns None."""
        try:
            return self.campaign(value, timeout=0)
        except OperationTimeoutError:
            return None

    def resign(self) -> None:
        """Resigns the leadership won by this object's last campaign, if any."""
        ld, self.leadership = self.leadership, None
        self._a.leadership = None
        if ld is not None:
            ld.resign()

    def proclaim(self, value: bytes) -> None:
        """Replaces the value of the leadership this object holds."""
        if self.leadership is None:
            raise RuntimeError("this election object does not lead; campaign first")
        self.leadership.proclaim(value)

    leader = blocking(r.AsyncElection.leader)
    observe = wrapping(r.AsyncElection.observe, Stream[Leader])


class Task(_Handle[r.AsyncTask]):
    """A task of a job, to report progress for. Created by its first report,
    owned by the reporting session; removed when that session ends or done()."""

    def __init__(self, client: Client, job: str, name: str) -> None:
        self.client = client
        self.job = job
        self.name = name
        self._a = r.AsyncTask(client._a, job, name)

    @property
    def path(self) -> str:
        return self._a.path

    report = blocking(r.AsyncTask.report)
    done = blocking(r.AsyncTask.done)


class Membership(_Handle[r.AsyncMembership]):
    """This session's membership of a group. A context manager: leaving the
    ``with`` block leaves the group."""

    def __init__(self, client: Client, group: str, member: str, key: str, token: int) -> None:
        self.client = client
        self.group = group
        self.member = member
        self.key = key
        self.token = token
        self._a = r.AsyncMembership(client._a, group, member, key, token)

    update = blocking(r.AsyncMembership.update)
    leave = blocking(r.AsyncMembership.leave)

    def __enter__(self) -> "Membership":
        return self

    def __exit__(self, *exc: object) -> None:
        self._quiet(self._a._exit())


class SemaphoreLease(_Held[r.AsyncSemaphoreLease]):
    """One held lease of a semaphore. A context manager: releases on exit."""

    _twin = r.AsyncSemaphoreLease
    release = blocking(r.AsyncSemaphoreLease.release)


class Semaphore(_Handle[r.AsyncSemaphore]):
    """At most n sessions hold one of its leases at a time."""

    def __init__(self, client: Client, path: str, n: int) -> None:
        self.client = client
        self.path = path
        self.n = n
        self._a = r.AsyncSemaphore(client._a, path, n)

    def acquire(self, timeout: Optional[float] = None) -> SemaphoreLease:
        return SemaphoreLease._of(self.client, self._run(self._a.acquire(timeout)))

    def try_acquire(self) -> Optional[SemaphoreLease]:
        try:
            return self.acquire(timeout=0)
        except OperationTimeoutError:
            return None


OP = TypeVar("OP", bound=r._OnPath)


class _OnPath(_Handle[OP]):
    """A recipe of the node at path."""

    _twin: Type[OP]

    def __init__(self, client: Client, path: str) -> None:
        self.client = client
        self.path = path
        self._a = self._twin(client._a, path)


class Barrier(_OnPath[r.AsyncBarrier]):
    """Holds back whoever waits on it until it is removed."""

    _twin = r.AsyncBarrier

    set = blocking(r.AsyncBarrier.set)
    remove = blocking(r.AsyncBarrier.remove)
    wait = blocking(r.AsyncBarrier.wait)


class DoubleBarrier(_Handle[r.AsyncDoubleBarrier]):
    """count members start together (enter) and finish together (leave). A
    context manager: enters, then leaves on exit."""

    def __init__(self, client: Client, path: str, count: int, member: str) -> None:
        self.client = client
        self.path = path
        self.count = count
        self.member = member
        self._a = r.AsyncDoubleBarrier(client._a, path, count, member)

    enter = blocking(r.AsyncDoubleBarrier.enter)
    leave = blocking(r.AsyncDoubleBarrier.leave)

    def __enter__(self) -> "DoubleBarrier":
        self.enter()
        return self

    def __exit__(self, *exc: object) -> None:
        self._quiet(self._a.__aexit__())


class Queue(_OnPath[r.AsyncQueue]):
    """A first-in first-out queue; each item goes to exactly one taker, at most once."""

    _twin = r.AsyncQueue

    put = blocking(r.AsyncQueue.put)
    take = blocking(r.AsyncQueue.take)
    try_take = blocking(r.AsyncQueue.try_take)


class Counter(_OnPath[r.AsyncCounter]):
    """A shared signed 64-bit integer, updated atomically; a missing counter is 0."""

    _twin = r.AsyncCounter

    add = blocking(r.AsyncCounter.add)
    get = blocking(r.AsyncCounter.get)
    compare_and_set = blocking(r.AsyncCounter.compare_and_set)
    cas = compare_and_set


class Config(_OnPath[r.AsyncConfig]):
    """A configuration value in one znode (or a tree under it): get, set by
    version, and follow every change in order."""

    _twin = r.AsyncConfig

    get = blocking(r.AsyncConfig.get)
    set = blocking(r.AsyncConfig.set)

    subscribe = wrapping(r.AsyncConfig.subscribe, ConfigSubscription)

def _run_callbacks(states: "queue.SimpleQueue[Optional[str]]", cb: StateCallback) -> None:
    while True:
        st = states.get()
        if st is None:
            return
        try:
            cb(st)
        except Exception:  # noqa: BLE001 - an app callback must not kill the thread
            pass


def connect(socket: Optional[str] = None, *, session_timeout: Optional[float] = None, name: str = "",
            resumable: bool = False, heartbeat: bool = False, resume: Optional[ResumeToken] = None,
            no_session: bool = False, on_session_state: Optional[StateCallback] = None,
            connect_timeout: Optional[float] = None, protocol: int = PROTOCOL_VERSION,
            stream_backlog: int = DEFAULT_STREAM_BACKLOG) -> Client:
    """Connects to the local warden agent and opens a session.

    socket: the agent's socket; default $WARDEN_SOCKET, then
        default_socket_path(). The socket must belong to root or to the
        expected user ($WARDEN_SOCKET_OWNER, else this process's), or
        SocketOwnerError is raised before connecting.
    session_timeout: seconds (the agent's default, 10 s, when None).
    name: names this client in the agent's session list.
    resumable: the session outlives a dropped connection for its timeout;
        the client resumes it by itself (see resume_token()).
    heartbeat: ping every third of the timeout; the agent ends the session of
        a client that falls silent.
    resume: take up an earlier resumable session instead of opening one
        (the client then pings as for heartbeat, whatever the token says).
    no_session: a connection without a session, for read-only tools.
    on_session_state: called with each session state (connected, suspended,
        disconnected, lost, closed), from a thread of its own.
    stream_backlog: the most events a stream holds unread; a stream that
        falls further behind ends with StreamOverflowError.
    connect_timeout: seconds for connecting and the hello (30 when None);
        when given, it is sent to the agent (timeout_ms), which then
        answers UnavailableError in time if the cluster has no leader.
    protocol: the protocol version to ask for (tests only).
    """
    return Client(socket, session_timeout=session_timeout, name=name, resumable=resumable,
                  heartbeat=heartbeat, resume=resume, no_session=no_session,
                  on_session_state=on_session_state, connect_timeout=connect_timeout, protocol=protocol,
                  stream_backlog=stream_backlog)
