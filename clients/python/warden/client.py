"""The thread-safe, blocking client.

One connection carries one session. A reader thread reads every frame and
hands each reply to the caller waiting for it and each stream event to its
stream's queue; it never runs application code. Session states go to the
``on_session_state`` callback from a thread of their own.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import queue
import socket as _socket
import struct
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from . import _ops
from ._reclaim import Grant, candidate_dirs, grant_of, join as _join
from ._streams import DEFAULT_STREAM_BACKLOG, Stream, Subscription, Watch, _StreamBuf, _unwrap, fresh
from ._socket import check_socket_owner, socket_path
from ._wire import PROTOCOL_VERSION, FrameReader, Message, ProtocolError, decode_message, encode_frame
from .errors import (ConnectionClosedError, DisconnectedError, NoNodeError, NotHeldError, OperationTimeoutError,
                     SessionExpiredError, SessionLostError, WardenError, error_from_wire)
from .recipes import (Barrier, Config, Counter, DoubleBarrier, Election, Lease, Membership, Queue, Semaphore,
                      Task)
from .types import (ANY_VERSION, AgentMember, ChildrenResult, CreateResult, ExistsResult, GetResult,
                    GroupResult, HelloResult, Leader, LeaseResult, MemberEvent, OpResult, ProgressResult,
                    ResumeToken, SessionEvent, SessionInfo, SessionState, Stat, Status, TaskEvent, TaskReport,
                    GroupMember, parse_members, parse_multi, parse_sessions)

StateCallback = Callable[[str], None]

_CANCEL_REPLY_TIMEOUT = 35.0  # a lock's contender create may take up to 30 s to finish


def _left(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.001)


def result_of(m: Message) -> Dict[str, Any]:
    """A reply's result, or its error raised as the matching exception."""
    if m.error is not None:
        raise error_from_wire(m.error)
    return m.result if m.result is not None else {}


class _Pending:
    __slots__ = ("fut", "stream", "grant", "sent")

    def __init__(self, stream: Optional[_StreamBuf], grant: Optional[Grant] = None) -> None:
        self.fut: "concurrent.futures.Future[Message]" = concurrent.futures.Future()
        self.stream = stream
        self.grant = grant
        self.sent = False  # the whole frame was handed to the socket


class _Conn:
    """One socket, its reader thread and its pending requests and streams."""

    def __init__(self, client: "Client", sock: _socket.socket) -> None:
        self.client = client
        self.sock = sock
        self.wlock = threading.Lock()
        self.mu = threading.Lock()
        self.pending: Dict[int, _Pending] = {}
        self.streams: Dict[int, _StreamBuf] = {}
        self.err: Optional[WardenError] = None
        self.fatal: Optional[WardenError] = None
        self.session_state: str = ""  # the last session state the agent sent on this connection
        self.send_bound = client._connect_timeout  # seconds a write may block
        self.thread = threading.Thread(target=self._read_loop, name="warden-reader", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def set_send_bound(self, seconds: float) -> None:
        """Bounds each write: a socket the agent stops reading for this long is broken."""
        self.send_bound = max(seconds, 1.0)
        sec = int(self.send_bound)
        usec = int((self.send_bound - sec) * 1e6)
        try:
            self.sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_SNDTIMEO, struct.pack("ll", sec, usec))
        except OSError:
            pass

    def register(self, rid: int, stream: Optional[_StreamBuf], grant: Optional[Grant] = None) -> _Pending:
        p = _Pending(stream, grant)
        with self.mu:
            if self.err is not None:
                raise fresh(self.err)
            self.pending[rid] = p
        return p

    def forget(self, rid: int) -> None:
        with self.mu:
            self.pending.pop(rid, None)

    def drop_stream(self, sub: int) -> bool:
        with self.mu:
            return self.streams.pop(sub, None) is not None

    def write(self, rid: int, p: _Pending, frame: bytes, timeout: Optional[float] = None) -> None:
        """Writes one whole frame. Nothing was written when it raises
        TimeoutError (the write lock was not free in time) or fails before
        the frame was handed over; if it is interrupted while writing, part of
        the frame may be on the wire, so the connection is shut down (its
        reader then fails the pending requests)."""
        wait = self.send_bound if timeout is None else min(max(timeout, 0.0), self.send_bound)
        if not self.wlock.acquire(timeout=wait):
            self.forget(rid)
            raise TimeoutError(f"could not write to the warden agent within {wait} s")
        writing = False
        try:
            writing = True
            self.sock.sendall(frame)
            p.sent = True
        except OSError as e:
            self.shutdown()
            if p.grant is None:
                self.forget(rid)
            raise ConnectionClosedError(f"write to the warden agent failed: {e}") from None
        except BaseException:
            if writing and not p.sent:
                self.shutdown()  # a partial frame would garble every later one
            raise
        finally:
            self.wlock.release()

    def shutdown(self) -> None:
        try:
            self.sock.shutdown(_socket.SHUT_RDWR)
        except OSError:
            pass

    def fail(self, err: WardenError) -> None:
        with self.mu:
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
        for s in streams.values():
            s.end(err)

    def _read_loop(self) -> None:
        reader = FrameReader()
        err: WardenError
        try:
            while True:
                data = self.sock.recv(1 << 16)
                if not data:
                    err = ConnectionClosedError("the warden agent closed the connection")
                    break
                for body in reader.feed(data):
                    self._dispatch(decode_message(body))
        except ProtocolError as e:
            err = ConnectionClosedError(str(e))
        except OSError as e:
            err = ConnectionClosedError(f"connection to the warden agent failed: {e}")
        if self.fatal is not None:
            err = self.fatal
        elif self.client._resumable and self.client._secret:
            err = DisconnectedError(err.message + "; resuming the session")
        self.fail(err)
        try:
            self.sock.close()
        except OSError:
            pass
        self.client._conn_ended(self, err)

    def _dispatch(self, m: Message) -> None:
        if m.id != 0:
            with self.mu:
                p = self.pending.pop(m.id, None)
                if p is not None and p.stream is not None and m.error is None and m.result is not None:
                    # Register the stream before reading on: its first event
                    # may be the very next frame.
                    sub = m.result.get("sub") or m.result.get("watch")
                    if isinstance(sub, int) and sub > 0:
                        p.stream.sub = sub
                        p.stream.conn = self
                        self.streams[sub] = p.stream
            if p is not None and p.grant is not None and m.error is None and m.result is not None:
                key = m.result.get("key")
                if isinstance(key, str) and key:
                    self.client._hold(key)  # before anyone can see the grant
            if p is not None and not p.fut.done():
                p.fut.set_result(m)
            return
        if m.event:
            if m.sub:
                with self.mu:
                    s = self.streams.get(m.sub)
                if s is not None and s.push(m):
                    self.client._abandon(s)
            elif m.event == "session" and m.body is not None:
                self.client._session_event(self, SessionEvent.parse(m.body))
            return
        if m.error is not None:
            # A connection-level error: the agent closes the connection.
            self.fatal = error_from_wire(m.error)
            self.shutdown()


class PendingRequest:
    """A request sent with Client.submit, whose reply has not been read yet."""

    def __init__(self, client: "Client", conn: _Conn, rid: int, p: _Pending) -> None:
        self.client = client
        self.id = rid
        self._conn = conn
        self._p = p

    def cancel(self) -> None:
        """Asks the agent to cancel the request (its reply still comes)."""
        self.client._cancel(self._conn, self.id)

    def result(self, timeout: Optional[float] = None) -> Dict[str, Any]:
        """The request's result map; its error raised. TimeoutError after timeout."""
        try:
            m = self._p.fut.result(timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"no reply within {timeout} s") from None
        return result_of(m)


class Client:
    """A connection to the local warden agent, and the session it opened.

    Safe to use from many threads. Use :func:`warden.connect` to make one.
    """

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
        # that resumes pings whether or not it was, which costs next to nothing.
        self._heartbeat = heartbeat or resume is not None
        self._session_heartbeat = resume.heartbeat if resume is not None else heartbeat
        self._no_session = no_session
        self._protocol = protocol
        self._connect_timeout = connect_timeout
        self._session_timeout_ms = int(session_timeout * 1000) if session_timeout else 0
        self._on_state = on_session_state
        self.stream_backlog = stream_backlog
        self._ids = itertools.count(1)
        self._ids_lock = threading.Lock()
        self._cond = threading.Condition()
        self._conn: Optional[_Conn] = None
        self._state: str = ""
        self._terminal: Optional[WardenError] = None
        self._closing = False
        self._established = False  # the first hello succeeded
        self._secret = b""
        self._held: Set[str] = set()  # keys of the grants handed to the application
        self._reclaim: Set[Grant] = set()  # grant requests a dropped connection cut short
        self.session_id = 0
        self.agent = ""
        self.session_timeout = 0.0
        self._callbacks: "queue.SimpleQueue[Optional[str]]" = queue.SimpleQueue()
        self._callback_thread: Optional[threading.Thread] = None
        self._jobs: "queue.SimpleQueue[Optional[_StreamBuf]]" = queue.SimpleQueue()
        if on_session_state is not None:
            self._callback_thread = threading.Thread(target=self._run_callbacks,
                                                     name="warden-session-state", daemon=True)
            self._callback_thread.start()

        conn = self._open(connect_timeout)
        req = _ops.hello(protocol=protocol, session_timeout_ms=self._session_timeout_ms,
                         client=name, resumable=resumable, heartbeat=heartbeat,
                         no_session=no_session)
        if resume is not None:
            req.update(session_id=resume.session_id, secret=resume.secret)
        try:
            hello = self._handshake(conn, req, connect_timeout)
        except BaseException:
            self._stop_callbacks()
            raise
        self.hello = hello
        self.session_id = hello.session_id
        self.agent = hello.agent
        self.session_timeout = hello.session_timeout_ms / 1000.0
        self._secret = hello.secret
        self._resumable = resumable or (resume is not None and bool(hello.secret))
        conn.set_send_bound(self.session_timeout or connect_timeout)
        threading.Thread(target=self._run_jobs, name="warden-janitor", daemon=True).start()
        with self._cond:
            self._established = True
            installed = self._install(conn)
        if not installed:
            self._conn_ended(conn, conn.err or ConnectionClosedError("the connection ended"), force=True)
        if self._heartbeat and not no_session:
            threading.Thread(target=self._heartbeat_loop, name="warden-heartbeat", daemon=True).start()

    # -- connection and session ------------------------------------------------

    def _next_id(self) -> int:
        with self._ids_lock:
            return next(self._ids)

    def _open(self, timeout: float) -> _Conn:
        check_socket_owner(self.socket_path)
        s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(self.socket_path)
        except OSError as e:
            s.close()
            raise ConnectionClosedError(f"cannot connect to the warden agent at {self.socket_path}: {e}") from None
        s.settimeout(None)
        conn = _Conn(self, s)
        conn.set_send_bound(timeout)
        conn.start()
        return conn

    def _handshake(self, conn: _Conn, req: Dict[str, Any], timeout: Optional[float]) -> HelloResult:
        rid = self._next_id()
        frame = encode_frame({**req, "id": rid})
        try:
            p = conn.register(rid, None)
            conn.write(rid, p, frame, timeout)
            m = p.fut.result(timeout)
            return HelloResult.parse(result_of(m))
        except (concurrent.futures.TimeoutError, TimeoutError):
            conn.shutdown()
            raise ConnectionClosedError("the warden agent did not answer hello in time") from None
        except BaseException:
            conn.shutdown()
            raise

    def _install(self, conn: _Conn) -> bool:
        """Makes conn, whose hello succeeded, the client's connection and
        reports its state. False if its reader has ended meanwhile. Called
        with self._cond held."""
        with conn.mu:
            ended = conn.err is not None
        if ended:
            return False
        self._conn = conn
        if self._terminal is None:
            # The hello's success is the agent's confirmation; the connected
            # event that follows it is then not reported a second time.
            state = conn.session_state or SessionState.CONNECTED
            if state != self._state:
                self._emit(state)
        self._cond.notify_all()
        return True

    @property
    def state(self) -> str:
        """The last session state: connected, suspended, disconnected, lost or
        closed. ``connected`` as soon as connect() returns."""
        with self._cond:
            return self._state

    @property
    def closed(self) -> bool:
        """True once the session is lost or the client closed."""
        with self._cond:
            return self._terminal is not None

    def resume_token(self) -> Optional[ResumeToken]:
        """What ``connect(resume=...)`` needs to take this session up again
        from another process or connection; None when it is not resumable."""
        if not self._secret:
            return None
        return ResumeToken(self.session_id, self._secret, self._session_heartbeat)

    def wait_connected(self, timeout: Optional[float] = None) -> None:
        """Waits until the session is connected (after a resume, say).
        Raises SessionLostError / ConnectionClosedError if it ends first,
        TimeoutError if timeout seconds pass."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if self._terminal is not None:
                    raise fresh(self._terminal)
                if self._conn is not None and self._state == SessionState.CONNECTED:
                    return
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError("the session did not connect in time")
                self._cond.wait(left)

    def _emit(self, state: str) -> None:
        # Called with self._cond held.
        self._state = state
        self._cond.notify_all()
        if self._callback_thread is not None:
            self._callbacks.put(state)

    def _run_callbacks(self) -> None:
        cb = self._on_state
        while True:
            st = self._callbacks.get()
            if st is None or cb is None:
                return
            try:
                cb(st)
            except Exception:  # noqa: BLE001 - an app callback must not kill the thread
                pass

    def _stop_callbacks(self) -> None:
        if self._callback_thread is not None:
            self._callbacks.put(None)

    def _session_event(self, conn: _Conn, ev: SessionEvent) -> None:
        state: str = ev.state
        for s in SessionState:
            if s.value == ev.state:
                state = s
        if state == SessionState.LOST:
            self._end(SessionLostError("the warden agent reports the session lost"), SessionState.LOST)
            return
        with self._cond:
            conn.session_state = state
            # A connection not yet installed (its hello just succeeded, or a
            # resume is reclaiming) reports its state when it is installed.
            if self._terminal is None and self._conn is conn and state != self._state:
                self._emit(state)

    def _end(self, err: WardenError, state: SessionState) -> None:
        with self._cond:
            if self._terminal is not None:
                return
            self._terminal = err
            conn, self._conn = self._conn, None
            self._emit(state)
        self._stop_callbacks()
        self._jobs.put(None)
        if conn is not None:
            conn.fail(err)
            conn.shutdown()

    def _conn_ended(self, conn: _Conn, err: WardenError, force: bool = False) -> None:
        with self._cond:
            if not self._established or self._closing or self._terminal is not None:
                return
            if self._conn is not conn and not force:
                return  # not the session's connection: a resume attempt that failed
            resume = self._resumable and bool(self._secret)
            if resume:
                self._conn = None
                self._emit(SessionState.DISCONNECTED)
        if resume:
            threading.Thread(target=self._resume_loop, args=(time.monotonic(),),
                             name="warden-resume", daemon=True).start()
        else:
            self._end(SessionLostError(f"the connection ended, and the session with it: {err.message}"),
                      SessionState.LOST)

    def _resume_loop(self, dropped_at: float) -> None:
        deadline = dropped_at + self.session_timeout
        delay = 0.02
        while True:
            with self._cond:
                if self._terminal is not None:
                    return
            left = deadline - time.monotonic()
            if left <= 0:
                self._end(SessionLostError("could not resume the session within its timeout"), SessionState.LOST)
                return
            conn: Optional[_Conn] = None
            try:
                conn = self._open(min(left, 5.0))
                self._handshake(conn, _ops.hello(protocol=self._protocol, session_id=self.session_id,
                                                 secret=self._secret), left)
                conn.set_send_bound(self.session_timeout)
                while True:
                    # Before the session is reported connected and before any
                    # call goes through: remove what the cut-short grant
                    # requests left queued.
                    self._reclaim_on(conn, deadline)
                    with self._cond:
                        if self._terminal is not None:
                            conn.shutdown()
                            return
                        if self._reclaim:
                            continue  # more came meanwhile
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
                with self._cond:
                    self._cond.wait(min(delay, max(deadline - time.monotonic(), 0.0)))
                delay = min(delay * 2, 0.5)
                continue
            # The resumed connection ended before it was installed: the agent
            # started the session's timeout again when it closed.
            deadline = time.monotonic() + self.session_timeout

    def _reclaim_on(self, conn: _Conn, deadline: float) -> None:
        """Deletes the nodes this session owns under the paths of grant
        requests a dropped connection cut short, except those it handed to
        the application. Raises on a connection error (a failed attempt)."""
        with self._cond:
            todo = sorted(self._reclaim)
        for grant in todo:
            for parent, prefix in candidate_dirs(grant):
                try:
                    names = ChildrenResult.parse(
                        self._call_on(conn, _ops.children(parent), _left(deadline))).children
                except NoNodeError:
                    continue
                for name in names:
                    if not name.startswith(prefix):
                        continue
                    node = _join(parent, name)
                    with self._cond:
                        if node in self._held:
                            continue
                    r = ExistsResult.parse(self._call_on(conn, _ops.exists(node), _left(deadline)))
                    if not r.exists or r.stat.ephemeral_owner != self.session_id:
                        continue
                    with self._cond:
                        if node in self._held:
                            continue
                    try:
                        self._call_on(conn, _ops.delete(node, ANY_VERSION), _left(deadline))
                    except NoNodeError:
                        pass
            with self._cond:
                self._reclaim.discard(grant)

    def _note_reclaim(self, grants: Sequence[Grant]) -> None:
        with self._cond:
            if self._resumable and self._secret and self._terminal is None:
                self._reclaim.update(grants)

    def _hold(self, key: str) -> None:
        with self._cond:
            self._held.add(key)

    def _release(self, req: Mapping[str, Any], key: str, grant: Grant, *, quiet: bool = False) -> None:
        """Releases a held grant by key (unlock, semaphore_release, resign).
        quiet (a with block's exit, an undo): a session that has ended holds
        nothing any more, so that is no error; and if the connection dropped,
        the resume removes the node instead."""
        try:
            self._call(req)
        except DisconnectedError:
            if not quiet:
                raise
            with self._cond:
                self._held.discard(key)
                live = self._conn is not None
                if not live:
                    self._reclaim.add(grant)
            if live:  # the resume completed meanwhile
                self._undo(req)
            return
        except ConnectionClosedError:
            with self._cond:
                self._held.discard(key)
            if not quiet:
                raise
            return
        except NotHeldError:
            with self._cond:
                self._held.discard(key)
            raise
        with self._cond:
            self._held.discard(key)

    def _heartbeat_loop(self) -> None:
        interval = max(self.session_timeout / 3.0, 0.01)
        while True:
            with self._cond:
                self._cond.wait(interval)
                if self._terminal is not None:
                    return
                conn = self._conn
            if conn is not None:
                try:
                    self._call_on(conn, _ops.ping(), timeout=self.session_timeout)
                except (WardenError, TimeoutError):
                    pass

    def _abandon(self, buf: _StreamBuf) -> None:
        """Ends a stream the application dropped or could not keep up with:
        queued for the janitor thread (safe from a finalizer or the reader)."""
        self._jobs.put(buf)

    def _run_jobs(self) -> None:
        while True:
            buf = self._jobs.get()
            if buf is None:
                return
            try:
                buf.close(timeout=10.0)
            except Exception:  # noqa: BLE001 - best effort
                pass

    def close(self) -> None:
        """Ends the connection, and with it the session: its ephemeral nodes go
        and its locks pass on (a resumable session is only detached until its
        timeout). Safe to call twice."""
        self._end(ConnectionClosedError("the client was closed"), SessionState.CLOSED)

    def close_wait(self, timeout: Optional[float] = 10.0) -> None:
        """Closes, waiting until the agent has written the session's accepted
        progress reports and closed the session."""
        with self._cond:
            conn = self._conn
            self._closing = True
        if conn is not None:
            try:
                conn.sock.shutdown(_socket.SHUT_WR)
                conn.thread.join(timeout)
            except OSError:
                pass
        self.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests ----------------------------------------------------------------

    def _live_conn(self) -> _Conn:
        with self._cond:
            if self._terminal is not None:
                raise fresh(self._terminal)
            if self._conn is None:
                raise DisconnectedError("the connection dropped; the session is being resumed")
            return self._conn

    def _send_on(self, conn: _Conn, req: Mapping[str, Any],
                 stream: Optional[_StreamBuf] = None) -> Tuple[int, _Pending]:
        """Sends a request whose reply nobody waits for in this call. On any
        error before the frame was handed over, the entry is gone."""
        rid = self._next_id()
        frame = encode_frame({**req, "id": rid})
        p = conn.register(rid, stream, grant_of(req))
        try:
            conn.write(rid, p, frame)
        except BaseException:
            if not p.sent:
                conn.forget(rid)
            raise
        return rid, p

    def _cancel(self, conn: _Conn, rid: int) -> None:
        try:
            self._send_on(conn, _ops.cancel(rid))
        except (WardenError, TimeoutError):
            pass

    def _call_on(self, conn: _Conn, req: Mapping[str, Any], timeout: Optional[float] = None) -> Dict[str, Any]:
        rid = self._next_id()
        frame = encode_frame({**req, "id": rid})
        p = conn.register(rid, None)
        try:
            conn.write(rid, p, frame, timeout)
            m = p.fut.result(timeout)
        except concurrent.futures.TimeoutError:
            self._cancel(conn, rid)
            conn.forget(rid)
            raise TimeoutError(f"no reply from the warden agent within {timeout} s") from None
        except (WardenError, TimeoutError):
            raise
        except BaseException:
            if p.sent:
                self._cancel(conn, rid)
            conn.forget(rid)
            raise
        return result_of(m)

    def _call(self, req: Mapping[str, Any], timeout: Optional[float] = None) -> Dict[str, Any]:
        return self._call_on(self._live_conn(), req, timeout)

    def _grant(self, req: Mapping[str, Any], undo: Optional[Callable[[Dict[str, Any]], None]] = None,
               stream: Optional[_StreamBuf] = None) -> Dict[str, Any]:
        """Sends a request whose success cannot be taken back (a grant). If the
        caller is interrupted while waiting, the request is canceled at the
        agent and its own reply awaited; a success that raced the cancel is
        undone with undo. Interrupted before the frame was handed over, the
        request is simply dropped."""
        conn = self._live_conn()
        rid = self._next_id()
        frame = encode_frame({**req, "id": rid})
        p = conn.register(rid, stream, grant_of(req))
        try:
            conn.write(rid, p, frame)
            m = p.fut.result()
        except WardenError:
            raise
        except BaseException:
            if not p.sent:
                conn.forget(rid)
                raise
            self._cancel(conn, rid)
            try:
                late = p.fut.result(_CANCEL_REPLY_TIMEOUT)
            except BaseException:  # noqa: BLE001 - the original interruption wins
                conn.forget(rid)
                raise
            if late.error is None and late.result is not None and undo is not None:
                try:
                    undo(late.result)
                except Exception:  # noqa: BLE001
                    pass
            raise
        return result_of(m)

    def request(self, op: str, **fields: Any) -> Dict[str, Any]:
        """Sends any request and returns its raw result map: a low-level escape
        hatch for ops this client has no method for."""
        return self._call({"op": op, **fields})

    def submit(self, op: str, **fields: Any) -> "PendingRequest":
        """Sends any request without waiting for its reply (low level)."""
        conn = self._live_conn()
        rid, p = self._send_on(conn, {"op": op, **fields})
        return PendingRequest(self, conn, rid, p)

    def _open_stream(self, req: Mapping[str, Any]) -> Tuple[_StreamBuf, Dict[str, Any]]:
        buf = _StreamBuf(self, self.stream_backlog)

        def undo(result: Dict[str, Any]) -> None:
            buf.close()

        r = self._grant(req, undo, stream=buf)
        if buf.conn is None:  # the reply carried no stream id
            raise ConnectionClosedError("the agent started no stream")
        return buf, r

    # -- znodes ------------------------------------------------------------------

    def create(self, path: str, data: bytes = b"", *, ephemeral: bool = False, sequential: bool = False,
               container: bool = False) -> str:
        """Creates a node; returns the path created (with the sequence suffix)."""
        r = self._call(_ops.create(path, data, ephemeral=ephemeral, sequential=sequential, container=container))
        return CreateResult.parse(r).path

    def get(self, path: str) -> Tuple[bytes, Stat]:
        """A node's data and Stat. NoNodeError if it does not exist."""
        r = GetResult.parse(self._call(_ops.get(path)))
        return r.data, r.stat

    def set(self, path: str, data: bytes, version: int = ANY_VERSION) -> Stat:
        """Replaces a node's data if its version is version (or ANY_VERSION)."""
        r = self._call(_ops.set_(path, data, version))
        return Stat.parse(r.get("stat") or {})

    def delete(self, path: str, version: int = ANY_VERSION) -> None:
        """Deletes a childless node if its version is version (or ANY_VERSION)."""
        self._call(_ops.delete(path, version))

    def exists(self, path: str) -> Optional[Stat]:
        """The node's Stat, or None when it does not exist."""
        r = ExistsResult.parse(self._call(_ops.exists(path)))
        return r.stat if r.exists else None

    def children(self, path: str) -> List[str]:
        """A node's children's names, in byte order."""
        return ChildrenResult.parse(self._call(_ops.children(path))).children

    def get_w(self, path: str) -> Tuple[bytes, Stat, Watch]:
        """get, with a one-shot watch fired when the data changes or the node goes."""
        buf, res = self._open_stream(_ops.get(path, watch=True))
        r = GetResult.parse(res)
        return r.data, r.stat, Watch(buf)

    def exists_w(self, path: str) -> Tuple[Optional[Stat], Watch]:
        """exists, with a one-shot watch fired when the node is created, changed or deleted."""
        buf, res = self._open_stream(_ops.exists(path, watch=True))
        r = ExistsResult.parse(res)
        return (r.stat if r.exists else None), Watch(buf)

    def children_w(self, path: str) -> Tuple[List[str], Watch]:
        """children, with a one-shot watch fired when a child comes or goes."""
        buf, res = self._open_stream(_ops.children(path, watch=True))
        return ChildrenResult.parse(res).children, Watch(buf)

    def multi(self, ops: Sequence[Mapping[str, Any]]) -> List[OpResult]:
        """Applies ops (built with warden.Op) all or nothing. On failure the
        error's index names the op."""
        return parse_multi(self._call(_ops.multi(ops)))

    def sync(self) -> int:
        """Waits until this agent has applied every write committed before the
        call; returns the zxid reached."""
        r = self._call(_ops.sync())
        z = r.get("zxid")
        return z if isinstance(z, int) else 0

    def ping(self, timeout: Optional[float] = None) -> None:
        self._call(_ops.ping(), timeout)

    def status(self) -> Status:
        return Status.parse(self._call(_ops.status()))

    def members(self) -> List[AgentMember]:
        """The cluster's agents."""
        return parse_members(self._call(_ops.members()))

    def sessions(self) -> List[SessionInfo]:
        """The cluster's open sessions, by id, as this agent's copy of the
        tree has them (this client's own included). Needs read access to
        "/"; works on a connection without a session."""
        return parse_sessions(self._call(_ops.sessions()))

    def subscribe(self, path: str, *, recursive: bool = False, children: bool = False,
                  scope: Optional[str] = None, from_zxid: int = 0) -> Subscription:
        """Every change under path, in order: the node itself, or with
        recursive=True the node and everything below, or with children=True
        its direct children. from_zxid resumes after that zxid."""
        sc = scope if scope is not None else ("subtree" if recursive else "children" if children else "")
        buf, _ = self._open_stream(_ops.subscribe(path, str(sc), from_zxid))
        return Subscription(buf, from_zxid)


    def lock_check(self, path: str, token: int) -> bool:
        """Whether token is the fencing token of the lock's current holder."""
        return self._call(_ops.lock_check(path, token)).get("held") is True

    # -- locks -------------------------------------------------------------------

    def _lease(self, req: Mapping[str, Any], path: str) -> Lease:
        def undo(r: Dict[str, Any]) -> None:
            key = LeaseResult.parse(r).key
            self._release(_ops.unlock(key), key, ("lock", path), quiet=True)

        r = self._grant(req, undo=undo)
        lr = LeaseResult.parse(r)
        return Lease(self, path, lr.key, lr.token)

    def _undo(self, req: Mapping[str, Any]) -> None:
        try:
            self._call(req, 10.0)
        except (WardenError, TimeoutError):
            pass

    def lock(self, path: str, timeout: Optional[float] = None) -> Lease:
        """Acquires the lock at path, waiting in line (first come, first served).
        timeout (seconds; None waits forever) is passed to the agent as the
        wait: OperationTimeoutError when it runs out. If interrupted while
        waiting, the request is canceled (and a lock granted meanwhile
        released)."""
        return self._lease(_ops.lock(path, _ops.wait_ms(timeout)), path)

    def try_lock(self, path: str) -> Optional[Lease]:
        """The lock if it is free now, else None."""
        try:
            return self.lock(path, timeout=0)
        except OperationTimeoutError:
            return None

    def unlock(self, key: str) -> None:
        """Releases a lease by its key."""
        self._release(_ops.unlock(key), key, ("lock", key.rsplit("/", 1)[0] or "/"))

    def read_lock(self, path: str, timeout: Optional[float] = None) -> Lease:
        """The lock at path for reading: shared with readers, never with a writer."""
        return self._lease(_ops.read_lock(path, _ops.wait_ms(timeout)), path)

    def write_lock(self, path: str, timeout: Optional[float] = None) -> Lease:
        """The lock at path for writing (the same as lock)."""
        return self._lease(_ops.write_lock(path, _ops.wait_ms(timeout)), path)

    def try_read_lock(self, path: str) -> Optional[Lease]:
        try:
            return self.read_lock(path, timeout=0)
        except OperationTimeoutError:
            return None

    def try_write_lock(self, path: str) -> Optional[Lease]:
        try:
            return self.write_lock(path, timeout=0)
        except OperationTimeoutError:
            return None

    def semaphore(self, path: str, n: int) -> Semaphore:
        """The semaphore at path with n leases."""
        return Semaphore(self, path, n)

    # -- elections ---------------------------------------------------------------

    def election(self, name: str) -> Election:
        """The election called name (under /warden/elections), or at a path."""
        return Election(self, name)

    def leader(self, path: str) -> Leader:
        return Leader.parse(self._call(_ops.leader(_ops.election_path(path))))

    def observe(self, path: str) -> Stream[Leader]:
        """The election's current leader, then each change (``leader.none``
        when nobody leads)."""
        buf, _ = self._open_stream(_ops.observe(_ops.election_path(path)))
        return Stream(buf, _unwrap("leader", Leader.parse))

    # -- progress ----------------------------------------------------------------

    def task(self, job: str, task: str) -> Task:
        """The task of job to report progress for. Nothing is sent until a report."""
        return Task(self, job, task)

    def progress(self, job: str) -> List[TaskReport]:
        """Every live task of job with its latest report."""
        return ProgressResult.parse(self._call(_ops.progress_get(job))).tasks

    def watch_progress(self, job: str) -> Stream[TaskEvent]:
        """The job's current tasks, then every report and every task's end."""
        buf, _ = self._open_stream(_ops.progress_watch(job))
        return Stream(buf, _unwrap("task", TaskEvent.parse))

    # -- groups ------------------------------------------------------------------

    def join(self, group: str, member: str, data: bytes = b"") -> Membership:
        """Joins group as member (NodeExistsError if another session holds the id)."""
        r = self._grant(_ops.join(group, member, data), undo=lambda r: self._undo(_ops.leave(group, member)))
        lr = LeaseResult.parse(r)
        return Membership(self, group, member, lr.key, lr.token)

    def group_members(self, group: str) -> List[GroupMember]:
        return GroupResult.parse(self._call(_ops.members_of(group))).members

    def watch_group(self, group: str) -> Stream[MemberEvent]:
        """The group's current members, then every join, change and leave."""
        buf, _ = self._open_stream(_ops.group_watch(group))
        return Stream(buf, _unwrap("member", MemberEvent.parse))

    # -- other recipes -----------------------------------------------------------

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


def connect(socket: Optional[str] = None, *, session_timeout: Optional[float] = None, name: str = "",
            resumable: bool = False, heartbeat: bool = False, resume: Optional[ResumeToken] = None,
            no_session: bool = False, on_session_state: Optional[StateCallback] = None,
            connect_timeout: float = 30.0, protocol: int = PROTOCOL_VERSION,
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
    protocol: the protocol version to ask for (tests only).
    """
    return Client(socket, session_timeout=session_timeout, name=name, resumable=resumable,
                  heartbeat=heartbeat, resume=resume, no_session=no_session,
                  on_session_state=on_session_state, connect_timeout=connect_timeout, protocol=protocol,
                  stream_backlog=stream_backlog)
