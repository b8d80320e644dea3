"""sessions lists what each session holds: a lock held by one session, and
the place in line of another that waits for it."""

from __future__ import annotations

import asyncio
import time
from typing import List

import warden
import warden.aio
from conftest import Agent


def _holds(sessions: List[warden.SessionInfo], sid: int) -> List[warden.Hold]:
    (mine,) = [s for s in sessions if s.id == sid]
    return mine.holds


def test_sessions_show_holds(agent: Agent) -> None:
    path = "/t/py-holds/lock"

    async def main() -> None:
        async with await warden.aio.connect(agent.socket) as a, await warden.aio.connect(agent.socket) as b:
            assert _holds(await a.sessions(), a.session_id) == []
            lease = await a.lock(path)
            held = _holds(await b.sessions(), a.session_id)
            assert held == [warden.Hold(kind="lock", path=path, key=lease.key, state="held")]

            waiter = asyncio.ensure_future(b.lock(path))
            deadline = time.monotonic() + 10
            while not _holds(await a.sessions(), b.session_id):
                assert time.monotonic() < deadline, "the waiter's place in line never showed"
                await asyncio.sleep(0.01)
            (waiting,) = _holds(await a.sessions(), b.session_id)
            assert (waiting.kind, waiting.path, waiting.state) == ("lock", path, "waiting")
            assert waiting.key.startswith(path + "/")

            await lease.unlock()
            granted = await asyncio.wait_for(waiter, 10)
            assert _holds(await a.sessions(), a.session_id) == []
            assert _holds(await a.sessions(), b.session_id) == [
                warden.Hold(kind="lock", path=path, key=granted.key, state="held")]
            await granted.unlock()

    asyncio.run(main())
