"""The asyncio client.

    client = await warden.aio.connect()
    async with client.lock("/jobs/nightly") as lease:
        ...
    async for event in client.subscribe("/config/app", recursive=True):
        ...

It speaks the same protocol through the same encoder, decoder, errors and
types as the blocking client, on asyncio streams. One reader task per
connection dispatches replies to futures and events to per-stream queues;
session states go to ``on_session_state`` (a function or a coroutine
function) through the event loop, never from inside the reader.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import weakref
from typing import (Any, AsyncIterator, Awaitable, Callable, Dict, Generator, Generic, List, Mapping, Optional, Set,
                    Sequence, Tuple, TypeVar, Union)

from . import _ops
from ._config import ConfigTracker
from ._reclaim import Grant, candidate_dirs, grant_of, join as _join
from ._streams import DEFAULT_STREAM_BACKLOG, _End, fresh, overflow_error
from ._wire import PROTOCOL_VERSION, FrameReader, Message, ProtocolError, decode_message, encode_frame
from ._socket import check_socket_owner, socket_path
from .client import result_of
from .errors import (BadArgumentsError, ConnectionClosedError, DisconnectedError, NodeExistsError, NoNodeError,
                     NotHeldError, OperationTimeoutError, SessionExpiredError, SessionLostError, StreamClosedError,
                     WardenError, error_from_wire)
from .types import (ANY_VERSION, CONFIG_ABSENT, PROGRESS_ROOT, AgentMember, ChangeEvent, ChildrenResult,
                    ConfigUpdate, CounterResult, CreateResult, ExistsResult, GetResult, GroupMember, GroupResult,
                    HelloResult, Leader, LeaseResult, MemberEvent, OpResult, ProgressResult, QueueItem,
                    ResumeToken, SessionEvent, SessionInfo, SessionState, Stat, Status, TaskEvent, TaskReport,
                    WatchEvent, parse_members, parse_multi, parse_sessions)

T = TypeVar("T")
R = TypeVar("R")
StateCallback = Callable[[str], Union[None, Awaitable[None]]]

_CANCEL_REPLY_TIMEOUT = 35.0


def _left(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.001)


class _AStreamBuf:
    def __init__(self, client: "AsyncClient", backlog: int = DEFAULT_STREAM_BACKLOG) -> None:
        self.client = client
        self.conn: Optional[_AConn] = None
        self.sub = 0
        self.backlog = backlog
        self.q: "asyncio.Queue[Union[Message, _End]]" = asyncio.Queue()
        self.ended: Optional[WardenError] = None
        self.closed = False
        self.abandoned = False
        self.loop = asyncio.get_running_loop()

    def push(self, m: Message) -> bool:
        """Queues an event. True when this event overflowed the backlog: the
        stream must then be ended at the agent (events after that are dropped)."""
        if self.abandoned:
            return False
        if self.q.qsize() >= self.backlog:
            self.abandoned = True
            while not self.q.empty():
                self.q.get_nowait()
            self.q.put_nowait(_End(overflow_error(self.backlog)))
            return True
        self.q.put_nowait(m)
        return False

    def end(self, err: WardenError) -> None:
        self.q.put_nowait(_End(err))

    async def get(self, timeout: Optional[float]) -> Message:
        if self.ended is not None:
            raise fresh(self.ended)
        try:
            item = await asyncio.wait_for(self.q.get(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"no event within {timeout} s") from None
        if isinstance(item, _End):
            self.ended = item.err
            raise fresh(item.err)
        return item

    def forget(self) -> None:
        self.closed = True
        if self.conn is not None:
            self.conn.streams.pop(self.sub, None)

    def abandon(self) -> None:
        """The application dropped the stream unclosed (a finalizer, on any
        thread): the loop ends it at the agent."""
        if self.closed or self.abandoned:
            return
        self.abandoned = True
        try:
            self.loop.call_soon_threadsafe(self.client._abandon, self)
        except RuntimeError:
            pass  # the loop is closed: so is the connection

    async def close(self, timeout: Optional[float] = None) -> None:
        if self.closed:
            return
        self.closed = True
        conn = self.conn
        if conn is None:
            return
        live = conn.streams.pop(self.sub, None) is not None
        self.end(StreamClosedError("stream closed"))
        if not live:
            return
        try:
            await self.client._call_on(conn, _ops.unsubscribe(self.sub), timeout)
        except (BadArgumentsError, ConnectionClosedError, TimeoutError):
            pass


class _APending:
    __slots__ = ("fut", "stream", "grant", "sent")

    def __init__(self, fut: "asyncio.Future[Message]", stream: Optional[_AStreamBuf],
                 grant: Optional[Grant] = None) -> None:
        self.fut = fut
        self.stream = stream
        self.grant = grant
        self.sent = False  # the whole frame was handed to the transport


class _AConn:
    def __init__(self, client: "AsyncClient", reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.client = client
        self.reader = reader
        self.writer = writer
        self.wlock = asyncio.Lock()
        self.pending: Dict[int, _APending] = {}
        self.streams: Dict[int, _AStreamBuf] = {}
        self.err: Optional[WardenError] = None
        self.fatal: Optional[WardenError] = None
        self.session_state = ""
        self.send_bound = max(client._connect_timeout, 1.0)
        self.task: Optional["asyncio.Task[None]"] = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._read_loop())

    def register(self, rid: int, stream: Optional[_AStreamBuf], grant: Optional[Grant] = None) -> _APending:
        if self.err is not None:
            raise fresh(self.err)
        p = _APending(asyncio.get_running_loop().create_future(), stream, grant)
        self.pending[rid] = p
        return p

    async def write(self, rid: int, p: _APending, frame: bytes) -> None:
        """Hands one frame to the transport (p.sent), then waits for the
        buffer to drain, at most send_bound: an agent that does not read for
        that long has a broken connection."""
        try:
            async with self.wlock:
                self.writer.write(frame)
                p.sent = True
                await asyncio.wait_for(self.writer.drain(), self.send_bound)
        except asyncio.TimeoutError:
            self.shutdown()
            raise ConnectionClosedError(f"the warden agent read nothing for {self.send_bound} s") from None
        except (OSError, RuntimeError) as e:
            if p.grant is None:
                self.pending.pop(rid, None)
            self.shutdown()
            raise ConnectionClosedError(f"write to the warden agent failed: {e}") from None

    def shutdown(self) -> None:
        try:
            self.writer.close()
        except (OSError, RuntimeError):
            pass

    def fail(self, err: WardenError) -> None:
        if self.err is None:
            self.err = err
        pending, self.pending = self.pending, {}
        streams, self.streams = self.streams, {}
        grants = [p.grant for p in pending.values() if p.grant is not None]
        if grants:
            self.client._note_reclaim(grants)
        for p in pending.values():
            if not p.fut.done():
                p.fut.set_exception(fresh(err))
                p.fut.exception()  # retrieved: nobody may be waiting any more
        for s in streams.values():
            s.end(err)

    async def _read_loop(self) -> None:
        frames = FrameReader()
        err: WardenError
        try:
            while True:
                data = await self.reader.read(1 << 16)
                if not data:
                    err = ConnectionClosedError("the warden agent closed the connection")
                    break
                for body in frames.feed(data):
                    self._dispatch(decode_message(body))
        except ProtocolError as e:
            err = ConnectionClosedError(str(e))
        except (OSError, asyncio.IncompleteReadError) as e:
            err = ConnectionClosedError(f"connection to the warden agent failed: {e}")
        except asyncio.CancelledError:
            err = ConnectionClosedError("the client was closed")
        if self.fatal is not None:
            err = self.fatal
        elif self.client._resumable and self.client._secret:
            err = DisconnectedError(err.message + "; resuming the session")
        self.fail(err)
        self.shutdown()
        self.client._conn_ended(self, err)

    def _dispatch(self, m: Message) -> None:
        if m.id != 0:
            p = self.pending.pop(m.id, None)
            if p is None:
                return
            if p.stream is not None and m.error is None and m.result is not None:
                sub = m.result.get("sub") or m.result.get("watch")
                if isinstance(sub, int) and sub > 0:
                    p.stream.sub = sub
                    p.stream.conn = self
                    self.streams[sub] = p.stream
            if p.grant is not None and m.error is None and m.result is not None:
                key = m.result.get("key")
                if isinstance(key, str) and key:
                    self.client._held.add(key)
            if not p.fut.done():
                p.fut.set_result(m)
            return
        if m.event:
            if m.sub:
                s = self.streams.get(m.sub)
                if s is not None and s.push(m):
                    self.client._abandon(s)
            elif m.event == "session" and m.body is not None:
                self.client._session_event(self, SessionEvent.parse(m.body))
            return
        if m.error is not None:
            self.fatal = error_from_wire(m.error)
            self.shutdown()


def _finalizer(owner: object, buf: _AStreamBuf) -> "weakref.finalize[Any, Any]":
    f = weakref.finalize(owner, buf.abandon)
    f.atexit = False
    return f


class AsyncStream(Generic[T]):
    """A stream of events: ``async for ev in stream`` or ``await stream.next()``.

    Opened by its first use (``await``, ``async with`` or ``async for``).
    Closing it (``close()``, leaving ``async with``, or breaking out of
    ``async for``) ends it at the agent.
    """

    def __init__(self, client: "AsyncClient", req: Mapping[str, Any], kind: str,
                 parse: Callable[[Mapping[str, Any]], T]) -> None:
        self._client = client
        self._req = req
        self._kind = kind
        self._parse = parse
        self._buf: Optional[_AStreamBuf] = None
        self._opening: Optional["asyncio.Future[None]"] = None
        self._finalizer: Optional["weakref.finalize[Any, Any]"] = None
        self.result: Dict[str, Any] = {}

    async def open(self) -> "AsyncStream[T]":
        """Opens the stream at the agent (once, however many tasks ask at once)."""
        while self._buf is None:
            if self._opening is not None:
                # Another task is opening it: wait for that (and retry if it failed).
                try:
                    await asyncio.shield(self._opening)
                except Exception:  # noqa: BLE001 - that task reports its own error
                    pass
                continue
            self._opening = asyncio.get_running_loop().create_future()
            try:
                self._buf, self.result = await self._client._open_stream(self._req)
                self._finalizer = _finalizer(self, self._buf)
            finally:
                fut, self._opening = self._opening, None
                if not fut.done():
                    fut.set_result(None)
        return self

    def __await__(self) -> Generator[Any, None, "AsyncStream[T]"]:
        return self.open().__await__()

    @property
    def sub(self) -> int:
        return self._buf.sub if self._buf is not None else 0

    async def next(self, timeout: Optional[float] = None) -> T:
        """The next event; TimeoutError if none within timeout seconds."""
        await self.open()
        assert self._buf is not None
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            m = await self._buf.get(left)
            if m.event == self._kind and m.body is not None:
                return self._seen(self._parse(m.body))

    def _seen(self, v: T) -> T:
        return v

    def __aiter__(self) -> AsyncIterator[T]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[T]:
        try:
            while True:
                try:
                    v = await self.next()
                except StreamClosedError:
                    return
                yield v
        finally:
            await self.close()

    async def close(self) -> None:
        if self._finalizer is not None:
            self._finalizer.detach()
        if self._buf is not None:
            await self._buf.close()

    async def __aenter__(self) -> "AsyncStream[T]":
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class AsyncSubscription(AsyncStream[ChangeEvent]):
    """Changes under a path, in order; ``last_zxid`` is the resume point."""

    def __init__(self, client: "AsyncClient", req: Mapping[str, Any], from_zxid: int) -> None:
        super().__init__(client, req, "change", ChangeEvent.parse)
        self.last_zxid = from_zxid

    def _seen(self, v: ChangeEvent) -> ChangeEvent:
        if v.zxid > self.last_zxid:
            self.last_zxid = v.zxid
        return v


class AsyncWatch:
    """A one-shot watch."""

    def __init__(self, buf: _AStreamBuf) -> None:
        self._buf = buf
        self._fired: Optional[WatchEvent] = None
        self._finalizer = _finalizer(self, buf)

    async def wait(self, timeout: Optional[float] = None) -> WatchEvent:
        """The event that fired the watch (the same again once it has fired)."""
        if self._fired is not None:
            return self._fired
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            m = await self._buf.get(left)
            if m.event == "watch" and m.body is not None:
                self._fired = WatchEvent.parse(m.body)
                self._finalizer.detach()
                self._buf.forget()
                return self._fired

    async def stop(self) -> None:
        self._finalizer.detach()
        await self._buf.close()


class _Acquire(Generic[R]):
    """An acquisition: ``x = await it`` or ``async with it as x`` (released on exit)."""

    def __init__(self, acquire: Callable[[], Awaitable[R]], release: Callable[[R], Awaitable[None]]) -> None:
        self._acquire = acquire
        self._release = release
        self._held: Optional[R] = None

    def __await__(self) -> Generator[Any, None, R]:
        return self._acquire().__await__()

    async def __aenter__(self) -> R:
        self._held = await self._acquire()
        return self._held

    async def __aexit__(self, *exc: object) -> None:
        held, self._held = self._held, None
        if held is not None:
            await self._release(held)


class AsyncLease:
    """A held lock. ``token`` is its fencing token."""

    def __init__(self, client: "AsyncClient", path: str, key: str, token: int) -> None:
        self.client = client
        self.path = path
        self.key = key
        self.token = token

    async def unlock(self) -> None:
        await self.client._release(_ops.unlock(self.key), self.key, ("lock", self.path))

    release = unlock

    async def _exit(self) -> None:
        await self.client._release(_ops.unlock(self.key), self.key, ("lock", self.path), quiet=True)

    async def check(self) -> bool:
        return await self.client.lock_check(self.path, self.token)

    async def __aenter__(self) -> "AsyncLease":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._exit()

    def __repr__(self) -> str:
        return f"AsyncLease(path={self.path!r}, key={self.key!r}, token={self.token})"


class AsyncLeadership:
    def __init__(self, client: "AsyncClient", path: str, key: str, token: int) -> None:
        self.client = client
        self.path = path
        self.key = key
        self.token = token

    async def resign(self) -> None:
        await self.client._release(_ops.resign(self.key, self.token), self.key, ("campaign", self.path))

    async def _exit(self) -> None:
        await self.client._release(_ops.resign(self.key, self.token), self.key, ("campaign", self.path),
                                   quiet=True)

    async def proclaim(self, value: bytes) -> None:
        await self.client._call(_ops.proclaim(self.key, value, self.token))

    async def __aenter__(self) -> "AsyncLeadership":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._exit()


class AsyncElection:
    def __init__(self, client: "AsyncClient", name: str) -> None:
        self.client = client
        self.path = _ops.election_path(name)
        self.leadership: Optional[AsyncLeadership] = None

    async def _campaign(self, value: bytes, timeout: Optional[float]) -> AsyncLeadership:
        c = self.client
        wait = _ops.wait_ms(timeout)

        path = self.path

        async def undo(r: Dict[str, Any]) -> None:
            lr = LeaseResult.parse(r)
            await c._release(_ops.resign(lr.key, lr.token), lr.key, ("campaign", path), quiet=True)

        lr = LeaseResult.parse(await c._grant(_ops.campaign(self.path, value, wait), undo))
        self.leadership = AsyncLeadership(c, self.path, lr.key, lr.token)
        return self.leadership

    def campaign(self, value: bytes = b"", timeout: Optional[float] = None) -> _Acquire[AsyncLeadership]:
        """Awaitable (and async context manager) that returns once elected."""
        return _Acquire(lambda: self._campaign(value, timeout), lambda ld: ld._exit())

    async def resign(self) -> None:
        ld, self.leadership = self.leadership, None
        if ld is not None:
            await ld.resign()

    async def proclaim(self, value: bytes) -> None:
        if self.leadership is None:
            raise RuntimeError("this election object does not lead; campaign first")
        await self.leadership.proclaim(value)

    async def leader(self) -> Leader:
        return Leader.parse(await self.client._call(_ops.leader(self.path)))

    def observe(self) -> AsyncStream[Leader]:
        return self.client.observe(self.path)


class AsyncTask:
    def __init__(self, client: "AsyncClient", job: str, name: str) -> None:
        self.client = client
        self.job = job
        self.name = name

    @property
    def path(self) -> str:
        return f"{PROGRESS_ROOT}/{self.job}/{self.name}"

    async def report(self, percent: float, message: str = "", *, state: str = "running",
                     data: bytes = b"") -> None:
        await self.client._call(_ops.report(self.job, self.name, state=state, percent=percent,
                                            message=message, data=data))

    async def done(self) -> None:
        try:
            await self.client.delete(self.path)
        except NoNodeError:
            pass


class AsyncMembership:
    def __init__(self, client: "AsyncClient", group: str, member: str, key: str, token: int) -> None:
        self.client = client
        self.group = group
        self.member = member
        self.key = key
        self.token = token

    async def update(self, data: bytes) -> None:
        await self.client._call(_ops.join(self.group, self.member, data))

    async def leave(self) -> None:
        await self.client._call(_ops.leave(self.group, self.member))

    async def _exit(self) -> None:
        try:
            await self.leave()
        except ConnectionClosedError:
            pass  # the connection or the session has ended


class AsyncSemaphoreLease:
    def __init__(self, client: "AsyncClient", path: str, key: str, token: int) -> None:
        self.client = client
        self.path = path
        self.key = key
        self.token = token

    async def release(self) -> None:
        await self.client._release(_ops.semaphore_release(self.key), self.key, ("semaphore_acquire", self.path))

    async def _exit(self) -> None:
        await self.client._release(_ops.semaphore_release(self.key), self.key, ("semaphore_acquire", self.path),
                                   quiet=True)


class AsyncSemaphore:
    def __init__(self, client: "AsyncClient", path: str, n: int) -> None:
        self.client = client
        self.path = path
        self.n = n

    async def _acquire(self, timeout: Optional[float]) -> AsyncSemaphoreLease:
        c = self.client

        path = self.path

        async def undo(r: Dict[str, Any]) -> None:
            key = LeaseResult.parse(r).key
            await c._release(_ops.semaphore_release(key), key, ("semaphore_acquire", path), quiet=True)

        lr = LeaseResult.parse(await c._grant(_ops.semaphore_acquire(self.path, self.n, _ops.wait_ms(timeout)), undo))
        return AsyncSemaphoreLease(c, self.path, lr.key, lr.token)

    def acquire(self, timeout: Optional[float] = None) -> _Acquire[AsyncSemaphoreLease]:
        return _Acquire(lambda: self._acquire(timeout), lambda lease: lease._exit())

    async def try_acquire(self) -> Optional[AsyncSemaphoreLease]:
        try:
            return await self._acquire(0)
        except OperationTimeoutError:
            return None


class AsyncBarrier:
    def __init__(self, client: "AsyncClient", path: str) -> None:
        self.client = client
        self.path = path

    async def set(self) -> None:
        await self.client._grant(_ops.barrier_set(self.path))

    async def remove(self) -> None:
        await self.client._call(_ops.barrier_remove(self.path))

    async def wait(self, timeout: Optional[float] = None) -> None:
        await self.client._grant(_ops.barrier_wait(self.path, _ops.wait_ms(timeout)))


class AsyncDoubleBarrier:
    def __init__(self, client: "AsyncClient", path: str, count: int, member: str) -> None:
        self.client = client
        self.path = path
        self.count = count
        self.member = member

    async def enter(self, timeout: Optional[float] = None) -> None:
        await self.client._grant(_ops.barrier_enter(self.path, self.count, self.member, _ops.wait_ms(timeout)))

    async def leave(self, timeout: Optional[float] = None) -> None:
        await self.client._grant(_ops.barrier_leave(self.path, self.member, _ops.wait_ms(timeout)))

    async def __aenter__(self) -> "AsyncDoubleBarrier":
        await self.enter()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.leave()


class AsyncQueue:
    def __init__(self, client: "AsyncClient", path: str) -> None:
        self.client = client
        self.path = path

    async def put(self, data: bytes) -> str:
        return LeaseResult.parse(await self.client._grant(_ops.queue_put(self.path, data))).key

    async def take(self, timeout: Optional[float] = None) -> QueueItem:
        return QueueItem.parse(await self.client._grant(_ops.queue_take(self.path, _ops.wait_ms(timeout))))

    async def try_take(self) -> Optional[QueueItem]:
        try:
            return await self.take(0)
        except OperationTimeoutError:
            return None


class AsyncCounter:
    def __init__(self, client: "AsyncClient", path: str) -> None:
        self.client = client
        self.path = path

    async def add(self, delta: int = 1) -> int:
        return CounterResult.parse(await self.client._grant(_ops.counter_add(self.path, delta))).value

    async def get(self) -> int:
        return CounterResult.parse(await self.client._call(_ops.counter_get(self.path))).value

    async def compare_and_set(self, expect: int, value: int) -> Tuple[bool, int]:
        r = CounterResult.parse(await self.client._grant(_ops.counter_cas(self.path, expect, value)))
        return r.swapped, r.value

    cas = compare_and_set


class AsyncConfig:
    def __init__(self, client: "AsyncClient", path: str) -> None:
        self.client = client
        self.path = path

    async def get(self) -> Tuple[bytes, int]:
        data, st = await self.client.get(self.path)
        return data, st.version

    async def set(self, value: bytes, expected: int = ANY_VERSION) -> int:
        if expected == CONFIG_ABSENT:
            await self._create(value)
            return 0
        while True:
            try:
                return (await self.client.set(self.path, value, expected)).version
            except NoNodeError:
                if expected != ANY_VERSION:
                    raise
            try:
                await self._create(value)
                return 0
            except NodeExistsError:
                continue

    async def _create(self, value: bytes) -> None:
        try:
            await self.client.create(self.path, value)
            return
        except NoNodeError:
            pass
        for i in range(1, len(self.path)):
            if self.path[i] == "/":
                try:
                    await self.client.create(self.path[:i])
                except NodeExistsError:
                    pass
        await self.client.create(self.path, value)

    def subscribe(self, from_zxid: int = 0, *, recursive: bool = False) -> "AsyncConfigSubscription":
        return AsyncConfigSubscription(self.client.subscribe(self.path, recursive=recursive, from_zxid=from_zxid),
                                       ConfigTracker(self.path, recursive, from_zxid))


class AsyncConfigSubscription:
    def __init__(self, sub: AsyncSubscription, tracker: ConfigTracker) -> None:
        self._sub = sub
        self._t = tracker

    @property
    def last(self) -> int:
        return self._t.last

    async def next(self, timeout: Optional[float] = None) -> ConfigUpdate:
        while True:
            u = self._t.pop()
            if u is not None:
                return u
            self._t.feed(await self._sub.next(timeout))

    def __aiter__(self) -> AsyncIterator[ConfigUpdate]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ConfigUpdate]:
        try:
            while True:
                try:
                    u = await self.next()
                except StreamClosedError:
                    return
                yield u
        finally:
            await self.close()

    async def close(self) -> None:
        await self._sub.close()

    async def __aenter__(self) -> "AsyncConfigSubscription":
        await self._sub.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class AsyncClient:
    """An asyncio connection to the local warden agent and its session.
    Make one with ``await warden.aio.connect()``."""

    def __init__(self, socket: Optional[str] = None, *, session_timeout: Optional[float] = None,
                 name: str = "", resumable: bool = False, heartbeat: bool = False,
                 resume: Optional[ResumeToken] = None, no_session: bool = False,
                 on_session_state: Optional[StateCallback] = None,
                 connect_timeout: float = 30.0, protocol: int = PROTOCOL_VERSION,
                 stream_backlog: int = DEFAULT_STREAM_BACKLOG) -> None:
        self.socket_path = socket_path(socket)
        self._name = name
        self._resumable = resumable
        # A resumed session keeps the heartbeat it was opened with; a client
        # that resumes pings whether or not it was.
        self._heartbeat = heartbeat or resume is not None
        self._session_heartbeat = resume.heartbeat if resume is not None else heartbeat
        self._no_session = no_session
        self._resume = resume
        self._protocol = protocol
        self._connect_timeout = connect_timeout
        self._session_timeout_ms = int(session_timeout * 1000) if session_timeout else 0
        self._on_state = on_session_state
        self.stream_backlog = stream_backlog
        self._ids = itertools.count(1)
        self._conn: Optional[_AConn] = None
        self._state = ""
        self._terminal: Optional[WardenError] = None
        self._closing = False
        self._established = False
        self._changed = asyncio.Event()
        self._tasks: Set["asyncio.Task[Any]"] = set()
        self._callback_tasks: Set["asyncio.Task[Any]"] = set()
        self._held: Set[str] = set()  # keys of the grants handed to the application
        self._reclaim: Set[Grant] = set()  # grant requests a dropped connection cut short
        self.session_id = 0
        self.agent = ""
        self.session_timeout = 0.0
        self._secret = b""

    async def _start(self) -> "AsyncClient":
        conn = await self._open(self._connect_timeout)
        req = _ops.hello(protocol=self._protocol, session_timeout_ms=self._session_timeout_ms,
                         client=self._name, resumable=self._resumable, heartbeat=self._session_heartbeat,
                         no_session=self._no_session)
        if self._resume is not None:
            req.update(session_id=self._resume.session_id, secret=self._resume.secret)
        hello = await self._handshake(conn, req, self._connect_timeout)
        self.hello = hello
        self.session_id = hello.session_id
        self.agent = hello.agent
        self.session_timeout = hello.session_timeout_ms / 1000.0
        self._secret = hello.secret
        self._resumable = self._resumable or (self._resume is not None and bool(hello.secret))
        conn.send_bound = max(self.session_timeout or self._connect_timeout, 1.0)
        self._established = True
        if not self._install(conn):
            self._conn_ended(conn, conn.err or ConnectionClosedError("the connection ended"), force=True)
        if self._heartbeat and not self._no_session:
            self._spawn(self._heartbeat_loop())
        return self

    def _spawn(self, coro: Awaitable[Any], background: bool = True) -> None:
        """Runs coro as a task the client keeps a reference to; background
        tasks (heartbeat, resume) are cancelled by close()."""
        t: "asyncio.Task[Any]" = asyncio.ensure_future(coro)
        tasks = self._tasks if background else self._callback_tasks
        tasks.add(t)
        t.add_done_callback(tasks.discard)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _open(self, timeout: float) -> _AConn:
        check_socket_owner(self.socket_path)
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(self.socket_path), timeout)
        except (OSError, asyncio.TimeoutError) as e:
            raise ConnectionClosedError(f"cannot connect to the warden agent at {self.socket_path}: {e}") from None
        conn = _AConn(self, reader, writer)
        conn.start()
        return conn

    async def _handshake(self, conn: _AConn, req: Dict[str, Any], timeout: Optional[float]) -> HelloResult:
        rid = next(self._ids)
        frame = encode_frame({**req, "id": rid})
        try:
            p = conn.register(rid, None)
            await conn.write(rid, p, frame)
            m = await asyncio.wait_for(asyncio.shield(p.fut), timeout)
            return HelloResult.parse(result_of(m))
        except asyncio.TimeoutError:
            conn.shutdown()
            raise ConnectionClosedError("the warden agent did not answer hello in time") from None
        except BaseException:
            conn.shutdown()
            raise

    def _install(self, conn: _AConn) -> bool:
        """Makes conn, whose hello succeeded, the client's connection and
        reports its state; False if its reader has ended meanwhile."""
        if conn.err is not None:
            return False
        self._conn = conn
        if self._terminal is None:
            # The hello's success is the agent's confirmation; the connected
            # event that follows is then not reported a second time.
            state = conn.session_state or SessionState.CONNECTED
            if state != self._state:
                self._emit(state)
        self._notify()
        return True

    # -- session -----------------------------------------------------------------

    @property
    def state(self) -> str:
        """The last session state; ``connected`` as soon as connect() returns."""
        return self._state

    @property
    def closed(self) -> bool:
        return self._terminal is not None

    def resume_token(self) -> Optional[ResumeToken]:
        return ResumeToken(self.session_id, self._secret, self._session_heartbeat) if self._secret else None

    async def wait_connected(self, timeout: Optional[float] = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._terminal is not None:
                raise fresh(self._terminal)
            if self._conn is not None and self._state == SessionState.CONNECTED:
                return
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError("the session did not connect in time")
            ev = self._changed
            try:
                await asyncio.wait_for(ev.wait(), left)
            except asyncio.TimeoutError:
                pass

    def _emit(self, state: str) -> None:
        self._state = state
        self._notify()
        cb = self._on_state
        if cb is not None:
            asyncio.get_running_loop().call_soon(self._run_callback, cb, state)

    def _run_callback(self, cb: StateCallback, state: str) -> None:
        try:
            r = cb(state)
            if r is not None and asyncio.iscoroutine(r):
                self._spawn(r, background=False)
        except Exception:  # noqa: BLE001 - an app callback must not break the client
            pass

    def _session_event(self, conn: _AConn, ev: SessionEvent) -> None:
        state: str = ev.state
        for s in SessionState:
            if s.value == ev.state:
                state = s
        if state == SessionState.LOST:
            self._end(SessionLostError("the warden agent reports the session lost"), SessionState.LOST)
            return
        conn.session_state = state
        # A connection not yet installed reports its state when it is.
        if self._terminal is None and self._conn is conn and state != self._state:
            self._emit(state)

    def _end(self, err: WardenError, state: SessionState) -> None:
        if self._terminal is not None:
            return
        self._terminal = err
        conn, self._conn = self._conn, None
        self._emit(state)
        if conn is not None:
            conn.fail(err)
            conn.shutdown()

    def _conn_ended(self, conn: _AConn, err: WardenError, force: bool = False) -> None:
        if not self._established or self._closing or self._terminal is not None:
            return
        if self._conn is not conn and not force:
            return  # not the session's connection: a resume attempt that failed
        if self._resumable and self._secret:
            self._conn = None
            self._emit(SessionState.DISCONNECTED)
            self._spawn(self._resume_loop(time.monotonic()))
        else:
            self._end(SessionLostError(f"the connection ended, and the session with it: {err.message}"),
                      SessionState.LOST)

    async def _resume_loop(self, dropped_at: float) -> None:
        deadline = dropped_at + self.session_timeout
        delay = 0.02
        while self._terminal is None:
            left = deadline - time.monotonic()
            if left <= 0:
                self._end(SessionLostError("could not resume the session within its timeout"), SessionState.LOST)
                return
            conn: Optional[_AConn] = None
            try:
                conn = await self._open(min(left, 5.0))
                await self._handshake(conn, _ops.hello(protocol=self._protocol, session_id=self.session_id,
                                                       secret=self._secret), left)
                conn.send_bound = max(self.session_timeout, 1.0)
                while True:
                    # Before the session is reported connected and before any
                    # call goes through: remove what cut-short grants left.
                    await self._reclaim_on(conn, deadline)
                    if self._terminal is not None:
                        conn.shutdown()
                        return
                    if self._reclaim:
                        continue
                    if self._install(conn):
                        return
                    break
            except SessionExpiredError as e:
                if conn is not None:
                    conn.shutdown()
                self._end(SessionLostError(f"the session could not be resumed: {e.message}"), SessionState.LOST)
                return
            except (WardenError, TimeoutError):
                if conn is not None:
                    conn.shutdown()
                await asyncio.sleep(min(delay, max(deadline - time.monotonic(), 0.0)))
                delay = min(delay * 2, 0.5)
                continue
            # The resumed connection ended before it was installed.
            deadline = time.monotonic() + self.session_timeout

    async def _reclaim_on(self, conn: _AConn, deadline: float) -> None:
        """Deletes the nodes this session owns under the paths of cut-short
        grant requests, except those handed to the application."""
        for grant in sorted(self._reclaim):
            for parent, prefix in candidate_dirs(grant):
                try:
                    names = ChildrenResult.parse(
                        await self._call_on(conn, _ops.children(parent), _left(deadline))).children
                except NoNodeError:
                    continue
                for name in names:
                    node = _join(parent, name)
                    if not name.startswith(prefix) or node in self._held:
                        continue
                    r = ExistsResult.parse(await self._call_on(conn, _ops.exists(node), _left(deadline)))
                    if not r.exists or r.stat.ephemeral_owner != self.session_id or node in self._held:
                        continue
                    try:
                        await self._call_on(conn, _ops.delete(node, ANY_VERSION), _left(deadline))
                    except NoNodeError:
                        pass
            self._reclaim.discard(grant)

    def _note_reclaim(self, grants: List[Grant]) -> None:
        if self._resumable and self._secret and self._terminal is None:
            self._reclaim.update(grants)

    async def _release(self, req: Mapping[str, Any], key: str, grant: Grant, *, quiet: bool = False) -> None:
        """Releases a held grant (unlock, semaphore_release, resign). quiet
        (an async with block's exit, an undo): an ended session holds nothing
        any more, and if the connection dropped the resume removes the node."""
        try:
            await self._call(req)
        except DisconnectedError:
            if not quiet:
                raise
            self._held.discard(key)
            if self._conn is None:
                self._reclaim.add(grant)
            else:
                await self._undo(req)
            return
        except ConnectionClosedError:
            self._held.discard(key)
            if not quiet:
                raise
            return
        except NotHeldError:
            self._held.discard(key)
            raise
        self._held.discard(key)

    def _abandon(self, buf: _AStreamBuf) -> None:
        """Ends a stream the application dropped or did not keep up with."""
        if self._terminal is None:
            self._spawn(buf.close(timeout=10.0))

    async def _heartbeat_loop(self) -> None:
        interval = max(self.session_timeout / 3.0, 0.01)
        while self._terminal is None:
            await asyncio.sleep(interval)
            conn = self._conn
            if conn is not None and self._terminal is None:
                try:
                    await self._call_on(conn, _ops.ping(), self.session_timeout)
                except (WardenError, TimeoutError):
                    pass

    async def close(self) -> None:
        """Ends the connection and the session (a resumable one is detached)."""
        conn = self._conn
        self._end(ConnectionClosedError("the client was closed"), SessionState.CLOSED)
        if conn is not None and conn.task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(conn.task), 5.0)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                pass
        for t in list(self._tasks):
            if t is not asyncio.current_task():
                t.cancel()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- requests ----------------------------------------------------------------

    def _live_conn(self) -> _AConn:
        if self._terminal is not None:
            raise fresh(self._terminal)
        if self._conn is None:
            raise DisconnectedError("the connection dropped; the session is being resumed")
        return self._conn

    async def _send_on(self, conn: _AConn, req: Mapping[str, Any],
                       stream: Optional[_AStreamBuf] = None) -> Tuple[int, _APending]:
        rid = next(self._ids)
        frame = encode_frame({**req, "id": rid})
        p = conn.register(rid, stream, grant_of(req))
        try:
            await conn.write(rid, p, frame)
        except BaseException:
            if not p.sent:
                conn.pending.pop(rid, None)
            raise
        return rid, p

    async def _cancel(self, conn: _AConn, rid: int) -> None:
        try:
            await self._send_on(conn, _ops.cancel(rid))
        except WardenError:
            pass

    async def _call_on(self, conn: _AConn, req: Mapping[str, Any],
                       timeout: Optional[float] = None) -> Dict[str, Any]:
        rid = next(self._ids)
        frame = encode_frame({**req, "id": rid})
        p = conn.register(rid, None)
        try:
            await conn.write(rid, p, frame)
            m = await asyncio.wait_for(asyncio.shield(p.fut), timeout)
        except asyncio.TimeoutError:
            conn.pending.pop(rid, None)
            await self._cancel(conn, rid)
            raise TimeoutError(f"no reply from the warden agent within {timeout} s") from None
        except asyncio.CancelledError:
            conn.pending.pop(rid, None)
            if p.sent:
                await asyncio.shield(self._cancel(conn, rid))
            raise
        return result_of(m)

    async def _call(self, req: Mapping[str, Any], timeout: Optional[float] = None) -> Dict[str, Any]:
        return await self._call_on(self._live_conn(), req, timeout)

    async def _undo(self, req: Mapping[str, Any]) -> None:
        try:
            await self._call(req, 10.0)
        except (WardenError, TimeoutError):
            pass

    async def _grant(self, req: Mapping[str, Any],
                     undo: Optional[Callable[[Dict[str, Any]], Awaitable[None]]] = None,
                     stream: Optional[_AStreamBuf] = None) -> Dict[str, Any]:
        """A request whose success cannot be taken back. When the awaiting task
        is cancelled before the frame was handed over, the request is dropped;
        after, it is canceled at the agent and its own reply awaited, and a
        success that raced the cancel is undone."""
        conn = self._live_conn()
        rid = next(self._ids)
        frame = encode_frame({**req, "id": rid})
        p = conn.register(rid, stream, grant_of(req))
        try:
            await conn.write(rid, p, frame)
            m = await asyncio.shield(p.fut)
        except asyncio.CancelledError:
            if not p.sent:
                conn.pending.pop(rid, None)
                raise
            await asyncio.shield(self._after_cancel(conn, rid, p, undo))
            raise
        return result_of(m)

    async def _after_cancel(self, conn: _AConn, rid: int, p: _APending,
                            undo: Optional[Callable[[Dict[str, Any]], Awaitable[None]]]) -> None:
        await self._cancel(conn, rid)
        try:
            late = await asyncio.wait_for(asyncio.shield(p.fut), _CANCEL_REPLY_TIMEOUT)
        except (asyncio.TimeoutError, WardenError):
            conn.pending.pop(rid, None)
            return
        if late.error is None and late.result is not None and undo is not None:
            try:
                await undo(late.result)
            except Exception:  # noqa: BLE001
                pass

    async def request(self, op: str, **fields: Any) -> Dict[str, Any]:
        """Sends any request; returns its raw result map."""
        return await self._call({"op": op, **fields})

    async def _open_stream(self, req: Mapping[str, Any]) -> Tuple[_AStreamBuf, Dict[str, Any]]:
        buf = _AStreamBuf(self, self.stream_backlog)

        async def undo(result: Dict[str, Any]) -> None:
            await buf.close()

        r = await self._grant(req, undo, stream=buf)
        if buf.conn is None:
            raise ConnectionClosedError("the agent started no stream")
        return buf, r

    # -- znodes ------------------------------------------------------------------

    async def create(self, path: str, data: bytes = b"", *, ephemeral: bool = False, sequential: bool = False,
                     container: bool = False) -> str:
        r = await self._call(_ops.create(path, data, ephemeral=ephemeral, sequential=sequential,
                                         container=container))
        return CreateResult.parse(r).path

    async def get(self, path: str) -> Tuple[bytes, Stat]:
        r = GetResult.parse(await self._call(_ops.get(path)))
        return r.data, r.stat

    async def set(self, path: str, data: bytes, version: int = ANY_VERSION) -> Stat:
        r = await self._call(_ops.set_(path, data, version))
        return Stat.parse(r.get("stat") or {})

    async def delete(self, path: str, version: int = ANY_VERSION) -> None:
        await self._call(_ops.delete(path, version))

    async def exists(self, path: str) -> Optional[Stat]:
        r = ExistsResult.parse(await self._call(_ops.exists(path)))
        return r.stat if r.exists else None

    async def children(self, path: str) -> List[str]:
        return ChildrenResult.parse(await self._call(_ops.children(path))).children

    async def get_w(self, path: str) -> Tuple[bytes, Stat, AsyncWatch]:
        buf, res = await self._open_stream(_ops.get(path, watch=True))
        r = GetResult.parse(res)
        return r.data, r.stat, AsyncWatch(buf)

    async def exists_w(self, path: str) -> Tuple[Optional[Stat], AsyncWatch]:
        buf, res = await self._open_stream(_ops.exists(path, watch=True))
        r = ExistsResult.parse(res)
        return (r.stat if r.exists else None), AsyncWatch(buf)

    async def children_w(self, path: str) -> Tuple[List[str], AsyncWatch]:
        buf, res = await self._open_stream(_ops.children(path, watch=True))
        return ChildrenResult.parse(res).children, AsyncWatch(buf)

    async def multi(self, ops: Sequence[Mapping[str, Any]]) -> List[OpResult]:
        return parse_multi(await self._call(_ops.multi(ops)))

    async def sync(self) -> int:
        z = (await self._call(_ops.sync())).get("zxid")
        return z if isinstance(z, int) else 0

    async def ping(self, timeout: Optional[float] = None) -> None:
        await self._call(_ops.ping(), timeout)

    async def status(self) -> Status:
        return Status.parse(await self._call(_ops.status()))

    async def members(self) -> List[AgentMember]:
        return parse_members(await self._call(_ops.members()))

    async def sessions(self) -> List[SessionInfo]:
        """The cluster's open sessions (see Client.sessions)."""
        return parse_sessions(await self._call(_ops.sessions()))

    def subscribe(self, path: str, *, recursive: bool = False, children: bool = False,
                  scope: Optional[str] = None, from_zxid: int = 0) -> AsyncSubscription:
        """Every change under path, in order (see Client.subscribe). Use with
        ``async for``, ``async with`` or ``await``."""
        sc = scope if scope is not None else ("subtree" if recursive else "children" if children else "")
        return AsyncSubscription(self, _ops.subscribe(path, str(sc), from_zxid), from_zxid)

    async def lock_check(self, path: str, token: int) -> bool:
        return (await self._call(_ops.lock_check(path, token))).get("held") is True

    # -- locks -------------------------------------------------------------------

    async def _lease(self, req: Mapping[str, Any], path: str) -> AsyncLease:
        async def undo(r: Dict[str, Any]) -> None:
            key = LeaseResult.parse(r).key
            await self._release(_ops.unlock(key), key, ("lock", path), quiet=True)

        lr = LeaseResult.parse(await self._grant(req, undo))
        return AsyncLease(self, path, lr.key, lr.token)

    def _lease_cm(self, req: Mapping[str, Any], path: str) -> _Acquire[AsyncLease]:
        return _Acquire(lambda: self._lease(req, path), lambda lease: lease._exit())

    def lock(self, path: str, timeout: Optional[float] = None) -> _Acquire[AsyncLease]:
        """``lease = await client.lock(path)`` or ``async with client.lock(path) as lease``.
        Cancelling the awaiting task cancels the wait at the agent."""
        return self._lease_cm(_ops.lock(path, _ops.wait_ms(timeout)), path)

    async def try_lock(self, path: str) -> Optional[AsyncLease]:
        try:
            return await self._lease(_ops.lock(path, 0), path)
        except OperationTimeoutError:
            return None

    async def unlock(self, key: str) -> None:
        await self._release(_ops.unlock(key), key, ("lock", key.rsplit("/", 1)[0] or "/"))

    def read_lock(self, path: str, timeout: Optional[float] = None) -> _Acquire[AsyncLease]:
        return self._lease_cm(_ops.read_lock(path, _ops.wait_ms(timeout)), path)

    def write_lock(self, path: str, timeout: Optional[float] = None) -> _Acquire[AsyncLease]:
        return self._lease_cm(_ops.write_lock(path, _ops.wait_ms(timeout)), path)

    def semaphore(self, path: str, n: int) -> AsyncSemaphore:
        return AsyncSemaphore(self, path, n)

    # -- elections, progress, groups ---------------------------------------------

    def election(self, name: str) -> AsyncElection:
        return AsyncElection(self, name)

    async def leader(self, path: str) -> Leader:
        return Leader.parse(await self._call(_ops.leader(_ops.election_path(path))))

    def observe(self, path: str) -> AsyncStream[Leader]:
        return AsyncStream(self, _ops.observe(_ops.election_path(path)), "leader", Leader.parse)

    def task(self, job: str, task: str) -> AsyncTask:
        return AsyncTask(self, job, task)

    async def progress(self, job: str) -> List[TaskReport]:
        return ProgressResult.parse(await self._call(_ops.progress_get(job))).tasks

    def watch_progress(self, job: str) -> AsyncStream[TaskEvent]:
        return AsyncStream(self, _ops.progress_watch(job), "task", TaskEvent.parse)

    async def _join(self, group: str, member: str, data: bytes) -> AsyncMembership:
        async def undo(r: Dict[str, Any]) -> None:
            await self._undo(_ops.leave(group, member))

        lr = LeaseResult.parse(await self._grant(_ops.join(group, member, data), undo))
        return AsyncMembership(self, group, member, lr.key, lr.token)

    def join(self, group: str, member: str, data: bytes = b"") -> _Acquire[AsyncMembership]:
        return _Acquire(lambda: self._join(group, member, data), lambda m: m._exit())

    async def group_members(self, group: str) -> List[GroupMember]:
        return GroupResult.parse(await self._call(_ops.members_of(group))).members

    def watch_group(self, group: str) -> AsyncStream[MemberEvent]:
        return AsyncStream(self, _ops.group_watch(group), "member", MemberEvent.parse)

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


async def connect(socket: Optional[str] = None, *, session_timeout: Optional[float] = None, name: str = "",
                  resumable: bool = False, heartbeat: bool = False, resume: Optional[ResumeToken] = None,
                  no_session: bool = False, on_session_state: Optional[StateCallback] = None,
                  connect_timeout: float = 30.0, protocol: int = PROTOCOL_VERSION,
                  stream_backlog: int = DEFAULT_STREAM_BACKLOG) -> AsyncClient:
    """Connects to the local warden agent and opens a session (options as
    for warden.connect; on_session_state may be a coroutine function)."""
    client = AsyncClient(socket, session_timeout=session_timeout, name=name, resumable=resumable,
                         heartbeat=heartbeat, resume=resume, no_session=no_session,
                         on_session_state=on_session_state, connect_timeout=connect_timeout, protocol=protocol,
                         stream_backlog=stream_backlog)
    return await client._start()


__all__ = ["connect", "AsyncClient", "AsyncStream", "AsyncSubscription", "AsyncWatch", "AsyncLease",
           "AsyncLeadership", "AsyncElection", "AsyncTask", "AsyncMembership", "AsyncSemaphore",
           "AsyncSemaphoreLease", "AsyncBarrier", "AsyncDoubleBarrier", "AsyncQueue", "AsyncCounter",
           "AsyncConfig", "AsyncConfigSubscription"]
