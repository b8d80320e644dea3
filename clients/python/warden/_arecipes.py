"""Recipe objects of the asyncio client (the blocking client's recipes run
these on its loop): leases, elections, tasks, groups, semaphores,
barriers, queues, counters and configs."""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Dict, Generator, Generic, Optional, Protocol, Tuple, Type, TypeVar

from . import _ops
from ._ops import wait_ms
from ._astreams import AsyncConfigSubscription, AsyncStream
from ._engine import Engine
from .errors import ConnectionClosedError, NodeExistsError, NoNodeError, OperationTimeoutError
from .types import (ANY_VERSION, CONFIG_ABSENT, PROGRESS_ROOT, CounterResult, GetResult, Leader, LeaseResult,
                    QueueItem, Stat, parse_leader)

R = TypeVar("R")
X = TypeVar("X", bound="_Exits")


class _Exits(Protocol):
    async def _exit(self) -> None: ...


class _Acquire(Generic[X]):
    """An acquisition: ``x = await it`` or ``async with it as x`` (released on exit)."""

    def __init__(self, acquire: Callable[[], Awaitable[X]]) -> None:
        self._acquire = acquire
        self._held: Optional[X] = None

    def __await__(self) -> Generator[Any, None, X]:
        return self._acquire().__await__()

    async def __aenter__(self) -> X:
        self._held = await self._acquire()
        return self._held

    async def __aexit__(self, *exc: object) -> None:
        held, self._held = self._held, None
        if held is not None:
            await held._exit()


async def lock_check(c: Engine, path: str, token: int) -> bool:
    return (await c._op("lock_check", path=path, token=token)).get("held") is True


async def leader(c: Engine, path: str) -> Optional[Leader]:
    """Who leads the election at path; None when nobody does."""
    return parse_leader(await c._op("leader", path=path))


def observe(c: Engine, path: str) -> AsyncStream[Leader]:
    return AsyncStream(c, _ops.req("observe", path=path), "leader", Leader.parse)


H = TypeVar("H", bound="_Held")


class _Held:
    """A held lease: a lock, a leadership or a semaphore lease. Leaving its
    ``async with`` block releases it (quietly: a session that has ended holds
    nothing any more, and one being resumed has it released by the resume)."""

    _grant_op = ""  # the op that grants it: its release is _ops.release's

    def __init__(self, client: Engine, path: str, key: str, token: int) -> None:
        self.client = client
        self.path = path
        self.key = key
        self.token = token
        """The fencing token: it strictly increases from one holder to the next."""

    def _release_req(self) -> Dict[str, Any]:
        return _ops.release(self._grant_op, self.key, self.token)

    async def _release(self) -> None:
        await self.client._release(self._release_req(), self.key)

    async def _exit(self) -> None:
        await self.client._release(self._release_req(), self.key, quiet=True)

    async def __aenter__(self: H) -> H:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._exit()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(path={self.path!r}, key={self.key!r}, token={self.token})"

    @classmethod
    async def _grant(cls: Type[H], c: Engine, req: Dict[str, Any], path: str) -> H:
        """The lease a grant request returns (released again if the caller
        gave up while it was being granted)."""
        async def undo(r: Dict[str, Any]) -> None:
            lr = LeaseResult.parse(r)
            await cls(c, path, lr.key, lr.token)._exit()

        lr = LeaseResult.parse(await c._grant(req, undo))
        return cls(c, path, lr.key, lr.token)


class AsyncLease(_Held):
    """A held lock (plain, read or write). ``token`` is its fencing token."""

    _grant_op = "lock"

    async def unlock(self) -> None:
        """Releases the lock; the next waiter is granted it at once."""
        await self._release()

    release = unlock

    async def check(self) -> bool:
        """Whether this lease still holds its lock (lock_check of its token)."""
        return await lock_check(self.client, self.path, self.token)


async def try_(acquire: Awaitable[R]) -> Optional[R]:
    """What acquire returns, or None when it timed out (a try)."""
    try:
        return await acquire
    except OperationTimeoutError:
        return None


class AsyncLeadership(_Held):
    """A won election, held until resign() or the end of the session."""

    _grant_op = "campaign"

    async def resign(self) -> None:
        """Gives up leadership; the next candidate is elected at once."""
        await self._release()

    async def proclaim(self, value: bytes) -> None:
        """Replaces the leader's value, which observers then see."""
        await self.client._op("proclaim", key=self.key, data=value, token=self.token)


class AsyncElection:
    def __init__(self, client: Engine, name: str) -> None:
        self.client = client
        self.path = _ops.election_path(name)
        self.leadership: Optional[AsyncLeadership] = None

    async def _campaign(self, value: bytes, timeout: Optional[float]) -> AsyncLeadership:
        req = _ops.req("campaign", path=self.path, data=value, wait_ms=wait_ms(timeout))
        self.leadership = await AsyncLeadership._grant(self.client, req, self.path)
        return self.leadership

    def campaign(self, value: bytes = b"", timeout: Optional[float] = None) -> _Acquire[AsyncLeadership]:
        """Awaitable (and async context manager) that returns once elected."""
        return _Acquire(lambda: self._campaign(value, timeout))

    async def try_campaign(self, value: bytes = b"") -> Optional[AsyncLeadership]:
        """Leads now if nobody leads, else returns None."""
        return await try_(self._campaign(value, 0))

    async def resign(self) -> None:
        ld, self.leadership = self.leadership, None
        if ld is not None:
            await ld.resign()

    async def proclaim(self, value: bytes) -> None:
        if self.leadership is None:
            raise RuntimeError("this election object does not lead; campaign first")
        await self.leadership.proclaim(value)

    async def leader(self) -> Optional[Leader]:
        """Who leads now; None when nobody does."""
        return await leader(self.client, self.path)

    def observe(self) -> AsyncStream[Leader]:
        """The current leader, then each change of leader or of its value."""
        return observe(self.client, self.path)


class AsyncTask:
    def __init__(self, client: Engine, job: str, name: str) -> None:
        self.client = client
        self.job = job
        self.name = name

    @property
    def path(self) -> str:
        return f"{PROGRESS_ROOT}/{self.job}/{self.name}"

    async def report(self, percent: float, message: str = "", *, state: str = "running",
                     data: bytes = b"") -> None:
        """Reports percent (0 to 100) done, with a message. Each report replaces
        the last; later reports are coalesced by the agent, which still
        writes them before it answers this client's progress() or
        watch_progress()."""
        await self.client._op("report", job=self.job, task=self.name, state=state, percent=float(percent),
                              message=message, data=data)

    async def done(self) -> None:
        """Ends the task (watchers see it removed). Not an error if it has ended."""
        try:
            await self.client._op("delete", path=self.path, version=ANY_VERSION)
        except NoNodeError:
            pass


class AsyncMembership:
    def __init__(self, client: Engine, group: str, member: str, key: str, token: int) -> None:
        self.client = client
        self.group = group
        self.member = member
        self.key = key
        self.token = token

    async def update(self, data: bytes) -> None:
        """Replaces the member's data."""
        await self.client._op("join", group=self.group, member=self.member, data=data)

    async def leave(self) -> None:
        await self.client._op("leave", group=self.group, member=self.member)

    async def _exit(self) -> None:
        try:
            await self.leave()
        except ConnectionClosedError:
            pass  # the connection or the session has ended


async def join(c: Engine, group: str, member: str, data: bytes) -> AsyncMembership:
    async def undo(r: Dict[str, Any]) -> None:
        await c._undo(_ops.req("leave", group=group, member=member))

    req = _ops.req("join", group=group, member=member, data=data)
    lr = LeaseResult.parse(await c._grant(req, undo))
    return AsyncMembership(c, group, member, lr.key, lr.token)


class AsyncSemaphoreLease(_Held):
    """One held lease of a semaphore."""

    _grant_op = "semaphore_acquire"

    async def release(self) -> None:
        await self._release()


class AsyncSemaphore:
    def __init__(self, client: Engine, path: str, n: int) -> None:
        self.client = client
        self.path = path
        self.n = n

    async def _acquire(self, timeout: Optional[float]) -> AsyncSemaphoreLease:
        req = _ops.req("semaphore_acquire", path=self.path, count=self.n, wait_ms=wait_ms(timeout))
        return await AsyncSemaphoreLease._grant(self.client, req, self.path)

    def acquire(self, timeout: Optional[float] = None) -> _Acquire[AsyncSemaphoreLease]:
        return _Acquire(lambda: self._acquire(timeout))

    async def try_acquire(self) -> Optional[AsyncSemaphoreLease]:
        return await try_(self._acquire(0))


class _OnPath:
    """A recipe of the node at path."""

    def __init__(self, client: Engine, path: str) -> None:
        self.client = client
        self.path = path


class AsyncBarrier(_OnPath):
    async def set(self) -> None:
        """Sets the barrier: whoever waits on it waits until it is removed."""
        await self.client._grant(_ops.req("barrier_set", path=self.path))

    async def remove(self) -> None:
        await self.client._op("barrier_remove", path=self.path)

    async def wait(self, timeout: Optional[float] = None) -> None:
        """Returns once the barrier is not set; OperationTimeoutError after timeout."""
        await self.client._grant(_ops.req("barrier_wait", path=self.path, wait_ms=wait_ms(timeout)))


class AsyncDoubleBarrier:
    def __init__(self, client: Engine, path: str, count: int, member: str) -> None:
        self.client = client
        self.path = path
        self.count = count
        self.member = member

    async def enter(self, timeout: Optional[float] = None) -> None:
        """Enters, and returns once count members have entered."""
        await self.client._grant(_ops.req("barrier_enter", path=self.path, count=self.count, member=self.member,
                                          wait_ms=wait_ms(timeout)))

    async def leave(self, timeout: Optional[float] = None) -> None:
        """Leaves, and returns once every member has left."""
        await self.client._grant(_ops.req("barrier_leave", path=self.path, member=self.member,
                                          wait_ms=wait_ms(timeout)))

    async def __aenter__(self) -> "AsyncDoubleBarrier":
        await self.enter()
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.leave()
        except ConnectionClosedError:
            pass  # the connection or the session has ended


class AsyncQueue(_OnPath):
    async def put(self, data: bytes) -> str:
        """Appends an item; returns its key."""
        req = _ops.req("queue_put", path=self.path, data=data)
        return LeaseResult.parse(await self.client._grant(req)).key

    async def take(self, timeout: Optional[float] = None) -> QueueItem:
        """Removes and returns the first item, waiting while the queue is empty.
        An item taken just as the caller gave up is lost to the queue."""
        req = _ops.req("queue_take", path=self.path, wait_ms=wait_ms(timeout))
        return QueueItem.parse(await self.client._grant(req))

    async def try_take(self) -> Optional[QueueItem]:
        """The first item if there is one now, else None."""
        return await try_(self.take(0))


class AsyncCounter(_OnPath):
    async def add(self, delta: int = 1) -> int:
        """Adds delta; returns the new value."""
        req = _ops.req("counter_add", path=self.path, delta=delta)
        return CounterResult.parse(await self.client._grant(req)).value

    async def get(self) -> int:
        return CounterResult.parse(await self.client._op("counter_get", path=self.path)).value

    async def compare_and_set(self, expect: int, value: int) -> Tuple[bool, int]:
        """Sets value if the counter is expect. Returns (swapped, value now)."""
        req = _ops.req("counter_cas", path=self.path, expect=expect, value=value)
        r = CounterResult.parse(await self.client._grant(req))
        return r.swapped, r.value

    cas = compare_and_set


class AsyncConfig(_OnPath):
    """A configuration value in one znode (or a tree under it): get, set by
    version, and follow every change in order."""

    async def get(self) -> Tuple[Optional[bytes], int]:
        """(value, version); (None, CONFIG_ABSENT) if it was never set (or
        was deleted), so that set(new, version) after a get() is a
        compare-and-set either way: it creates the value only if it is
        still absent."""
        try:
            r = GetResult.parse(await self.client._op("get", path=self.path))
        except NoNodeError:
            return None, CONFIG_ABSENT
        return r.data, r.stat.version

    async def set(self, value: bytes, expected: int = ANY_VERSION) -> int:
        """Writes value; returns its new version. expected >= 0: only at that
        version (BadVersionError); CONFIG_ABSENT: only if never set
        (NodeExistsError); ANY_VERSION: always, creating missing parents."""
        if expected == CONFIG_ABSENT:
            await self._create(value)
            return 0
        while True:
            try:
                r = await self.client._op("set", path=self.path, data=value, version=expected)
                return Stat.parse(r.get("stat") or {}).version
            except NoNodeError:
                if expected != ANY_VERSION:
                    raise
            try:
                await self._create(value)
                return 0
            except NodeExistsError:
                continue  # created by someone else meanwhile: set it after all

    async def _create(self, value: bytes) -> None:
        c = self.client
        try:
            await c._op("create", path=self.path, data=value)
            return
        except NoNodeError:
            pass
        for i in range(1, len(self.path)):
            if self.path[i] == "/":
                try:
                    await c._op("create", path=self.path[:i])
                except NodeExistsError:
                    pass
        await c._op("create", path=self.path, data=value)

    def subscribe(self, from_zxid: int = 0, *, recursive: bool = False) -> AsyncConfigSubscription:
        """The current value (a resync) then every change; from_zxid resumes.
        After a resumed session's connection dropped, it carries on from the
        last update delivered, with no gap and no duplicate."""
        req = _ops.req("subscribe", path=self.path, scope="subtree" if recursive else "", from_zxid=from_zxid)
        return AsyncConfigSubscription(self.client, req, from_zxid)
