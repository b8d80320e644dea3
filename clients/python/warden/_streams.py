"""Streams of the blocking client: each is the blocking face of an asyncio
stream (``warden._astreams``) opened on the client's loop, whose events the
engine puts in a thread-safe queue that the application's threads read
without going through the loop. Closing one runs on the loop."""

from __future__ import annotations

from typing import Any, Generic, Iterator, Optional, TypeVar

from ._astreams import AsyncConfigSubscription, AsyncStream, AsyncSubscription, AsyncWatch
from ._loop import Blocking
from ._stream import StreamCore, deadline, left
from .errors import StreamClosedError
from .types import ChangeEvent, ConfigUpdate, WatchEvent

T = TypeVar("T")
S = TypeVar("S", bound="Stream[Any]")

Runner = Blocking[Any]  # whose loop runs the stream: the blocking client or a recipe of it


class Stream(Generic[T]):
    """An ordered stream of events. Iterate it, or call :meth:`next`.

    Closing it (``close()``, leaving its ``with`` block, or breaking out of a
    ``for`` loop over it) ends it at the agent. After a resumed session's
    connection dropped, it carries on once the session is resumed. When the
    session ends the stream raises SessionLostError (ConnectionClosedError
    after close()) once the events already received have been read.
    """

    def __init__(self, client: Runner, a: AsyncStream[T]) -> None:
        self._client = client
        self._a = a  # dropped unclosed, it ends the stream at the agent
        if a._core is None:
            client._run(a.open())

    @property
    def _core(self) -> StreamCore:
        assert self._a._core is not None
        return self._a._core

    @property
    def sub(self) -> int:
        """The stream's id at the agent (on its present connection)."""
        return self._a.sub

    def next(self, timeout: Optional[float] = None) -> T:
        """The next event. Raises TimeoutError if none comes within timeout
        seconds, StreamClosedError after close()."""
        core = self._core
        end = deadline(timeout)
        while True:
            v = self._a._accept(core.read(left(end)))
            if v is not None:
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
        self._client._quiet(self._a.close())

    def __enter__(self: S) -> S:
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

    _a: AsyncSubscription

    @property
    def last_zxid(self) -> int:
        return self._a.last_zxid


class ConfigSubscription(Stream[ConfigUpdate]):
    """A config's updates, in order. Iterate it, or call next(). ``last``
    is the zxid to resume from."""

    _a: AsyncConfigSubscription

    @property
    def last(self) -> int:
        return self._a.last


class Watch(Stream[WatchEvent]):
    """A one-shot watch set by get_w, exists_w or children_w."""

    _a: AsyncWatch

    def wait(self, timeout: Optional[float] = None) -> WatchEvent:
        """The event that fired the watch (the same one again when called after
        it fired). TimeoutError if none within timeout."""
        fired = self._a._fired
        return fired if fired is not None else self.next(timeout)

    def stop(self) -> None:
        """Removes a watch that has not fired."""
        self.close()
