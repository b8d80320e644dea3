"""Locks with fencing tokens, between two connections (two sessions)."""

from __future__ import annotations

import threading
import time
from typing import List

import pytest

import warden
from conftest import Agent


def test_lock_mutual_exclusion_and_tokens(agent: Agent) -> None:
    path = "/t/lock/exclusion"
    clients = [warden.connect(agent.socket, name=f"c{i}") for i in range(2)]
    inside = 0
    overlaps = 0
    tokens: List[int] = []
    mu = threading.Lock()
    errors: List[BaseException] = []

    def worker(c: warden.Client) -> None:
        nonlocal inside, overlaps
        try:
            for _ in range(25):
                with c.lock(path, timeout=20) as lease:
                    with mu:
                        inside += 1
                        overlaps += inside > 1
                        tokens.append(lease.token)
                    assert lease.check()
                    time.sleep(0.001)  # widen the window an overlap would show in
                    with mu:
                        inside -= 1
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert overlaps == 0
    assert len(tokens) == 50
    assert all(a < b for a, b in zip(tokens, tokens[1:])), f"tokens not strictly increasing: {tokens}"
    for c in clients:
        c.close()


def test_try_lock_timeout_and_stale_token(agent: Agent) -> None:
    path = "/t/lock/try"
    with warden.connect(agent.socket) as a, warden.connect(agent.socket) as b:
        lease = a.lock(path)
        assert lease.key.startswith(path + "/")
        assert b.try_lock(path) is None, "try-lock succeeded while the lock was held"

        t0 = time.monotonic()
        with pytest.raises(warden.OperationTimeoutError) as ei:
            b.lock(path, timeout=0.3)
        elapsed = time.monotonic() - t0
        assert 0.25 <= elapsed < 5, elapsed
        assert ei.value.code == "timeout"
        # The timed-out waiter left no contender behind.
        assert a.children(path) == [lease.key.rsplit("/", 1)[1]]

        old = lease.token
        lease.unlock()
        assert not a.lock_check(path, old), "a released lease's token still checks as held"
        assert not lease.check()
        with b.lock(path, timeout=5) as newer:
            assert newer.token > old
            assert newer.check()
            assert a.lock_check(path, newer.token)
            assert not a.lock_check(path, old)
        assert b.try_lock(path + "-free") is not None


def test_waiter_is_granted_on_unlock(agent: Agent) -> None:
    path = "/t/lock/handoff"
    with warden.connect(agent.socket) as a, warden.connect(agent.socket) as b:
        first = a.lock(path)
        got: List[warden.Lease] = []
        t = threading.Thread(target=lambda: got.append(b.lock(path, timeout=20)))
        t.start()
        # The waiter's contender appears behind the holder's.
        from conftest import poll
        poll(lambda: len(a.children(path)) == 2, what="waiter queued")
        first.unlock()
        t.join(20)
        assert got and got[0].token > first.token and got[0].check()
        got[0].unlock()


def test_read_write_lock(agent: Agent) -> None:
    path = "/t/lock/rw"
    with warden.connect(agent.socket) as a, warden.connect(agent.socket) as b, \
            warden.connect(agent.socket) as c:
        r1 = a.read_lock(path)
        r2 = b.read_lock(path, timeout=5)
        assert c.try_write_lock(path) is None
        assert c.try_lock(path) is None, "lock and write_lock share the line"
        r1.unlock()
        r2.unlock()
        w = c.write_lock(path, timeout=5)
        assert a.try_read_lock(path) is None
        assert w.token > r2.token
        w.unlock()
