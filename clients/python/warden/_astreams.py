"""Streams of the asyncio client: subscriptions, config subscriptions,
recipes' watches and one-shot watches. The blocking client's streams
(``warden._streams``) read these same objects' events from a thread-safe
queue."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any, AsyncIterator, Callable, Dict, Generator, Generic, Mapping, Optional, TypeVar

from ._engine import Engine
from ._stream import CHANGES, CONFIG, ONCE, REOPEN, StreamCore, config_update, deadline, left
from ._wire import Message
from .errors import StreamClosedError
from .types import ChangeEvent, ConfigUpdate, WatchEvent

T = TypeVar("T")
S = TypeVar("S", bound="AsyncStream[Any]")


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

    async def open(self: S) -> S:
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
                self._core = core = await self._client._open_stream(self._req, self._mode)
                # Ends the stream at the agent when the application drops it unclosed.
                self._finalizer = weakref.finalize(self, self._client._abandon, core)
                self._finalizer.atexit = False
            finally:
                fut, self._opening = self._opening, None
                if not fut.done():
                    fut.set_result(None)
        return self

    def __await__(self: S) -> Generator[Any, None, S]:
        return self.open().__await__()

    @property
    def sub(self) -> int:
        """The stream's id at the agent (on its present connection)."""
        return self._core.sub if self._core is not None else 0

    def _accept(self, m: Message) -> Optional[T]:
        """What the event m is to the application; None for one it skips."""
        v = self._parse(m.body) if m.event == self._kind and m.body is not None else None
        return None if v is None else self._seen(v)

    def _seen(self, v: T) -> T:
        return v

    async def next(self, timeout: Optional[float] = None) -> T:
        """The next event; TimeoutError if none within timeout seconds."""
        core = (await self.open())._core
        assert core is not None
        end = deadline(timeout)
        while True:
            v = self._accept(await core.aread(left(end)))
            if v is not None:
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

    async def __aenter__(self: S) -> S:
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


class AsyncWatch(AsyncStream[WatchEvent]):
    """A one-shot watch."""

    def __init__(self, client: Engine, req: Mapping[str, Any]) -> None:
        super().__init__(client, req, "watch", WatchEvent.parse, ONCE)
        self._fired: Optional[WatchEvent] = None

    def _seen(self, v: WatchEvent) -> WatchEvent:
        self._fired = v
        return v

    async def wait(self, timeout: Optional[float] = None) -> WatchEvent:
        """The event that fired the watch (the same again once it has fired)."""
        return self._fired if self._fired is not None else await self.next(timeout)

    async def stop(self) -> None:
        """Removes a watch that has not fired."""
        await self.close()
