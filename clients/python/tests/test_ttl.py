"""TTL nodes: a create with ttl (seconds) shows the TTL in its Stat (ms)
and is deleted by the cluster once it has passed; bad TTLs are refused."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import warden
import warden.aio
from conftest import Agent


def test_ttl_node_shows_its_ttl_and_is_gone_after_it(agent: Agent) -> None:
    with warden.connect(agent.socket) as c:
        path = c.create("/ttl-py-", b"x", sequential=True, ttl=1.0)
        _, st, w = c.get_w(path)
        assert st.ttl == 1000
        root = c.exists("/")
        assert root is not None and root.ttl == 0
        ev = w.wait(15)  # the leader looks every second: due within about 2 s
        assert ev.type == "deleted" and ev.path == path
        assert time.time() * 1000 >= st.mtime + st.ttl, "deleted before its TTL passed"
        assert c.exists(path) is None

        (r,) = c.multi([warden.Op.create("/ttl-py-multi", ttl=90.0005)])
        assert r.stat.ttl == 90001  # rounded up to a whole ms
        bad: Any
        for bad in (0, -1.0, float("nan"), float("inf"), True, "1", 2.0**48):
            with pytest.raises(warden.BadArgumentsError):
                c.create("/ttl-py-bad", ttl=bad)
        with pytest.raises(warden.BadArgumentsError):
            c.create("/ttl-py-bad", ephemeral=True, ttl=1.0)  # refused by the agent
        assert c.exists("/ttl-py-bad") is None


def test_ttl_node_async(agent: Agent) -> None:
    async def main() -> None:
        async with await warden.aio.connect(agent.socket) as a:
            path = await a.create("/ttl-py-aio", b"", ttl=0.5)
            st, w = await a.exists_w(path)
            assert st is not None and st.ttl == 500
            ev = await w.wait(15)
            assert ev.type == "deleted" and ev.path == path
            assert await a.exists(path) is None

    asyncio.run(main())
