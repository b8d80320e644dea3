"""Streams of the blocking client. Their events are read from a thread-safe
queue the engine fills; closing one runs on the client's loop."""

from __future__ import annotations

import time
import weakref
from typing import Any, Callable, Generic, Iterator, Mapping, Optional, TypeVar

from ._loop import Blocking
from ._stream import StreamCore, ThreadSink, config_update, fresh
from ._wire import Message
from .aio import AsyncClient
from .errors import StreamClosedError
from .types import ChangeEvent, ConfigUpdate, WatchEvent

T = TypeVar("T")


Runner = Blocking[AsyncClient]  # the blocking client, as its streams see it


def _finalizer(owner: object, client: Runner, core: StreamCore) -> "weakref.finalize[Any, Any]":
    """Ends core's stream at the agent when owner, the application's handle
    on it, is dropped unclosed."""
    f = weakref.finalize(owner, client._a._abandon, core)
    f.atexit = False
    return f


def _next(core: StreamCore, timeout: Optional[float]) -> Message:
    if core.ended is not None:
        raise fresh(core.ended)
    assert isinstance(core.sink, ThreadSink)
    return core.take(core.sink.get(timeout))


def unwrap(kind: str, parse: Callable[[Mapping[str, Any]], T]) -> Callable[[Message], Optional[T]]:
    """A parser of the events called kind."""
    def f(m: Message) -> Optional[T]:
        return parse(m.body) if m.event == kind and m.body is not None else None
    return f


class Stream(Generic[T]):
    """An ordered stream of events. Iterate it, or call :meth:`next`.

    Closing it (``close()``, leaving its ``with`` block, or breaking out of a
    ``for`` loop over it) ends it at the agent. After a resumed session's
    connection dropped, it carries on once the session is resumed. When the
    session ends the stream raises SessionLostError (ConnectionClosedError
    after close()) once the events already received have been read.
    """

    def __init__(self, client: Runner, core: StreamCore, parse: Callable[[Message], Optional[T]]) -> None:
        self._client = client
        self._core = core
        self._parse = parse
        self._finalizer = _finalizer(self, client, core)

    @property
    def sub(self) -> int:
        """The stream's id at the agent (on its present connection)."""
        return self._core.sub

    def next(self, timeout: Optional[float] = None) -> T:
        """The next event. Raises TimeoutError if none comes within timeout
        seconds, StreamClosedError after close()."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            v = self._parse(_next(self._core, left))
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
        self._client._quiet(self._client._a._close_stream(self._core))

    def __enter__(self) -> "Stream[T]":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Subscription(Stream[ChangeEvent]):
    """The changes under a path, in zxid order, never skipped or reordered.

    It starts with the current state (``resync`` events, then one
    ``synced``) unless it resumed from a zxid the agent still has history
    for. ``last_zxid`` is where a new subscription should resume
    (``from_zxid=sub.last_zxid``).
    """

    def __init__(self, client: Runner, core: StreamCore, from_zxid: int) -> None:
        super().__init__(client, core, unwrap("change", ChangeEvent.parse))
        self.last_zxid = from_zxid

    def _seen(self, v: ChangeEvent) -> ChangeEvent:
        if v.zxid > self.last_zxid:
            self.last_zxid = v.zxid
        return v

    def __enter__(self) -> "Subscription":
        return self


def _config(m: Message) -> Optional[ConfigUpdate]:
    return config_update(m.body) if m.event == "change" and m.body is not None else None


class ConfigSubscription(Stream[ConfigUpdate]):
    """A config's updates, in order. Iterate it, or call next(). ``last``
    is the zxid to resume from."""

    def __init__(self, client: Runner, core: StreamCore, from_zxid: int) -> None:
        super().__init__(client, core, _config)
        self.last = from_zxid

    def _seen(self, v: ConfigUpdate) -> ConfigUpdate:
        self.last = v.zxid
        return v

    def __enter__(self) -> "ConfigSubscription":
        return self


class Watch:
    """A one-shot watch set by get_w, exists_w or children_w."""

    def __init__(self, client: Runner, core: StreamCore) -> None:
        self._client = client
        self._core = core
        self._fired: Optional[WatchEvent] = None
        self._finalizer = _finalizer(self, client, core)

    def wait(self, timeout: Optional[float] = None) -> WatchEvent:
        """The event that fired the watch (the same one again when called after
        it fired). TimeoutError if none within timeout."""
        if self._fired is not None:
            return self._fired
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            m = _next(self._core, left)
            if m.event == "watch" and m.body is not None:
                self._fired = WatchEvent.parse(m.body)
                self._finalizer.detach()
                return self._fired

    def stop(self) -> None:
        """Removes a watch that has not fired."""
        self._finalizer.detach()
        self._client._quiet(self._client._a._close_stream(self._core))

