"""The engine of both clients: one session over a succession of connections.

It runs on one asyncio event loop: the asyncio client's (``warden.aio``),
or a private loop thread of the blocking client (``warden.Client``). It
opens the session, passes session states on, pings for a heartbeat, and
resumes a resumable session when its connection drops (protocol 5.5):

- the resuming hello carries ``reclaim`` and ``holds``, the keys of every
  lease the application holds, and the agent deletes what requests cut
  short by the drop left queued;
- calls made while it resumes fail at once with DisconnectedError;
- a grant wait (lock, read_lock, write_lock, semaphore acquire, campaign,
  queue take) in flight when the connection dropped is sent again once the
  session is resumed, within its caller's remaining wait; any other request
  in flight fails with DisconnectedError (its outcome is unknown);
- streams are opened again: subscriptions from the last change delivered
  (nothing skipped, nothing twice), recipes' watches afresh (the current
  state, then changes); a one-shot watch ends with DisconnectedError.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any, Awaitable, Callable, Dict, Mapping, Optional, Set, Union

from . import _ops
from ._conn import Conn, Pending, result_of
from ._socket import check_socket_owner, socket_path
from ._stream import CONFIG, ONCE, AsyncSink, Sink, StreamCore, fresh
from ._wire import PROTOCOL_VERSION, Message, encode_frame
from .errors import (BadArgumentsError, ConnectionClosedError, DisconnectedError, NotHeldError,
                     OperationTimeoutError, SessionExpiredError, SessionLostError, StreamClosedError, TooLargeError,
                     WardenError)
from .types import HelloResult, ResumeToken, SessionEvent, SessionState

StateCallback = Callable[[str], Union[None, Awaitable[None]]]
Undo = Callable[[Dict[str, Any]], Awaitable[None]]

_CANCEL_REPLY_TIMEOUT = 35.0  # a lock's contender create may take up to 30 s to finish

# Grant waits sent again after a resume (R2); other requests in flight fail.
RESEND_OPS = frozenset(("lock", "read_lock", "write_lock", "semaphore_acquire", "campaign", "queue_take"))


class Engine:
    def __init__(self, socket: Optional[str] = None, *, session_timeout: Optional[float] = None,
                 name: str = "", resumable: bool = False, heartbeat: bool = False,
                 resume: Optional[ResumeToken] = None, no_session: bool = False,
                 on_session_state: Optional[StateCallback] = None,
                 connect_timeout: Optional[float] = None, protocol: int = PROTOCOL_VERSION,
                 stream_backlog: int = 100_000) -> None:
        self.socket_path = socket_path(socket)
        self._name = name
        self._resumable = resumable
        # A resumed session keeps the heartbeat it was opened with; a client
        # that resumes pings whether or not it was, which costs next to nothing.
        self._heartbeat = heartbeat or resume is not None
        self._session_heartbeat = resume.heartbeat if resume is not None else heartbeat
        self._no_session = no_session
        self._resume = resume
        self._protocol = protocol
        # None: 30 s, which the agent is not told (it waits up to 30 s for
        # the cluster by itself); a timeout the app gives goes to the agent
        # as the hello's timeout_ms, like any call's.
        self._connect_timeout = 30.0 if connect_timeout is None else connect_timeout
        self._tell_connect_timeout = connect_timeout is not None
        self._session_timeout_ms = int(session_timeout * 1000) if session_timeout else 0
        self._on_state = on_session_state
        self.stream_backlog = stream_backlog
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._ids = itertools.count(1)
        self._conn: Optional[Conn] = None
        self._state = ""
        self._terminal: Optional[WardenError] = None
        self._closing = False
        self._established = False
        self._changed = asyncio.Event()
        self._tasks: Set["asyncio.Task[Any]"] = set()
        self._callbacks: Set["asyncio.Task[Any]"] = set()  # coroutine state callbacks (close() lets them run)
        self._held: Dict[str, Dict[str, Any]] = {}  # key of each lease the app holds -> its release
        self._orphans: Dict[str, Dict[str, Any]] = {}  # leases let go of while disconnected
        self._streams: Dict[StreamCore, None] = {}  # open streams, in order, opened again after a resume
        # Where streams' events go: the blocking client reads them from thread-safe queues.
        self._sink: Callable[[], Sink] = AsyncSink
        self.session_id = 0
        self.agent = ""
        self.session_timeout = 0.0
        self._secret = b""
        self.hello: Optional[HelloResult] = None

    async def _start(self) -> None:
        self._loop = asyncio.get_running_loop()
        conn = await self._open(self._connect_timeout)
        req = _ops.req("hello", protocol=self._protocol, session_timeout_ms=self._session_timeout_ms,
                       client=self._name, resumable=self._resumable, heartbeat=self._session_heartbeat,
                       no_session=self._no_session)
        if self._resume is not None:
            req.update(session_id=self._resume.session_id, secret=self._resume.secret)
        hello = await self._handshake(conn, req, self._connect_timeout, self._tell_connect_timeout)
        self.hello = hello
        self.session_id = hello.session_id
        self.agent = hello.agent
        self.session_timeout = hello.session_timeout_ms / 1000.0
        self._secret = hello.secret
        self._resumable = self._resumable or (self._resume is not None and bool(hello.secret))
        conn.send_bound = max(self.session_timeout or self._connect_timeout, 1.0)
        self._established = True
        if not self._install(conn):
            self._dropped(conn.err or ConnectionClosedError("the connection ended"))
        if self._heartbeat and not self._no_session:
            self._spawn(self._heartbeat_loop())

    def _spawn(self, coro: Awaitable[Any]) -> None:
        """Runs coro as a task the client keeps (close() cancels it)."""
        t: "asyncio.Task[Any]" = asyncio.ensure_future(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _open(self, timeout: float) -> Conn:
        check_socket_owner(self.socket_path)
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(self.socket_path), timeout)
        except (OSError, asyncio.TimeoutError) as e:
            raise ConnectionClosedError(f"cannot connect to the warden agent at {self.socket_path}: {e}") from None
        return Conn(self, reader, writer, self._connect_timeout)

    async def _handshake(self, conn: Conn, req: Dict[str, Any], timeout: Optional[float],
                         tell: bool = True) -> HelloResult:
        try:
            return HelloResult.parse(await self._call_on(conn, req, timeout, tell=tell))
        except TimeoutError:
            conn.shutdown()
            raise ConnectionClosedError("the warden agent did not answer hello in time") from None
        except BaseException:
            conn.shutdown()
            raise

    def _install(self, conn: Conn) -> bool:
        """Makes conn, whose hello succeeded, the session's connection and
        reports its state; False if it has ended meanwhile."""
        if conn.err is not None:
            return False
        self._conn = conn
        if self._terminal is None:
            # The hello's success is the agent's confirmation; the connected
            # event that follows it is then not reported a second time.
            state = conn.session_state or SessionState.CONNECTED
            if state != self._state:
                self._emit(state)
        self._notify()
        return True

    # -- session -----------------------------------------------------------------

    @property
    def state(self) -> str:
        """The last session state: connected, suspended, disconnected, lost or
        closed; ``connected`` as soon as connect() returns."""
        return self._state

    @property
    def closed(self) -> bool:
        """True once the session is lost or the client closed."""
        return self._terminal is not None

    def resume_token(self) -> Optional[ResumeToken]:
        """What ``connect(resume=...)`` needs to take this session up again
        from another process or connection; None when it is not resumable."""
        return ResumeToken(self.session_id, self._secret, self._session_heartbeat) if self._secret else None

    async def wait_connected(self, timeout: Optional[float] = None) -> None:
        """Waits until the session is connected (after a resume, say). Raises
        SessionLostError / ConnectionClosedError if it ends first,
        TimeoutError if timeout seconds pass."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not (self._conn is not None and self._state == SessionState.CONNECTED):
            await self._wait_change(deadline, "the session did not connect in time")

    async def _wait_change(self, deadline: Optional[float], what: str) -> None:
        if self._terminal is not None:
            raise fresh(self._terminal)
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise TimeoutError(what)
        try:
            await asyncio.wait_for(self._changed.wait(), left)
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
                t: "asyncio.Task[Any]" = asyncio.ensure_future(r)
                self._callbacks.add(t)
                t.add_done_callback(self._callbacks.discard)
        except Exception:  # noqa: BLE001 - an app callback must not break the client
            pass

    def _session_event(self, conn: Conn, ev: SessionEvent) -> None:
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
        streams, self._streams = self._streams, {}
        for core in streams:
            core.end(err)
        self._held.clear()
        self._orphans.clear()

    def _conn_ended(self, conn: Conn, err: WardenError) -> None:
        """conn's reader has stopped: it failed with err."""
        live = self._conn is conn and not self._closing and self._terminal is None
        resume = live and self._resumable and bool(self._secret)
        conn.fail(DisconnectedError(err.message + "; resuming the session") if resume else err)
        if live:
            self._dropped(err)

    def _dropped(self, err: WardenError) -> None:
        """The session's connection ended: resume it, or the session is over."""
        if self._terminal is not None or self._closing:
            return
        if self._resumable and self._secret:
            self._conn = None
            # A one-shot watch ends: after a gap the app must read again anyway.
            for core in [c for c in self._streams if c.mode == ONCE]:
                self._streams.pop(core, None)
                core.end(DisconnectedError(f"the connection dropped: {err.message}; read and watch again"))
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
            conn: Optional[Conn] = None
            try:
                conn = await self._open(min(left, 5.0))
                holds = sorted(self._held)
                req = _ops.req("hello", protocol=self._protocol, session_id=self.session_id, secret=self._secret,
                               reclaim=True, holds=holds)
                await self._handshake(conn, req, left)
                conn.send_bound = max(self.session_timeout, 1.0)
                await self._restore(conn, set(holds), deadline)
                if self._terminal is not None:
                    conn.shutdown()
                    return
                if self._install(conn):
                    return
            except SessionExpiredError as e:
                if conn is not None:
                    conn.shutdown()
                self._end(SessionLostError(f"the session could not be resumed: {e.message}"), SessionState.LOST)
                return
            except Exception:  # noqa: BLE001 - a failed attempt (WardenError, TimeoutError): try again
                if conn is not None:
                    conn.shutdown()
                await asyncio.sleep(min(delay, max(deadline - time.monotonic(), 0.0)))
                delay = min(delay * 2, 0.5)
                continue
            # The resumed connection ended before it was installed: the agent
            # started the session's timeout again when it closed.
            deadline = time.monotonic() + self.session_timeout

    async def _restore(self, conn: Conn, holds: Set[str], deadline: float) -> None:
        """Before a resumed session is reported connected: releases the leases
        the app let go of after the hello listed them (the agent reclaimed the
        others), and opens the streams again. Returns with nothing left to do,
        so that the caller installs conn before anything can change."""
        reopened: Set[StreamCore] = set()
        while True:
            while self._orphans:
                key, req = self._orphans.popitem()
                if key not in holds:
                    continue
                try:
                    await self._call_on(conn, req, max(deadline - time.monotonic(), 0.001))
                except NotHeldError:
                    pass
                except BaseException:
                    self._orphans[key] = req
                    raise
            todo = [core for core in self._streams if core not in reopened and not core.closed]
            if not todo and not self._orphans:
                return
            for core in todo:
                reopened.add(core)
                await self._reopen(conn, core, deadline)

    async def _reopen(self, conn: Conn, core: StreamCore, deadline: float) -> None:
        try:
            await self._call_on(conn, core.again(), max(deadline - time.monotonic(), 0.001), stream=core)
        except ConnectionClosedError:
            raise
        except (WardenError, ValueError) as e:  # refused, or (known paths) over the frame limit
            self._streams.pop(core, None)
            core.end(e if isinstance(e, WardenError) else TooLargeError(str(e)))
            return
        if core.closed:
            await self._close_stream(core)  # closed by the app meanwhile

    def _granted(self, op: str, result: Dict[str, Any]) -> None:
        key = result.get("key")
        if isinstance(key, str) and key:
            token = result.get("token")
            self._held[key] = _ops.release(op, key, token if isinstance(token, int) else 0)

    def _deliver(self, conn: Conn, core: StreamCore, m: Message) -> None:
        if core.mode == ONCE and m.event == "watch":
            conn.streams.pop(core.sub, None)  # a one-shot watch ends at the agent as it fires
            self._streams.pop(core, None)
            core.push(m)
            core.closed = True
        elif core.push(m):
            self._spawn(self._close_stream(core, 10.0))  # overflowed

    async def _heartbeat_loop(self) -> None:
        interval = max(self.session_timeout / 3.0, 0.01)
        while self._terminal is None:
            await asyncio.sleep(interval)
            conn = self._conn
            if conn is not None and self._terminal is None:
                try:
                    await self._call_on(conn, _ops.req("ping"), self.session_timeout)
                except (WardenError, TimeoutError):
                    pass

    async def close(self) -> None:
        """Ends the connection, and with it the session: its ephemeral nodes go
        and its locks pass on (a resumable session is only detached until its
        timeout). Safe to call twice."""
        conn = self._conn
        self._end(ConnectionClosedError("the client was closed"), SessionState.CLOSED)
        if conn is not None:
            try:
                await asyncio.wait_for(asyncio.shield(conn.task), 5.0)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                pass
        for t in list(self._tasks):
            if t is not asyncio.current_task():
                t.cancel()

    async def close_wait(self, timeout: Optional[float] = 10.0) -> None:
        """Closes, waiting until the agent has written the session's accepted
        progress reports and closed the session."""
        conn = self._conn
        self._closing = True
        if conn is not None:
            try:
                if conn.writer.can_write_eof():
                    conn.writer.write_eof()
                await asyncio.wait_for(asyncio.shield(conn.task), timeout)
            except (OSError, RuntimeError, asyncio.TimeoutError):
                pass
        await self.close()

    # -- requests ----------------------------------------------------------------

    def _live_conn(self) -> Conn:
        if self._terminal is not None:
            raise fresh(self._terminal)
        if self._conn is None:
            raise DisconnectedError("the connection dropped; the session is being resumed")
        return self._conn

    async def _await_conn(self, deadline: Optional[float]) -> Conn:
        """The session's connection once it is resumed (within deadline)."""
        while self._conn is None:
            try:
                await self._wait_change(deadline, "")
            except TimeoutError:
                raise OperationTimeoutError("not granted within the wait: the session was being resumed") from None
        return self._live_conn()

    def _register(self, conn: Conn, req: Mapping[str, Any],
                  stream: Optional[StreamCore] = None) -> "tuple[int, bytes, Pending]":
        rid = next(self._ids)
        frame = encode_frame({**req, "id": rid})
        return rid, frame, conn.register(rid, str(req.get("op", "")), stream)

    def _lost_write(self, conn: Conn, rid: int, p: Pending, e: ConnectionClosedError) -> WardenError:
        """The error of a request whose write failed: on a resumable
        session's connection, DisconnectedError like the requests in flight."""
        if not p.sent:
            conn.pending.pop(rid, None)
        resuming = self._established and self._resumable and self._secret and not self._closing
        if resuming and self._terminal is None and not isinstance(e, DisconnectedError):
            return DisconnectedError(e.message + "; resuming the session")
        return e

    async def _send_on(self, conn: Conn, req: Mapping[str, Any]) -> "tuple[int, Pending]":
        """Sends a request whose reply nobody awaits in this call."""
        rid, frame, p = self._register(conn, req)
        try:
            await conn.write(rid, p, frame)
        except ConnectionClosedError as e:
            raise self._lost_write(conn, rid, p, e) from None
        except BaseException:
            if not p.sent:
                conn.pending.pop(rid, None)
            raise
        return rid, p

    async def _cancel(self, conn: Conn, rid: int) -> None:
        try:
            await self._send_on(conn, _ops.req("cancel", target=rid))
        except WardenError:
            pass

    async def _call_on(self, conn: Conn, req: Mapping[str, Any], timeout: Optional[float] = None,
                       stream: Optional[StreamCore] = None, tell: bool = True) -> Dict[str, Any]:
        """Sends req on conn and returns its result. A timeout (seconds) goes
        to the agent as timeout_ms (unless tell is False), but on a request
        that opens a stream or waits for a grant (wait_ms): the agent answers
        why it failed (no leader: UnavailableError) just before the client
        would give up."""
        if timeout is not None and stream is None and tell:
            req = _ops.with_timeout(dict(req), timeout)
        rid, frame, p = self._register(conn, req, stream)
        try:
            await conn.write(rid, p, frame)
            m = await asyncio.wait_for(asyncio.shield(p.fut), timeout)
        except asyncio.TimeoutError:
            conn.pending.pop(rid, None)
            await self._cancel(conn, rid)
            raise TimeoutError(f"no reply from the warden agent within {timeout} s") from None
        except ConnectionClosedError as e:
            raise self._lost_write(conn, rid, p, e) from None
        except asyncio.CancelledError:
            conn.pending.pop(rid, None)
            if p.sent:
                await asyncio.shield(self._cancel(conn, rid))
            raise
        return result_of(m)

    async def _call(self, req: Mapping[str, Any], timeout: Optional[float] = None) -> Dict[str, Any]:
        return await self._call_on(self._live_conn(), req, timeout)

    async def _op(self, op: str, timeout: Optional[float] = None, **fields: Any) -> Dict[str, Any]:
        """The result of the request of op with fields (see _ops.req), within
        timeout seconds (None: no limit), which the agent is told too."""
        return await self._call(_ops.req(op, **fields), timeout)

    async def _submit(self, req: Mapping[str, Any]) -> "tuple[Conn, int, Pending]":
        conn = self._live_conn()
        rid, p = await self._send_on(conn, req)
        return conn, rid, p

    async def _grant(self, req: Mapping[str, Any], undo: Optional[Undo] = None,
                     stream: Optional[StreamCore] = None) -> Dict[str, Any]:
        """A request whose success cannot be taken back. When the awaiting
        task is cancelled before the frame was handed over, the request is
        dropped; after, it is canceled at the agent and its own reply awaited,
        and a success that raced the cancel is undone. A grant wait cut short
        by a dropped connection is sent again once the session is resumed,
        within what is left of its wait."""
        wait = req.get("wait_ms")
        deadline = time.monotonic() + wait / 1000.0 if isinstance(wait, int) and wait > 0 else None
        resend = req.get("op") in RESEND_OPS
        conn = self._live_conn()
        while True:
            rid, frame, p = self._register(conn, req, stream)
            try:
                await conn.write(rid, p, frame)
                m = await asyncio.shield(p.fut)
            except asyncio.CancelledError:
                if not p.sent:
                    conn.pending.pop(rid, None)
                    raise
                await asyncio.shield(self._after_cancel(conn, rid, p, undo))
                raise
            except ConnectionClosedError as e:
                err = self._lost_write(conn, rid, p, e)
                if not resend or not isinstance(err, DisconnectedError):
                    raise err from None
                conn = await self._await_conn(deadline)
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise OperationTimeoutError("not granted within the wait") from None
                    req = {**req, "wait_ms": max(int(left * 1000), 1)}
                continue
            return result_of(m)

    async def _after_cancel(self, conn: Conn, rid: int, p: Pending, undo: Optional[Undo]) -> None:
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

    async def _undo(self, req: Mapping[str, Any]) -> None:
        try:
            await self._call(req, 10.0)
        except (WardenError, TimeoutError):
            pass

    async def _release(self, req: Dict[str, Any], key: str, *, quiet: bool = False) -> None:
        """Releases a held lease (unlock, semaphore_release, resign). quiet
        (a with block's exit, an undo): an ended session holds nothing any
        more; while the session is being resumed, the resume releases it."""
        try:
            await self._call(req)
        except DisconnectedError:
            if not quiet:
                raise
            self._held.pop(key, None)
            if self._conn is None:
                self._orphans[key] = req
            else:
                await self._undo(req)  # resumed meanwhile
            return
        except ConnectionClosedError:
            self._held.pop(key, None)
            if not quiet:
                raise
            return
        except NotHeldError:
            self._held.pop(key, None)
            raise
        self._held.pop(key, None)

    # -- streams -----------------------------------------------------------------

    async def _open_stream(self, req: Mapping[str, Any], mode: str) -> StreamCore:
        core = StreamCore(dict(req), mode, self._sink(), self.stream_backlog)
        if mode == CONFIG:
            core.req["fold"] = True

        async def undo(result: Dict[str, Any]) -> None:
            await self._close_stream(core)

        core.result = await self._grant(core.req, undo, stream=core)
        if core.conn is None:
            raise ConnectionClosedError("the agent started no stream")
        if not core.closed:
            self._streams[core] = None
        return core

    async def _close_stream(self, core: StreamCore, timeout: Optional[float] = None) -> None:
        """Ends a stream: no event reaches the app after this begins; the
        stream leaves its connection's table once the agent has ended it."""
        core.end(StreamClosedError("stream closed"))
        self._streams.pop(core, None)
        conn = core.conn
        if isinstance(conn, Conn) and conn.streams.get(core.sub) is core:
            await self._unsubscribe(conn, core, timeout)

    async def _unsubscribe(self, conn: Conn, core: StreamCore, timeout: Optional[float]) -> None:
        try:
            await self._call_on(conn, _ops.req("unsubscribe", sub=core.sub), timeout)
        except (BadArgumentsError, ConnectionClosedError, TimeoutError):
            pass  # the stream, or its connection, had already ended
        finally:
            if conn.streams.get(core.sub) is core:
                del conn.streams[core.sub]

    def _abandon(self, core: StreamCore) -> None:
        """The application dropped a stream unclosed (a finalizer, on any
        thread): the loop ends it at the agent."""
        if core.closed or self._loop is None:
            return
        try:
            self._loop.call_soon_threadsafe(self._spawn_close, core)
        except RuntimeError:
            pass  # the loop is closed, and so is the connection

    def _spawn_close(self, core: StreamCore) -> None:
        if self._terminal is None:
            self._spawn(self._close_stream(core, 10.0))

