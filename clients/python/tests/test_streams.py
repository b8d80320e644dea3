"""Stream lifetimes: fired watches, abandoned streams, backlogs, concurrent
opening, and grant requests cancelled at random moments."""

from __future__ import annotations

import asyncio
import gc
import random
from typing import Any, List

import pytest

import warden
import warden.aio
from conftest import Agent, poll


def test_watch_wait_after_it_fired_returns_the_same_event(agent: Agent) -> None:
    path = "/t/streams/watch"
    with warden.connect(agent.socket) as c:
        c.config(path).set(b"")
        _, _, w = c.get_w(path)
        c.set(path, b"x")
        ev = w.wait(10)
        assert ev.type == "data_changed" and ev.path == path
        assert w.wait(1) == ev
        assert w.wait() == ev  # never hangs

    async def main() -> None:
        async with await warden.aio.connect(agent.socket) as a:
            _, _, aw = await a.get_w(path)
            await a.set(path, b"y")
            first = await aw.wait(10)
            assert await aw.wait(1) == first and first.type == "data_changed"

    asyncio.run(main())


def test_dropped_stream_is_ended_at_the_agent(agent: Agent) -> None:
    path = "/t/streams/dropped"
    with warden.connect(agent.socket) as c:
        c.config(path).set(b"v")
        sub = c.subscribe(path)
        sid = sub.sub
        conn = c._a._conn
        assert conn is not None and sid in conn.streams
        del sub
        gc.collect()
        # A stream leaves the connection's table only once the agent has
        # answered its unsubscribe (it once left before the unsubscribe was
        # sent, and this test's own unsubscribe could then reach the agent,
        # which runs requests concurrently, first).
        poll(lambda: sid not in conn.streams, what="the dropped stream ended")
        # The agent no longer has it: unsubscribing it again is refused.
        with pytest.raises(warden.BadArgumentsError):
            poll_unsubscribed(c, sid)

    async def main() -> None:
        async with await warden.aio.connect(agent.socket) as a:
            s = await a.subscribe(path)
            asid = s.sub
            aconn = a._conn
            assert aconn is not None and asid in aconn.streams
            del s
            gc.collect()
            for _ in range(500):
                if asid not in aconn.streams:
                    break
                await asyncio.sleep(0.01)
            assert asid not in aconn.streams

    asyncio.run(main())


def poll_unsubscribed(c: warden.Client, sid: int) -> None:
    c.request("unsubscribe", sub=sid)


def test_a_stream_that_falls_behind_ends_with_overflow(agent: Agent) -> None:
    path = "/t/streams/overflow"
    with warden.connect(agent.socket, stream_backlog=20) as r, warden.connect(agent.socket) as w:
        w.config(path).set(b"start")
        sub = r.subscribe(path)
        assert sub.next(10).type in ("resync", "synced")
        for i in range(60):
            w.set(path, b"%d" % i)
        w.sync()
        r.sync()  # every change event has reached r's reader by now
        with pytest.raises(warden.StreamOverflowError) as ei:
            for _ in range(100):
                sub.next(10)
        assert "did not keep up" in str(ei.value)
        conn = r._a._conn
        assert conn is not None
        poll(lambda: sub.sub not in conn.streams, what="the overflowed stream ended")
        # A new subscription from last_zxid sees what came after.
        with warden.connect(agent.socket) as r2, r2.subscribe(path, from_zxid=sub.last_zxid) as again:
            assert again.next(10).zxid > sub.last_zxid


def test_async_stream_opened_by_many_tasks_at_once_opens_once(agent: Agent) -> None:
    async def main() -> None:
        path = "/t/streams/aopen"
        async with await warden.aio.connect(agent.socket) as a:
            await a.config(path).set(b"v")
            s = a.subscribe(path)
            await asyncio.gather(*(s.open() for _ in range(5)))
            assert a._conn is not None and list(a._conn.streams) == [s.sub]
            await s.close()

    asyncio.run(main())


def test_async_lock_cancelled_at_random_moments_leaves_nothing(agent: Agent) -> None:
    async def main() -> None:
        path = "/t/streams/cancel-storm"
        rnd = random.Random(7)
        async with await warden.aio.connect(agent.socket) as holder, \
                await warden.aio.connect(agent.socket) as b, \
                await warden.aio.connect(agent.socket) as c:
            stop = False

            async def hand_over() -> None:
                while not stop:
                    lease = await holder.lock(path)
                    for _ in range(rnd.randint(0, 3)):
                        await asyncio.sleep(0)
                    await lease.unlock()

            mover = asyncio.ensure_future(hand_over())
            got = 0
            for _ in range(150):
                task = asyncio.ensure_future(b.lock(path))
                for _ in range(rnd.randint(0, 40)):
                    await asyncio.sleep(0)  # a random number of loop turns
                task.cancel()
                try:
                    lease = await task
                except asyncio.CancelledError:
                    continue
                got += 1
                await lease.unlock()
            stop = True
            await mover
            assert not b._conn.pending  # type: ignore[union-attr]
            try:
                names = await c.children(path)
            except warden.NoNodeError:
                names = []  # the lock's container went with its last contender
            for n in names:
                st = await c.exists(path + "/" + n)
                assert st is None or st.ephemeral_owner != b.session_id, f"{n} of b's session is left"
            free = await c.try_lock(path)
            assert free is not None, "the lock is not free"
            await free.unlock()

    asyncio.run(main())


def test_resume_point_of_a_subscription() -> None:
    """What a subscription asks for when it is opened again: from the last
    change delivered; a multi's zxid again, skipping what was delivered of
    it; the state again after an unfinished resync; known paths (config)."""
    from warden._stream import CHANGES, CONFIG, StreamCore, ThreadSink
    from warden._wire import Message

    def ev(t: str, path: str, zxid: int, **flags: bool) -> Message:
        return Message(id=0, event="change", sub=1, body={"type": t, "path": path, "zxid": zxid, **flags})

    sub = StreamCore({"op": "subscribe", "path": "/a", "scope": "subtree"}, CHANGES, ThreadSink(), 100)
    for m in (ev("resync", "/a", 5), ev("synced", "/a", 5), ev("created", "/a/x", 7), ev("created", "/a/y", 7)):
        sub.push(m)
    # Two changes of the multi at zxid 7 delivered: replay 7, skip those two.
    assert sub.again()["from_zxid"] == 6
    for m in (ev("created", "/a/x", 7), ev("created", "/a/y", 7), ev("created", "/a/z", 7),
              ev("data_changed", "/a", 9)):
        sub.push(m)
    sink = sub.sink
    assert isinstance(sink, ThreadSink)
    got = [sink.get(1) for _ in range(sink.qsize())]
    assert [m.body.get("path") for m in got if isinstance(m, Message) and m.body] == \
        ["/a", "/a", "/a/x", "/a/y", "/a/z", "/a"]
    assert (sub.again()["from_zxid"], sub.skip) == (8, 1)
    sub.push(ev("data_changed", "/a", 9))  # delivered before: skipped
    assert sink.qsize() == 0
    # A resync cut short: from the point before it, nothing to skip.
    sub.push(ev("resync", "/a", 12))
    assert (sub.again()["from_zxid"], sub.skip) == (9, 0)

    cfg = StreamCore({"op": "subscribe", "path": "/c", "scope": "subtree", "fold": True}, CONFIG, ThreadSink(), 100)
    for m in (ev("resync", "/c", 3), ev("resync", "/c/old", 3, synced=True), ev("deleted", "/c/old", 4),
              ev("created", "/c/new", 5)):
        cfg.push(m)
    again = cfg.again()
    assert (again["from_zxid"], again["known"], again["fold"]) == (4, ["/c", "/c/new"], True)
    cfg.push(ev("resync", "/c/new", 8, deleted=True, synced=True))
    assert cfg.again()["known"] == ["/c"]
