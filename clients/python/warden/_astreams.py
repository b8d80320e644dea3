"""Streams of the asyncio client: subscriptions, config subscriptions,
recipes' watches and one-shot watches."""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import Any, AsyncIterator, Callable, Dict, Generator, Generic, Mapping, Optional, TypeVar

from ._engine import Engine
from ._stream import CHANGES, CONFIG, REOPEN, AsyncSink, StreamCore, config_update, fresh
from .errors import StreamClosedError
from .types import ChangeEvent, ConfigUpdate, WatchEvent

T = TypeVar("T")


def _finalizer(owner: object, engine: Engine, core: StreamCore) -> "weakref.finalize[Any, Any]":
    """Ends core's stream at the agent when owner, the application's handle
    on it, is dropped unclosed."""
    f = weakref.finalize(owner, engine._abandon, core)
    f.atexit = False
    return f


async def _next(core: StreamCore, timeout: Optional[float]) -> Any:
    if core.ended is not None:
        raise fresh(core.ended)
    assert isinstance(core.sink, AsyncSink)
    return core.take(await core.sink.get(timeout))


class AsyncStream(Generic[T]):
    """A stream of events: ``async for ev in stream`` or ``await stream.next()``.

    Opened by its first use (``await``, ``async with`` or ``async for``).
    Closing it (``close()``, leaving ``async with``, or breaking out of
    ``async for``) ends it at the agent. After a resumed session's
    connection dropped, it carries on once the session is resumed.
    """

    def __init__(self, client: Engine, req: Mapping[str, Any], kind: str,
                 parse: Callable[[Dict[str, Any]], Optional[T]], mode: str = REOPEN) -> None:
        self._client = client
        self._req = req
        self._kind = kind
        self._parse = parse
        self._mode = mode
        self._core: Optional[StreamCore] = None
        self._opening: Optional["asyncio.Future[None]"] = None
        self._finalizer: Optional["weakref.finalize[Any, Any]"] = None

    @property
    def result(self) -> Dict[str, Any]:
        """The reply that opened the stream."""
        return self._core.result if self._core is not None else {}

    async def open(self) -> "AsyncStream[T]":
        """Opens the stream at the agent (once, however many tasks ask at once)."""
        while self._core is None:
            if self._opening is not None:
                # Another task is opening it: wait for that (and retry if it failed).
                try:
                    await asyncio.shield(self._opening)
                except Exception:  # noqa: BLE001 - that task reports its own error
                    pass
                continue
            self._opening = asyncio.get_running_loop().create_future()
            try:
                self._core = await self._client._open_stream(self._req, self._mode, AsyncSink())
                self._finalizer = _finalizer(self, self._client, self._core)
            finally:
                fut, self._opening = self._opening, None
                if not fut.done():
                    fut.set_result(None)
        return self

    def __await__(self) -> Generator[Any, None, "AsyncStream[T]"]:
        return self.open().__await__()

    @property
    def sub(self) -> int:
        """The stream's id at the agent (on its present connection)."""
        return self._core.sub if self._core is not None else 0

    async def next(self, timeout: Optional[float] = None) -> T:
        """The next event; TimeoutError if none within timeout seconds."""
        await self.open()
        assert self._core is not None
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            m = await _next(self._core, left)
            if m.event == self._kind and m.body is not None:
                v = self._parse(m.body)
                if v is not None:
                    return self._seen(v)

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
        if self._core is not None:
            await self._client._close_stream(self._core)

    async def __aenter__(self) -> "AsyncStream[T]":
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class AsyncSubscription(AsyncStream[ChangeEvent]):
    """Changes under a path, in order; ``last_zxid`` is the resume point."""

    def __init__(self, client: Engine, req: Mapping[str, Any], from_zxid: int) -> None:
        super().__init__(client, req, "change", ChangeEvent.parse, CHANGES)
        self.last_zxid = from_zxid

    def _seen(self, v: ChangeEvent) -> ChangeEvent:
        if v.zxid > self.last_zxid:
            self.last_zxid = v.zxid
        return v


class AsyncConfigSubscription(AsyncStream[ConfigUpdate]):
    """A config's updates, in order; ``last`` is the zxid to resume from."""

    def __init__(self, client: Engine, req: Mapping[str, Any], from_zxid: int) -> None:
        super().__init__(client, req, "change", config_update, CONFIG)
        self.last = from_zxid

    def _seen(self, v: ConfigUpdate) -> ConfigUpdate:
        self.last = v.zxid
        return v

    async def __aenter__(self) -> "AsyncConfigSubscription":
        await self.open()
        return self


class AsyncWatch:
    """A one-shot watch."""

    def __init__(self, client: Engine, core: StreamCore) -> None:
        self._client = client
        self._core = core
        self._fired: Optional[WatchEvent] = None
        self._finalizer = _finalizer(self, client, core)

    async def wait(self, timeout: Optional[float] = None) -> WatchEvent:
        """The event that fired the watch (the same again once it has fired)."""
        if self._fired is not None:
            return self._fired
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            m = await _next(self._core, left)
            if m.event == "watch" and m.body is not None:
                self._fired = WatchEvent.parse(m.body)
                self._finalizer.detach()
                return self._fired

    async def stop(self) -> None:
        """Removes a watch that has not fired."""
        self._finalizer.detach()
        await self._client._close_stream(self._core)
