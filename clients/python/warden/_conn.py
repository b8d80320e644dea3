"""One connection to the agent: its socket, its reader task, its pending
requests and the streams running on it (protocol section 11.1).

The reader never runs application code: it completes each reply's future,
hands each stream event to its stream, and reports session events, grants
and its own end to its host, the engine.
"""

from __future__ import annotations

import asyncio
from typing import Any, Dict, Optional, Protocol

from ._stream import StreamCore, fresh
from ._wire import FrameReader, Message, ProtocolError, decode_message
from .errors import ConnectionClosedError, WardenError, error_from_wire
from .types import SessionEvent

# The grants whose keys a resuming hello lists in holds: places in line
# the application holds (group memberships and queue items are not).
HOLD_OPS = frozenset(("lock", "read_lock", "write_lock", "semaphore_acquire", "campaign"))


class Host(Protocol):
    def _session_event(self, conn: "Conn", ev: SessionEvent) -> None: ...

    def _granted(self, op: str, result: Dict[str, Any]) -> None: ...

    def _deliver(self, conn: "Conn", core: StreamCore, m: Message) -> None: ...

    def _conn_ended(self, conn: "Conn", err: WardenError) -> None: ...


class Pending:
    __slots__ = ("fut", "op", "stream", "sent")

    def __init__(self, fut: "asyncio.Future[Message]", op: str, stream: Optional[StreamCore]) -> None:
        self.fut = fut
        self.op = op
        self.stream = stream
        self.sent = False  # the whole frame was handed to the transport


class Conn:
    def __init__(self, host: Host, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 send_bound: float) -> None:
        self.host = host
        self.reader = reader
        self.writer = writer
        self.wlock = asyncio.Lock()
        self.pending: Dict[int, Pending] = {}
        self.streams: Dict[int, StreamCore] = {}  # sub id -> stream, until the agent has ended it
        self.err: Optional[WardenError] = None
        self.fatal: Optional[WardenError] = None  # a connection-level error from the agent
        self.session_state = ""  # the last session state the agent sent on this connection
        self.send_bound = max(send_bound, 1.0)  # seconds a write may wait for the agent to read
        self.task: "asyncio.Task[None]" = asyncio.get_running_loop().create_task(self._read_loop())

    def register(self, rid: int, op: str, stream: Optional[StreamCore] = None) -> Pending:
        if self.err is not None:
            raise fresh(self.err)
        p = Pending(asyncio.get_running_loop().create_future(), op, stream)
        self.pending[rid] = p
        return p

    async def write(self, rid: int, p: Pending, frame: bytes) -> None:
        """Hands one whole frame to the transport (p.sent), then waits for
        the buffer to drain, at most send_bound: an agent that does not read
        for that long has a broken connection."""
        try:
            async with self.wlock:
                if self.err is not None:
                    raise fresh(self.err)
                self.writer.write(frame)
                p.sent = True
                await asyncio.wait_for(self.writer.drain(), self.send_bound)
        except asyncio.TimeoutError:
            self.shutdown()
            raise ConnectionClosedError(f"the warden agent read nothing for {self.send_bound} s") from None
        except (OSError, RuntimeError) as e:
            self.shutdown()
            raise ConnectionClosedError(f"write to the warden agent failed: {e}") from None

    def shutdown(self) -> None:
        try:
            self.writer.close()
        except (OSError, RuntimeError):
            pass

    def fail(self, err: WardenError) -> None:
        """Ends the connection's requests with err (its streams are the host's)."""
        if self.err is None:
            self.err = err
        pending, self.pending = self.pending, {}
        for p in pending.values():
            if not p.fut.done():
                p.fut.set_exception(fresh(err))
                p.fut.exception()  # retrieved: its caller may be gone

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
        self.shutdown()
        self.host._conn_ended(self, err)

    def _dispatch(self, m: Message) -> None:
        if m.id != 0:
            p = self.pending.pop(m.id, None)
            if p is None:
                return  # a reply nobody waits for any more
            if m.error is None and m.result is not None:
                if p.stream is not None:
                    # Registered before reading on: its first event may be the next frame.
                    sub = m.result.get("sub") or m.result.get("watch")
                    if isinstance(sub, int) and sub > 0:
                        p.stream.conn, p.stream.sub = self, sub
                        self.streams[sub] = p.stream
                if p.op in HOLD_OPS:
                    self.host._granted(p.op, m.result)  # held before anyone can see the grant
            if not p.fut.done():
                p.fut.set_result(m)
            return
        if m.event:
            if m.sub:
                s = self.streams.get(m.sub)
                if s is not None:
                    self.host._deliver(self, s, m)
            elif m.event == "session" and m.body is not None:
                self.host._session_event(self, SessionEvent.parse(m.body))
            return
        if m.error is not None:
            # A connection-level error: the agent closes the connection.
            self.fatal = error_from_wire(m.error)
            self.shutdown()


def result_of(m: Message) -> Dict[str, Any]:
    """A reply's result, or its error raised as the matching exception."""
    if m.error is not None:
        raise error_from_wire(m.error)
    return m.result if m.result is not None else {}
