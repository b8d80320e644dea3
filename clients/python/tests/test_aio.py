"""The asyncio API: locks, cancellation, subscriptions and elections."""

from __future__ import annotations

import asyncio
import os
import time
from typing import List

import pytest

import warden
import warden.aio
from conftest import Agent


async def _until(cond, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition did not hold in time")
        await asyncio.sleep(0.01)


def test_async_lock(agent: Agent) -> None:
    async def main() -> None:
        path = "/t/aio/lock"
        states: List[str] = []
        async with await warden.aio.connect(agent.socket, on_session_state=states.append) as a, \
                await warden.aio.connect(agent.socket) as b:
            async with a.lock(path) as lease:
                assert await lease.check()
                assert await b.try_lock(path) is None
                with pytest.raises(warden.OperationTimeoutError):
                    await b.lock(path, timeout=0.2)
                waiter = asyncio.ensure_future(b.lock(path, timeout=10))
                await _until(lambda: _count(a, path, 2))
                assert not waiter.done()
            second = await waiter
            assert second.token > lease.token and await second.check()
            assert not await a.lock_check(path, lease.token)
            await second.unlock()
        assert states[0] == "connected" and states[-1] == "closed"

    asyncio.run(main())


async def _count(c: warden.aio.AsyncClient, path: str, n: int) -> bool:
    return len(await c.children(path)) == n


def test_async_lock_cancel_withdraws_the_contender(agent: Agent) -> None:
    async def main() -> None:
        path = "/t/aio/cancel"
        async with await warden.aio.connect(agent.socket) as a, await warden.aio.connect(agent.socket) as b:
            lease = await a.lock(path)
            task = asyncio.ensure_future(b.lock(path))
            await _until(lambda: _count(a, path, 2))
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await _until(lambda: _count(a, path, 1))
            await lease.unlock()
            # b holds nothing: a can take the lock at once.
            again = await a.try_lock(path)
            assert again is not None
            await again.unlock()

    asyncio.run(main())


def test_async_subscribe(agent: Agent) -> None:
    async def main() -> None:
        path = "/t/aio/sub"
        async with await warden.aio.connect(agent.socket) as r, await warden.aio.connect(agent.socket) as w:
            await w.config(path).set(b"v-init")

            async def writer() -> None:
                for i in range(50):
                    await w.set(path, f"v{i}".encode())

            got: List[warden.ChangeEvent] = []
            writing = None
            sub = r.subscribe(path)
            async for ev in sub:
                if ev.type == "synced":
                    writing = asyncio.ensure_future(writer())
                elif ev.type == "data_changed":
                    got.append(ev)
                    if len(got) == 50:
                        break
            assert writing is not None
            await writing
            assert [e.data for e in got] == [f"v{i}".encode() for i in range(50)]
            assert all(a.zxid < b.zxid for a, b in zip(got, got[1:]))
            assert sub.last_zxid == got[-1].zxid
            # Resume from the 25th on the same connection: the rest, no resync.
            async with r.subscribe(path, from_zxid=got[24].zxid) as sub2:
                rest = [await sub2.next(10) for _ in range(25)]
            assert [e.zxid for e in rest] == [e.zxid for e in got[25:]]
            cfg = r.config(path)
            async with cfg.subscribe() as csub:
                u = await csub.next(10)
                assert u.resync and u.synced and u.value == b"v49"

    asyncio.run(main())


def test_async_election_failover(agent: Agent) -> None:
    async def main() -> None:
        name = "/t/aio/election"
        a = await warden.aio.connect(agent.socket)
        b = await warden.aio.connect(agent.socket)
        ea, eb = a.election(name), b.election(name)
        la = await ea.campaign(b"a")
        obs = eb.observe()
        first = await obs.next(10)
        assert first.key == la.key and first.value == b"a"
        campaign = asyncio.ensure_future(eb.campaign(b"b", timeout=20))
        await _until(lambda: _count(b, name, 2))
        assert not campaign.done()
        await a.close()  # the leader's session ends: b is elected
        lb = await asyncio.wait_for(campaign, 20)
        assert lb.token > la.token
        while True:
            ev = await obs.next(10)
            if ev.key == lb.key:
                break
        now = await eb.leader()
        assert now is not None and now.value == b"b"
        await eb.proclaim(b"b2")
        assert (await obs.next(10)).value == b"b2"
        await obs.close()
        with pytest.raises(warden.OperationTimeoutError):
            # A second candidacy of the same session waits behind the first.
            async with eb.campaign(b"again", timeout=0):
                pytest.fail("elected twice")
        await eb.resign()
        assert await eb.leader() is None
        await b.close()

    asyncio.run(main())


def test_async_progress_and_group(agent: Agent) -> None:
    async def main() -> None:
        async with await warden.aio.connect(agent.socket) as a, await warden.aio.connect(agent.socket) as b:
            watch = b.watch_progress("t-aio-job")
            await a.task("t-aio-job", "t").report(40, "going")
            ev = await watch.next(10)
            assert ev.task.percent == 40 and ev.task.message == "going"
            await watch.close()
            async with a.join("t-aio-group", "m1", b"d") as m:
                assert [x.member for x in await b.group_members("t-aio-group")] == [m.member]
            assert await b.group_members("t-aio-group") == []
            k = a.counter("/t/aio/counter")
            assert await k.add(2) == 2 and await k.get() == 2

    asyncio.run(main())


def test_async_sessions(agent: Agent) -> None:
    async def main() -> None:
        async with await warden.aio.connect(agent.socket, name="py-aio-sessions", heartbeat=True) as c:
            mine = [s for s in await c.sessions() if s.id == c.session_id]
            assert len(mine) == 1
            s = mine[0]
            assert isinstance(s, warden.SessionInfo)
            assert s.pid == os.getpid() and s.uid == os.geteuid() and s.gid == os.getegid()
            assert s.client == "py-aio-sessions" and s.heartbeat and not s.resumable

    asyncio.run(main())
