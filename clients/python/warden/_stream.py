"""A stream of the application (a subscription, a config subscription, a
recipe's watch or a one-shot watch) across the connections of its session.

The engine's reader hands each event to its StreamCore, which keeps what a
resume needs: for a subscription, the zxid of the last change delivered to
the application (and how many changes of that zxid, since a multi's changes
share one), so that it is subscribed again with no gap and no duplicate; for
a config subscription also the paths the application knows exist. Events go
to a sink: an asyncio queue for the asyncio API, a thread-safe queue for the
blocking one, which reads it without going through the event loop.
"""

from __future__ import annotations

import asyncio
import queue
import time
from typing import Any, Dict, Optional, Set, Union

from ._wire import Message
from .errors import StreamOverflowError, WardenError
from .types import ConfigUpdate, Stat

DEFAULT_STREAM_BACKLOG = 100_000
"""The most events a stream holds unread before it ends with StreamOverflowError."""

# How a stream is opened again after its session was resumed.
CHANGES = "changes"  # subscribe, from the last change delivered
CONFIG = "config"    # the same, with the agent folding a resync (fold, known)
REOPEN = "reopen"    # a recipe's watch: the same request again (current state, then changes)
ONCE = "once"        # a one-shot watch: it ends with DisconnectedError when the connection drops


def fresh(err: WardenError) -> WardenError:
    """A new exception like err, so one error can be raised by many callers."""
    e = type(err)(err.message, index=err.index)
    e.code = err.code
    return e


def deadline(timeout: Optional[float]) -> Optional[float]:
    """When a wait of timeout seconds (None: forever) ends."""
    return None if timeout is None else time.monotonic() + timeout


def left(end: Optional[float]) -> Optional[float]:
    """The seconds left until end (a deadline; None: forever)."""
    return None if end is None else max(end - time.monotonic(), 0.0)


def overflow_error(backlog: int) -> StreamOverflowError:
    return StreamOverflowError(f"over {backlog} events unread: the application did not keep up; "
                               "subscribe again (a subscription from its last_zxid)")


class End:
    """The last item of a stream's queue: the error its reader gets."""

    __slots__ = ("err",)

    def __init__(self, err: WardenError) -> None:
        self.err = err


Item = Union[Message, End]


class _Sink:
    """A stream's queue of events: filled on the event loop."""

    q: "Union[queue.SimpleQueue[Item], asyncio.Queue[Item]]"

    def put(self, item: Item) -> None:
        self.q.put_nowait(item)

    def qsize(self) -> int:
        return self.q.qsize()

    def clear(self) -> None:
        try:
            while True:
                self.q.get_nowait()
        except (queue.Empty, asyncio.QueueEmpty):
            pass


class ThreadSink(_Sink):
    """A stream's queue for the blocking API, read by application threads."""

    def __init__(self) -> None:
        self.q: "queue.SimpleQueue[Item]" = queue.SimpleQueue()

    def get(self, timeout: Optional[float]) -> Item:
        try:
            return self.q.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no event within {timeout} s") from None


class AsyncSink(_Sink):
    """A stream's queue for the asyncio API (made and read on the loop)."""

    def __init__(self) -> None:
        self.q: "asyncio.Queue[Item]" = asyncio.Queue()

    async def get(self, timeout: Optional[float]) -> Item:
        try:
            return await asyncio.wait_for(self.q.get(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"no event within {timeout} s") from None


Sink = Union[ThreadSink, AsyncSink]


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


class StreamCore:
    """One stream of the application. Touched only on the event loop, except
    the sink's reading end."""

    def __init__(self, req: Dict[str, Any], mode: str, sink: Sink, backlog: int) -> None:
        self.req = dict(req)
        self.mode = mode
        self.sink = sink
        self.backlog = backlog
        self.conn: object = None  # the connection it runs on now, and its id there
        self.sub = 0
        self.result: Dict[str, Any] = {}  # the reply that first opened it
        self.closed = False  # closed by the application, overflowed or ended
        self.zxid = _int(req.get("from_zxid"))  # the last change delivered...
        self.count = 0  # ...and how many changes of that zxid
        self.skip = 0  # changes of zxid to drop: delivered before a resume
        self.resyncing = False  # between a resync's first event and its end
        self.known: Set[str] = set()  # config: the paths the application knows exist
        self.ended: Optional[WardenError] = None  # the error its reader got, for every later read

    # -- on the reader ---------------------------------------------------------

    def push(self, m: Message) -> bool:
        """Delivers an event. True when it overflowed the backlog: the stream
        must then be ended at the agent."""
        if self.closed:
            return False
        if self.mode in (CHANGES, CONFIG) and m.body is not None and not self._track(m.body):
            return False
        if self.sink.qsize() >= self.backlog:
            self.closed = True
            self.sink.clear()
            self.sink.put(End(overflow_error(self.backlog)))
            return True
        self.sink.put(m)
        return False

    def _track(self, b: Dict[str, Any]) -> bool:
        """Notes a change event; False for one delivered before a resume."""
        t, z, path = b.get("type"), _int(b.get("zxid")), b.get("path")
        if t == "resync" or t == "synced":
            if self.mode == CONFIG and isinstance(path, str) and t == "resync":
                if b.get("deleted") is True:
                    self.known.discard(path)
                else:
                    self.known.add(path)
            # The state at z is the new resume point once it is delivered whole.
            self.resyncing = not (t == "synced" or b.get("synced") is True)
            if not self.resyncing:
                self.zxid, self.count, self.skip = z, 0, 0
            return True
        if z < self.zxid or (z == self.zxid and self.skip > 0):
            self.skip = max(self.skip - 1, 0)
            return False
        if z == self.zxid:
            self.count += 1
        else:
            self.zxid, self.count, self.skip = z, 1, 0
        if self.mode == CONFIG and isinstance(path, str):
            if t == "deleted":
                self.known.discard(path)
            else:
                self.known.add(path)
        return True

    def read(self, timeout: Optional[float]) -> Message:
        """The next event, from the blocking API's thread-safe queue."""
        assert isinstance(self.sink, ThreadSink)
        self._check()
        return self._take(self.sink.get(timeout))

    async def aread(self, timeout: Optional[float]) -> Message:
        """The next event, from the asyncio API's queue."""
        assert isinstance(self.sink, AsyncSink)
        self._check()
        return self._take(await self.sink.get(timeout))

    def _check(self) -> None:
        if self.ended is not None:
            raise fresh(self.ended)  # every read after the end

    def _take(self, item: Item) -> Message:
        if isinstance(item, End):
            self.ended = item.err
            raise fresh(item.err)
        return item

    def end(self, err: WardenError) -> None:
        if not self.closed:
            self.closed = True
            self.sink.put(End(err))

    # -- resuming --------------------------------------------------------------

    def again(self) -> Dict[str, Any]:
        """The request that opens the stream again on a resumed session."""
        req = dict(self.req)
        if self.mode in (CHANGES, CONFIG):
            # From the last change delivered. After a change of a multi, its
            # zxid is replayed and what was delivered of it skipped; after an
            # unfinished resync, the state is asked for again (from the point
            # before it: its events share the state's zxid).
            z = self.zxid
            self.skip = self.count if not self.resyncing else 0
            if self.skip:
                z -= 1
            req["from_zxid"] = z
            if self.mode == CONFIG and self.known:
                req["known"] = sorted(self.known)
        return req


def config_update(b: Dict[str, Any]) -> Optional[ConfigUpdate]:
    """A config subscription's change event (the agent folds resyncs) as
    the update it is, one for one; None for other events."""
    t = b.get("type")
    st = Stat.parse(b.get("stat") or {})
    data = b.get("data")
    value = data if isinstance(data, bytes) else b""
    path, z = str(b.get("path", "")), _int(b.get("zxid"))
    if t == "resync":
        gone = b.get("deleted") is True
        return ConfigUpdate(path, None if gone else value, st.version, z, deleted=gone, resync=True,
                            synced=b.get("synced") is True)
    if t in ("created", "data_changed"):
        return ConfigUpdate(path, value, st.version, z)
    if t == "deleted":
        return ConfigUpdate(path, None, st.version, z, deleted=True)
    return None
