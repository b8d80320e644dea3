"""A call's timeout goes to the agent as timeout_ms: against a cluster that
has lost its leader, a write with a timeout fails within it, with the
agent's reason (UnavailableError, "no leader for ..."), not with the
client's bare TimeoutError."""

from __future__ import annotations

import asyncio
import time

import pytest

import warden
import warden.aio
from conftest import poll, start_servers


def test_write_without_leader_says_why(warden_bin: str) -> None:
    servers = start_servers(warden_bin, 3)
    try:
        survivor = servers[2]
        # Sessions opened while there was a leader.
        c = warden.connect(survivor.socket)
        c.create("/py-noleader-before", timeout=10)

        async def opened() -> warden.aio.AsyncClient:
            return await warden.aio.connect(survivor.socket)

        loop = asyncio.new_event_loop()
        a = loop.run_until_complete(opened())
        for s in servers[:2]:
            s.kill()
        poll(lambda: c.status(timeout=5).no_leader_ms > 0, 60, "the survivor to know it has no leader")
        assert c.status().leader == ""

        start = time.monotonic()
        with pytest.raises(warden.UnavailableError) as blocking:
            c.create("/py-noleader", timeout=2)
        took = time.monotonic() - start
        assert took < 2.0, f"the agent answered after {took:.2f} s, not before the 2 s timeout"
        assert "no leader for" in blocking.value.message

        start = time.monotonic()
        with pytest.raises(warden.UnavailableError) as aio:
            loop.run_until_complete(a.set("/py-noleader-before", b"x", timeout=1.5))
        took = time.monotonic() - start
        assert took < 1.5 and "no leader for" in aio.value.message

        # A grant wait carries its own deadline (wait_ms): it says why too.
        start = time.monotonic()
        with pytest.raises(warden.WardenError) as lock:
            c.lock("/py-noleader-lock", timeout=2)
        took = time.monotonic() - start
        assert took < 3.0 and "no leader for" in str(lock.value)

        loop.run_until_complete(a.close())
        loop.close()
        c.close()
    finally:
        for s in servers:
            s.cleanup()
