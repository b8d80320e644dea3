"""Streams of events (subscriptions, watches, observers) of the blocking client."""

from __future__ import annotations

import queue
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Callable, Generic, Iterator, Mapping, Optional, TypeVar, Union

from . import _ops
from ._wire import Message
from .errors import BadArgumentsError, ConnectionClosedError, StreamClosedError, StreamOverflowError, WardenError
from .types import ChangeEvent, WatchEvent

if TYPE_CHECKING:
    from .client import Client, _Conn

T = TypeVar("T")


def fresh(err: WardenError) -> WardenError:
    """A new exception like err, so one error can be raised by many callers."""
    e = type(err)(err.message, index=err.index)
    e.code = err.code
    return e


DEFAULT_STREAM_BACKLOG = 100_000
"""The most events a stream holds unread before it ends with StreamOverflowError."""


def overflow_error(backlog: int) -> StreamOverflowError:
    return StreamOverflowError(f"over {backlog} events unread: the application did not keep up; "
                               "subscribe again (a subscription from its last_zxid)")


class _End:
    __slots__ = ("err",)

    def __init__(self, err: WardenError) -> None:
        self.err = err


class _StreamBuf:
    """One stream's events, queued by the reader thread, read by the app."""

    def __init__(self, client: "Client", backlog: int = DEFAULT_STREAM_BACKLOG) -> None:
        self.client = client
        self.conn: Optional[_Conn] = None
        self.sub = 0
        self.backlog = backlog
        self.q: "queue.SimpleQueue[Union[Message, _End]]" = queue.SimpleQueue()
        self.ended: Optional[WardenError] = None
        self.closed = False
        self.abandoned = False  # the application dropped the stream or fell behind
        self.lock = threading.Lock()

    def push(self, m: Message) -> bool:
        """Queues an event. True when this event overflowed the backlog: the
        stream must then be ended at the agent (events after that are dropped)."""
        if self.abandoned:
            return False
        if self.q.qsize() >= self.backlog:
            self.abandoned = True
            self.overflow()
            return True
        self.q.put(m)
        return False

    def overflow(self) -> None:
        # Frees what is queued at once; the reader gets the error next.
        try:
            while True:
                self.q.get_nowait()
        except queue.Empty:
            pass
        self.q.put(_End(overflow_error(self.backlog)))

    def end(self, err: WardenError) -> None:
        self.q.put(_End(err))

    def get(self, timeout: Optional[float]) -> Message:
        if self.ended is not None:
            raise fresh(self.ended)
        try:
            item = self.q.get(timeout=timeout) if timeout is not None else self.q.get()
        except queue.Empty:
            raise TimeoutError(f"no event within {timeout} s") from None
        if isinstance(item, _End):
            self.ended = item.err
            raise fresh(item.err)
        return item

    def forget(self) -> None:
        """Drops a stream the agent has ended (a fired one-shot watch)."""
        with self.lock:
            self.closed = True
        if self.conn is not None:
            self.conn.drop_stream(self.sub)

    def abandon(self) -> None:
        """The application dropped the stream without closing it (a
        finalizer): have the client end it at the agent. Takes no lock."""
        if self.closed or self.abandoned:
            return
        self.abandoned = True
        self.client._abandon(self)

    def close(self, timeout: Optional[float] = None) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
        conn = self.conn
        if conn is None:
            return
        live = conn.drop_stream(self.sub)
        self.end(StreamClosedError("stream closed"))
        if not live:
            return
        try:
            self.client._call_on(conn, _ops.unsubscribe(self.sub), timeout)
        except (BadArgumentsError, ConnectionClosedError, TimeoutError):
            pass  # the stream, or its connection, had already ended


def _finalizer(owner: object, buf: Any) -> "weakref.finalize[Any, Any]":
    """Ends buf's stream at the agent when owner, the application's handle
    on it, is dropped unclosed."""
    f = weakref.finalize(owner, buf.abandon)
    f.atexit = False
    return f


class Stream(Generic[T]):
    """An ordered stream of events. Iterate it, or call :meth:`next`.

    Closing it (``close()``, leaving its ``with`` block, or breaking out of a
    ``for`` loop over it) ends it at the agent. When the connection ends the
    stream raises ConnectionClosedError (or SessionLostError) once the events
    already received have been read.
    """

    def __init__(self, buf: _StreamBuf, parse: Callable[[Message], Optional[T]]) -> None:
        self._buf = buf
        self._parse = parse
        self._finalizer = _finalizer(self, buf)

    @property
    def sub(self) -> int:
        """The stream's id at the agent."""
        return self._buf.sub

    def next(self, timeout: Optional[float] = None) -> T:
        """The next event. Raises TimeoutError if none comes within timeout
        seconds, StreamClosedError after close()."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            m = self._buf.get(left)
            v = self._parse(m)
            if v is not None:
                return self._seen(v)

    def _seen(self, v: T) -> T:
        return v

    def __iter__(self) -> Iterator[T]:
        try:
            while True:
                try:
                    v = self.next()
                except StreamClosedError:
                    return
                yield v
        finally:
            self.close()

    def close(self) -> None:
        """Ends the stream (sends unsubscribe). Safe to call twice."""
        self._finalizer.detach()
        self._buf.close()

    def __enter__(self) -> "Stream[T]":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _unwrap(kind: str, parse: Callable[[Mapping[str, Any]], T]) -> Callable[[Message], Optional[T]]:
    def f(m: Message) -> Optional[T]:
        if m.event != kind or m.body is None:
            return None
        return parse(m.body)
    return f


class Subscription(Stream[ChangeEvent]):
    """The changes under a path, in zxid order, never skipped or reordered.

    It starts with the current state (``resync`` events, then one
    ``synced``) unless it resumed from a zxid the agent still has history
    for. ``last_zxid`` is where a new subscription should resume
    (``from_zxid=sub.last_zxid``).
    """

    def __init__(self, buf: _StreamBuf, from_zxid: int) -> None:
        super().__init__(buf, _unwrap("change", ChangeEvent.parse))
        self.last_zxid = from_zxid

    def _seen(self, v: ChangeEvent) -> ChangeEvent:
        if v.zxid > self.last_zxid:
            self.last_zxid = v.zxid
        return v

    def __enter__(self) -> "Subscription":
        return self


class Watch:
    """A one-shot watch set by get_w, exists_w or children_w."""

    def __init__(self, buf: _StreamBuf) -> None:
        self._buf = buf
        self._fired: Optional[WatchEvent] = None
        self._finalizer = _finalizer(self, buf)

    def wait(self, timeout: Optional[float] = None) -> WatchEvent:
        """The event that fired the watch (the same one again when called after
        it fired). TimeoutError if none within timeout."""
        if self._fired is not None:
            return self._fired
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            m = self._buf.get(left)
            if m.event == "watch" and m.body is not None:
                self._fired = WatchEvent.parse(m.body)
                self._finalizer.detach()
                self._buf.forget()  # a watch fires once; the agent has ended it
                return self._fired

    def stop(self) -> None:
        """Removes a watch that has not fired."""
        self._finalizer.detach()
        self._buf.close()
