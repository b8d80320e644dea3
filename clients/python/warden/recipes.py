"""Recipe objects of the blocking client: leases, elections, tasks, groups,
semaphores, barriers, queues, counters and configs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Iterator, Optional, Tuple

from . import _ops
from ._config import ConfigTracker
from ._streams import Stream, Subscription
from .errors import ConnectionClosedError, NodeExistsError, NoNodeError, OperationTimeoutError, StreamClosedError
from .types import (ANY_VERSION, CONFIG_ABSENT, PROGRESS_ROOT, ConfigUpdate, CounterResult, Leader,
                    LeaseResult, QueueItem)

if TYPE_CHECKING:
    from .client import Client


def _key(r: Dict[str, Any]) -> str:
    return LeaseResult.parse(r).key


class Lease:
    """A held lock (plain, read or write). A context manager: leaving the
    ``with`` block unlocks it."""

    def __init__(self, client: "Client", path: str, key: str, token: int) -> None:
        self.client = client
        self.path = path
        self.key = key
        self.token = token
        """The fencing token: it strictly increases from one holder to the next."""

    def unlock(self) -> None:
        """Releases the lock; the next waiter is granted it at once."""
        self.client._release(_ops.unlock(self.key), self.key, ("lock", self.path))

    release = unlock

    def check(self) -> bool:
        """Whether this lease still holds its lock (lock_check of its token)."""
        return self.client.lock_check(self.path, self.token)

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *exc: object) -> None:
        # A session that has ended holds nothing any more; one being resumed
        # has the lock removed by the resume.
        self.client._release(_ops.unlock(self.key), self.key, ("lock", self.path), quiet=True)

    def __repr__(self) -> str:
        return f"Lease(path={self.path!r}, key={self.key!r}, token={self.token})"


class Leadership:
    """A won election, held until resign() or the end of the session. A
    context manager: leaving the ``with`` block resigns."""

    def __init__(self, client: "Client", path: str, key: str, token: int) -> None:
        self.client = client
        self.path = path
        self.key = key
        self.token = token

    def resign(self) -> None:
        """Gives up leadership; the next candidate is elected at once."""
        self.client._release(_ops.resign(self.key, self.token), self.key, ("campaign", self.path))

    def proclaim(self, value: bytes) -> None:
        """Replaces the leader's value, which observers then see."""
        self.client._call(_ops.proclaim(self.key, value, self.token))

    def __enter__(self) -> "Leadership":
        return self

    def __exit__(self, *exc: object) -> None:
        self.client._release(_ops.resign(self.key, self.token), self.key, ("campaign", self.path), quiet=True)

    def __repr__(self) -> str:
        return f"Leadership(path={self.path!r}, key={self.key!r}, token={self.token})"


class Election:
    """An election: a name (under /warden/elections) or a path."""

    def __init__(self, client: "Client", name: str) -> None:
        self.client = client
        self.path = _ops.election_path(name)
        self.leadership: Optional[Leadership] = None

    def campaign(self, value: bytes = b"", timeout: Optional[float] = None) -> Leadership:
        """Enters as a candidate with value and returns once elected. With a
        timeout (seconds), OperationTimeoutError if not elected in time."""
        c = self.client
        wait = _ops.wait_ms(timeout)
        path = self.path

        def undo(r: Dict[str, Any]) -> None:
            lr = LeaseResult.parse(r)
            c._release(_ops.resign(lr.key, lr.token), lr.key, ("campaign", path), quiet=True)

        r = c._grant(_ops.campaign(self.path, value, wait), undo=undo)
        lr = LeaseResult.parse(r)
        self.leadership = Leadership(c, self.path, lr.key, lr.token)
        return self.leadership

    def try_campaign(self, value: bytes = b"") -> Optional[Leadership]:
        """Leads now if nobody leads, else returns None."""
        try:
            return self.campaign(value, timeout=0)
        except OperationTimeoutError:
            return None

    def resign(self) -> None:
        """Resigns the leadership won by this object's last campaign, if any."""
        ld, self.leadership = self.leadership, None
        if ld is not None:
            ld.resign()

    def proclaim(self, value: bytes) -> None:
        """Replaces the value of the leadership this object holds."""
        if self.leadership is None:
            raise RuntimeError("this election object does not lead; campaign first")
        self.leadership.proclaim(value)

    def leader(self) -> Leader:
        """Who leads now (``leader.none`` / falsy when nobody)."""
        return Leader.parse(self.client._call(_ops.leader(self.path)))

    def observe(self) -> Stream[Leader]:
        """The current leader, then each change of leader or of its value."""
        return self.client.observe(self.path)


class Task:
    """A task of a job, to report progress for. Created by its first report,
    owned by the reporting session; removed when that session ends or done()."""

    def __init__(self, client: "Client", job: str, name: str) -> None:
        self.client = client
        self.job = job
        self.name = name

    @property
    def path(self) -> str:
        return f"{PROGRESS_ROOT}/{self.job}/{self.name}"

    def report(self, percent: float, message: str = "", *, state: str = "running", data: bytes = b"") -> None:
        """Reports percent (0 to 100) done, with a message. Each report replaces
        the last; later reports are coalesced by the agent."""
        self.client._call(_ops.report(self.job, self.name, state=state, percent=percent,
                                      message=message, data=data))

    def done(self) -> None:
        """Ends the task (watchers see it removed). Not an error if it has ended."""
        try:
            self.client.delete(self.path)
        except NoNodeError:
            pass


class Membership:
    """This session's membership of a group. A context manager: leaving the
    ``with`` block leaves the group."""

    def __init__(self, client: "Client", group: str, member: str, key: str, token: int) -> None:
        self.client = client
        self.group = group
        self.member = member
        self.key = key
        self.token = token

    def update(self, data: bytes) -> None:
        """Replaces the member's data."""
        self.client._call(_ops.join(self.group, self.member, data))

    def leave(self) -> None:
        self.client._call(_ops.leave(self.group, self.member))

    def __enter__(self) -> "Membership":
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.leave()
        except ConnectionClosedError:
            pass  # the connection or the session has ended


class SemaphoreLease:
    """One held lease of a semaphore. A context manager: releases on exit."""

    def __init__(self, client: "Client", path: str, key: str, token: int) -> None:
        self.client = client
        self.path = path
        self.key = key
        self.token = token

    def release(self) -> None:
        self.client._release(_ops.semaphore_release(self.key), self.key, ("semaphore_acquire", self.path))

    def __enter__(self) -> "SemaphoreLease":
        return self

    def __exit__(self, *exc: object) -> None:
        self.client._release(_ops.semaphore_release(self.key), self.key, ("semaphore_acquire", self.path),
                             quiet=True)


class Semaphore:
    """At most n sessions hold one of its leases at a time."""

    def __init__(self, client: "Client", path: str, n: int) -> None:
        self.client = client
        self.path = path
        self.n = n

    def acquire(self, timeout: Optional[float] = None) -> SemaphoreLease:
        c = self.client
        path = self.path

        def undo(r: Dict[str, Any]) -> None:
            key = _key(r)
            c._release(_ops.semaphore_release(key), key, ("semaphore_acquire", path), quiet=True)

        r = c._grant(_ops.semaphore_acquire(self.path, self.n, _ops.wait_ms(timeout)), undo=undo)
        lr = LeaseResult.parse(r)
        return SemaphoreLease(c, self.path, lr.key, lr.token)

    def try_acquire(self) -> Optional[SemaphoreLease]:
        try:
            return self.acquire(timeout=0)
        except OperationTimeoutError:
            return None


class Barrier:
    """Holds back whoever waits on it until it is removed."""

    def __init__(self, client: "Client", path: str) -> None:
        self.client = client
        self.path = path

    def set(self) -> None:
        self.client._grant(_ops.barrier_set(self.path))

    def remove(self) -> None:
        self.client._call(_ops.barrier_remove(self.path))

    def wait(self, timeout: Optional[float] = None) -> None:
        """Returns once the barrier is not set; OperationTimeoutError after timeout."""
        self.client._grant(_ops.barrier_wait(self.path, _ops.wait_ms(timeout)))


class DoubleBarrier:
    """count members start together (enter) and finish together (leave). A
    context manager: enters, then leaves on exit."""

    def __init__(self, client: "Client", path: str, count: int, member: str) -> None:
        self.client = client
        self.path = path
        self.count = count
        self.member = member

    def enter(self, timeout: Optional[float] = None) -> None:
        self.client._grant(_ops.barrier_enter(self.path, self.count, self.member, _ops.wait_ms(timeout)))

    def leave(self, timeout: Optional[float] = None) -> None:
        self.client._grant(_ops.barrier_leave(self.path, self.member, _ops.wait_ms(timeout)))

    def __enter__(self) -> "DoubleBarrier":
        self.enter()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.leave()
        except ConnectionClosedError:
            pass  # the connection or the session has ended


class Queue:
    """A first-in first-out queue; each item goes to exactly one taker, at most once."""

    def __init__(self, client: "Client", path: str) -> None:
        self.client = client
        self.path = path

    def put(self, data: bytes) -> str:
        """Appends an item; returns its key."""
        return _key(self.client._grant(_ops.queue_put(self.path, data)))

    def take(self, timeout: Optional[float] = None) -> QueueItem:
        """Removes and returns the first item, waiting while the queue is empty.
        An item taken just as the caller was interrupted is lost to the queue."""
        return QueueItem.parse(self.client._grant(_ops.queue_take(self.path, _ops.wait_ms(timeout))))

    def try_take(self) -> Optional[QueueItem]:
        try:
            return self.take(timeout=0)
        except OperationTimeoutError:
            return None


class Counter:
    """A shared signed 64-bit integer, updated atomically; a missing counter is 0."""

    def __init__(self, client: "Client", path: str) -> None:
        self.client = client
        self.path = path

    def add(self, delta: int = 1) -> int:
        """Adds delta; returns the new value."""
        return CounterResult.parse(self.client._grant(_ops.counter_add(self.path, delta))).value

    def get(self) -> int:
        return CounterResult.parse(self.client._call(_ops.counter_get(self.path))).value

    def compare_and_set(self, expect: int, value: int) -> Tuple[bool, int]:
        """Sets value if the counter is expect. Returns (swapped, value now)."""
        r = CounterResult.parse(self.client._grant(_ops.counter_cas(self.path, expect, value)))
        return r.swapped, r.value

    cas = compare_and_set


class Config:
    """A configuration value in one znode (or a tree under it): get, set by
    version, and follow every change in order."""

    def __init__(self, client: "Client", path: str) -> None:
        self.client = client
        self.path = path

    def get(self) -> Tuple[bytes, int]:
        """(value, version). NoNodeError if it was never set."""
        data, st = self.client.get(self.path)
        return data, st.version

    def set(self, value: bytes, expected: int = ANY_VERSION) -> int:
        """Writes value; returns its new version. expected >= 0: only at that
        version (BadVersionError); CONFIG_ABSENT: only if never set
        (NodeExistsError); ANY_VERSION: always, creating missing parents."""
        if expected == CONFIG_ABSENT:
            self._create(value)
            return 0
        while True:
            try:
                return self.client.set(self.path, value, expected).version
            except NoNodeError:
                if expected != ANY_VERSION:
                    raise
            try:
                self._create(value)
                return 0
            except NodeExistsError:
                continue  # created by someone else meanwhile: set it after all

    def _create(self, value: bytes) -> None:
        try:
            self.client.create(self.path, value)
            return
        except NoNodeError:
            pass
        for i in range(1, len(self.path)):
            if self.path[i] == "/":
                try:
                    self.client.create(self.path[:i])
                except NodeExistsError:
                    pass
        self.client.create(self.path, value)

    def subscribe(self, from_zxid: int = 0, *, recursive: bool = False) -> "ConfigSubscription":
        """The current value (a resync) then every change; from_zxid resumes."""
        sub = self.client.subscribe(self.path, recursive=recursive, from_zxid=from_zxid)
        return ConfigSubscription(sub, ConfigTracker(self.path, recursive, from_zxid))


class ConfigSubscription:
    """A config's updates, in order. Iterate it, or call next(). ``last``
    is the zxid to resume from."""

    def __init__(self, sub: Subscription, tracker: ConfigTracker) -> None:
        self._sub = sub
        self._t = tracker

    @property
    def last(self) -> int:
        return self._t.last

    def next(self, timeout: Optional[float] = None) -> ConfigUpdate:
        while True:
            u = self._t.pop()
            if u is not None:
                return u
            self._t.feed(self._sub.next(timeout))

    def __iter__(self) -> Iterator[ConfigUpdate]:
        try:
            while True:
                try:
                    u = self.next()
                except StreamClosedError:
                    return
                yield u
        finally:
            self.close()

    def close(self) -> None:
        self._sub.close()

    def __enter__(self) -> "ConfigSubscription":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()



__all__ = ["Lease", "Leadership", "Election", "Task", "Membership", "Semaphore", "SemaphoreLease",
           "Barrier", "DoubleBarrier", "Queue", "Counter", "Config", "ConfigSubscription"]
