"""Semaphores, barriers, queues, counters, watches and raw znode ops."""

from __future__ import annotations

import threading
from typing import List

import pytest

import warden
from conftest import Agent, ensure


def test_semaphore(agent: Agent) -> None:
    path = "/t/recipes/sem"
    cs = [warden.connect(agent.socket) for _ in range(3)]
    try:
        l1 = cs[0].semaphore(path, 2).acquire()
        l2 = cs[1].semaphore(path, 2).acquire(timeout=5)
        assert cs[2].semaphore(path, 2).try_acquire() is None
        with pytest.raises(warden.BadArgumentsError):
            cs[2].semaphore(path, 3).acquire(timeout=1)
        l1.release()
        with cs[2].semaphore(path, 2).acquire(timeout=5) as l3:
            assert l3.token > l2.token
        l2.release()
    finally:
        for c in cs:
            c.close()


def test_barrier_and_double_barrier(agent: Agent) -> None:
    with warden.connect(agent.socket) as a, warden.connect(agent.socket) as b:
        bar = a.barrier("/t/recipes/barrier")
        bar.set()
        with pytest.raises(warden.OperationTimeoutError):
            b.barrier("/t/recipes/barrier").wait(timeout=0.1)
        done = threading.Event()

        def wait() -> None:
            b.barrier("/t/recipes/barrier").wait(timeout=20)
            done.set()

        t = threading.Thread(target=wait)
        t.start()
        bar.remove()
        t.join(20)
        assert done.is_set()

        entered: List[str] = []
        def member(c: warden.Client, name: str) -> None:
            db = c.double_barrier("/t/recipes/double", 2, name)
            db.enter(timeout=20)
            entered.append(name)
            db.leave(timeout=20)
        ts = [threading.Thread(target=member, args=(c, n)) for c, n in ((a, "m1"), (b, "m2"))]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        assert sorted(entered) == ["m1", "m2"]


def test_queue_and_counter(agent: Agent) -> None:
    with warden.connect(agent.socket) as a, warden.connect(agent.socket) as b:
        q = a.queue("/t/recipes/queue")
        keys = [q.put(f"item{i}".encode()) for i in range(3)]
        assert keys == sorted(keys)
        took = [b.queue("/t/recipes/queue").take(timeout=5).data for _ in range(3)]
        assert took == [b"item0", b"item1", b"item2"]
        assert b.queue("/t/recipes/queue").try_take() is None

        k = a.counter("/t/recipes/counter")
        assert k.get() == 0
        assert k.add(5) == 5
        assert b.counter("/t/recipes/counter").add(-7) == -2
        assert k.compare_and_set(3, 10) == (False, -2)
        assert k.cas(-2, 10) == (True, 10)
        assert k.get() == 10


def test_watches_and_raw_ops(agent: Agent) -> None:
    with warden.connect(agent.socket) as a, warden.connect(agent.socket) as b:
        base = "/t/recipes/raw"
        ensure(a, base)
        a.create(base)
        st, w = a.exists_w(base + "/n")
        assert st is None
        a2 = b.create(base + "/n", b"v0")
        ev = w.wait(10)
        assert (ev.type, ev.path) == ("created", a2)
        data, st0, dw = a.get_w(base + "/n")
        assert data == b"v0" and st0.version == 0
        kids, cw = a.children_w(base)
        assert kids == ["n"]
        b.set(base + "/n", b"v1", 0)
        assert dw.wait(10).type == "data_changed"
        seq = b.create(base + "/s-", sequential=True, ephemeral=True)
        assert seq.startswith(base + "/s-") and len(seq) == len(base + "/s-") + 10
        assert cw.wait(10).type == "children_changed"
        res = a.multi([warden.Op.check(base + "/n", 1), warden.Op.set(base + "/n", b"v2", 1),
                       warden.Op.create(base + "/m", b"m")])
        assert res[1].stat.version == 2 and res[2].path == base + "/m"
        assert a.sync() >= res[2].stat.czxid
        status = a.status()
        assert status.role == "server" and status.state == "Leader" and status.sessions >= 2
        assert [m.name for m in a.members()] == ["shared"]
        ow = a.exists_w(base + "/never")[1]
        ow.stop()


def test_concurrent_calls_on_one_client(agent: Agent) -> None:
    """Many threads share one connection: every reply reaches its caller."""
    base = "/t/recipes/concurrent"
    errors: List[BaseException] = []
    with warden.connect(agent.socket) as c:
        ensure(c, base)
        c.create(base)

        def work(i: int) -> None:
            try:
                p = f"{base}/n{i}"
                c.create(p, b"0")
                for j in range(1, 60):
                    assert c.set(p, str(j).encode(), j - 1).version == j
                    assert c.get(p)[0] == str(j).encode()
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        assert len(c.children(base)) == 8
        # Pipelined requests through the low-level API.
        pending = [c.submit("get", path=f"{base}/n{i % 8}") for i in range(300)]
        assert all(p.result(10)["data"] == b"59" for p in pending)
