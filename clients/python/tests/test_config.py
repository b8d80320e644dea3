"""Config subscriptions see every update, in order, and resume from a zxid."""

from __future__ import annotations

import asyncio
from typing import List

import warden
import warden.aio
from conftest import Agent, ensure


def test_config_subscription_sees_every_update_in_order(agent: Agent) -> None:
    path = "/t/config/app"
    with warden.connect(agent.socket, name="writer") as w, warden.connect(agent.socket, name="reader") as r:
        w.config(path).set(b"initial")
        sub = r.config(path).subscribe()
        first = sub.next(10)
        assert first.resync and first.synced and first.value == b"initial"

        n = 200
        wcfg = w.config(path)
        for i in range(n):
            wcfg.set(f"v{i}".encode())
        got: List[warden.ConfigUpdate] = [sub.next(10) for _ in range(n)]
        assert [u.value for u in got] == [f"v{i}".encode() for i in range(n)]
        assert all(not u.resync and not u.deleted for u in got)
        zx = [u.zxid for u in got]
        assert all(a < b for a, b in zip(zx, zx[1:])), "zxids not increasing"
        assert [u.version for u in got] == list(range(1, n + 1))
        assert sub.last == got[-1].zxid
        sub.close()

        # Resume after the 100th update on a new connection: exactly the rest.
        with warden.connect(agent.socket, name="resumer") as r2:
            sub2 = r2.config(path).subscribe(from_zxid=got[99].zxid)
            rest = [sub2.next(10) for _ in range(n - 100)]
            assert [u.value for u in rest] == [f"v{i}".encode() for i in range(100, n)]
            assert [u.zxid for u in rest] == zx[100:]
            assert not any(u.resync for u in rest)
            wcfg.set(b"after")
            nxt = sub2.next(10)
            assert nxt.value == b"after" and nxt.zxid > zx[-1]
            sub2.close()


def test_raw_subscribe_recursive_and_break_unsubscribes(agent: Agent) -> None:
    root = "/t/config/tree"
    with warden.connect(agent.socket) as c, warden.connect(agent.socket) as w:
        ensure(c, root)
        c.create(root, b"r")
        seen: List[warden.ChangeEvent] = []
        sub = c.subscribe(root, recursive=True)
        for ev in sub:
            seen.append(ev)
            if ev.type == "synced":
                w.create(root + "/a", b"1")
                w.set(root + "/a", b"2")
                w.delete(root + "/a")
            if ev.type == "deleted":
                break
        assert [e.type for e in seen] == ["resync", "synced", "created", "data_changed", "deleted"]
        assert seen[3].data == b"2" and seen[3].path == root + "/a"
        assert sub.last_zxid == seen[-1].zxid
        # Breaking out of the loop unsubscribed: the agent no longer knows the stream.
        sid = sub.sub
        try:
            c.request("unsubscribe", sub=sid)
            raise AssertionError("the stream was still open at the agent")
        except warden.BadArgumentsError:
            pass


def test_config_compare_and_set(agent: Agent) -> None:
    with warden.connect(agent.socket) as c:
        cfg = c.config("/t/config/cas/deep/value")
        assert cfg.set(b"a", warden.CONFIG_ABSENT) == 0
        try:
            cfg.set(b"b", warden.CONFIG_ABSENT)
            raise AssertionError("set of an absent config succeeded twice")
        except warden.NodeExistsError:
            pass
        assert cfg.set(b"b", 0) == 1
        try:
            cfg.set(b"c", 0)
            raise AssertionError("stale version accepted")
        except warden.BadVersionError:
            pass
        assert cfg.get() == (b"b", 1)


def test_config_get_of_a_value_never_set_is_none_and_config_absent(agent: Agent) -> None:
    """On a fresh agent, the README's get-then-set runs as written: get()
    gives (None, CONFIG_ABSENT), and set(value, version) then creates the
    value only if nobody did meanwhile."""
    with warden.connect(agent.socket) as c, warden.connect(agent.socket) as other:
        cfg = c.config("/t/config/fresh/app")
        value, version = cfg.get()
        assert (value, version) == (None, warden.CONFIG_ABSENT)
        stale_value, stale_version = other.config("/t/config/fresh/app").get()
        assert cfg.set(b'{"workers": 8}', version) == 0
        assert cfg.get() == (b'{"workers": 8}', 0)
        try:
            other.config("/t/config/fresh/app").set(b'{"workers": 1}', stale_version)
            raise AssertionError("a set based on a stale absent value succeeded")
        except warden.NodeExistsError:
            pass
        c.delete("/t/config/fresh/app")
        assert cfg.get() == (None, warden.CONFIG_ABSENT)


def test_async_config_get_of_a_value_never_set(agent: Agent) -> None:
    async def main() -> None:
        c = await warden.aio.connect(agent.socket)
        try:
            assert await c.config("/t/config/fresh/async").get() == (None, warden.CONFIG_ABSENT)
        finally:
            await c.close()

    asyncio.run(main())
