"""Resuming sessions: reclaiming what cut-short grant requests left queued,
retrying failed resume attempts, heartbeats of resumed sessions, and the
session state as connect() returns."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import threading
import time
from typing import Any, Dict, List, Optional

import msgpack
import pytest

import warden
import warden.aio
from conftest import Agent, States, poll
from warden._wire import FrameReader, decode_message


def _own_nodes(c: Any, path: str, session_id: int) -> List[str]:
    out = []
    for name in c.children(path):
        st = c.exists(path + "/" + name)
        if st is not None and st.ephemeral_owner == session_id:
            out.append(name)
    return out


def test_resume_reclaims_a_cut_short_lock_request(own_agent: Agent) -> None:
    path = "/t/resume/reclaim"
    sa, sb = States(), States()
    a = warden.connect(own_agent.socket, resumable=True, session_timeout=20, on_session_state=sa)
    b = warden.connect(own_agent.socket, resumable=True, session_timeout=20, on_session_state=sb)
    held = b.lock(path)
    failures: List[BaseException] = []

    def wait() -> None:
        try:
            a.lock(path)
        except BaseException as e:  # noqa: BLE001
            failures.append(e)

    t = threading.Thread(target=wait)
    t.start()
    poll(lambda: len(b.children(path)) == 2, what="a queued behind b")
    own_agent.restart()
    t.join(20)
    assert not t.is_alive()
    assert failures and isinstance(failures[0], warden.DisconnectedError), failures
    for c, st in ((a, sa), (b, sb)):
        i = st.wait_for("disconnected", 20)
        st.wait_for("connected", 30, after=i)
        c.wait_connected(30)
    # a reclaimed before reporting connected: nothing of its session is left.
    assert _own_nodes(a, path, a.session_id) == []
    assert held.check()
    held.unlock()
    with warden.connect(own_agent.socket) as c:
        got = c.try_lock(path)
        assert got is not None, "an orphan contender blocks the lock"
        got.unlock()
    retry = a.lock(path, timeout=10)
    assert retry.check()
    retry.unlock()
    a.close()
    b.close()


def test_async_resume_reclaims_a_cut_short_lock_request(own_agent: Agent) -> None:
    async def main() -> None:
        path = "/t/resume/areclaim"
        states: List[str] = []
        changed = asyncio.Event()

        def record(s: str) -> None:
            states.append(s)
            changed.set()

        a = await warden.aio.connect(own_agent.socket, resumable=True, session_timeout=20, on_session_state=record)
        b = await warden.aio.connect(own_agent.socket, resumable=True, session_timeout=20)
        held = await b.lock(path)
        waiter = asyncio.ensure_future(a.lock(path))
        while len(await b.children(path)) != 2:
            await asyncio.sleep(0.01)
        await asyncio.get_running_loop().run_in_executor(None, own_agent.restart)
        with pytest.raises(warden.DisconnectedError):
            await asyncio.wait_for(waiter, 20)
        await a.wait_connected(30)
        await b.wait_connected(30)
        assert "disconnected" in states and states[-1] == "connected"
        names = await a.children(path)
        for n in names:
            st = await a.exists(path + "/" + n)
            assert st is None or st.ephemeral_owner != a.session_id, f"{n} of a's session is left"
        assert await held.check()
        await held.unlock()
        got = await a.try_lock(path)
        assert got is not None, "an orphan contender blocks the lock"
        await got.unlock()
        await a.close()
        await b.close()

    asyncio.run(main())


class FakeAgent:
    """A Unix socket server in the agent's place: answers each hello with
    an error (or with a session, then reads nothing), and closes."""

    def __init__(self, path: str, mode: str = "unavailable") -> None:
        self.path = path
        self.mode = mode
        self.served = 0
        self.cond = threading.Condition()
        if os.path.exists(path):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)
        self.conns: List[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @staticmethod
    def frame(m: Dict[str, Any]) -> bytes:
        body: bytes = msgpack.packb(m, use_bin_type=True)
        return struct.pack(">I", len(body)) + body

    def _hello_id(self, conn: socket.socket) -> int:
        r = FrameReader()
        while True:
            data = conn.recv(1 << 16)
            if not data:
                return 0
            bodies = r.feed(data)
            if bodies:
                rid = (decode_message(bodies[0]).raw or {}).get("id", 0)
                return int(rid)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            rid = self._hello_id(conn)
            if self.mode == "unavailable":
                conn.sendall(self.frame({"id": rid, "error": {"code": "unavailable", "message": "no leader"}}))
                conn.close()
            else:  # a session, then nothing read any more
                conn.sendall(self.frame({"id": rid, "result": {"protocol": 1, "session_id": 9,
                                                                "session_timeout_ms": 500, "agent": "fake"}}))
                self.conns.append(conn)
            with self.cond:
                self.served += 1
                self.cond.notify_all()

    def wait_served(self, n: int, timeout: float = 20.0) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: self.served >= n, timeout), f"served {self.served} of {n}"

    def stop(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


@pytest.mark.parametrize("failures", [1, 2])
def test_failed_resume_attempts_are_retried(own_agent: Agent, failures: int) -> None:
    path = "/t/resume/retry"
    states = States()
    a = warden.connect(own_agent.socket, resumable=True, session_timeout=20, on_session_state=states)
    lease = a.lock(path)
    own_agent.kill()
    fake = FakeAgent(own_agent.socket)
    try:
        fake.wait_served(failures)
    finally:
        fake.stop()
    assert not a.closed and a.state == "disconnected", a.state
    own_agent.start()
    a.wait_connected(30)
    assert a.state == "connected" and "lost" not in states.seen, states.seen
    assert lease.check(), "the lock did not survive the failed resume attempts"
    lease.unlock()
    a.close()


def test_async_failed_resume_attempts_are_retried(own_agent: Agent) -> None:
    async def main() -> None:
        a = await warden.aio.connect(own_agent.socket, resumable=True, session_timeout=20)
        lease = await a.lock("/t/resume/aretry")
        own_agent.kill()
        fake = FakeAgent(own_agent.socket)
        try:
            await asyncio.get_running_loop().run_in_executor(None, fake.wait_served, 2)
        finally:
            fake.stop()
        assert not a.closed
        own_agent.start()
        await a.wait_connected(30)
        assert a.state == "connected" and await lease.check()
        await lease.unlock()
        await a.close()

    asyncio.run(main())


def test_write_to_an_agent_that_reads_nothing_is_bounded(tmp_path: Any) -> None:
    sock = f"/tmp/wdfake{os.getpid()}.sock"
    fake = FakeAgent(sock, mode="silent")
    try:
        c = warden.connect(sock)
        assert c.state == "connected"
        big = b"x" * (1 << 20)
        t0 = time.monotonic()
        with pytest.raises(warden.ConnectionClosedError):
            for _ in range(64):  # fills the socket buffers, then blocks
                c.submit("set", path="/big", data=big, version=-1)
        assert time.monotonic() - t0 < 15
        c.close()
    finally:
        fake.stop()


def test_resumed_heartbeat_session_keeps_pinging(agent: Agent) -> None:
    a = warden.connect(agent.socket, resumable=True, heartbeat=True, session_timeout=1.5)
    token = a.resume_token()
    assert token is not None and token.heartbeat
    assert warden.ResumeToken.from_str(token.to_str()) == token
    # A token that does not say so still gets pings.
    plain = warden.ResumeToken(token.session_id, token.secret)
    assert warden.ResumeToken.from_str(plain.to_str()) == plain
    a.close()  # detaches the session
    states = States()
    with warden.connect(agent.socket, resume=plain, on_session_state=states) as b:
        time.sleep(3.2)  # over two timeouts of silence from the application
        b.ping()
        assert b.state == "connected" and "lost" not in states.seen, states.seen


def test_state_is_connected_when_connect_returns(agent: Agent) -> None:
    states = States()
    with warden.connect(agent.socket, on_session_state=states) as c:
        assert c.state == "connected"
        c.sync()  # the agent's connected event has been read by now
        c.ping()
        assert states.seen == ["connected"], states.seen
    with warden.connect(agent.socket, no_session=True) as t:
        assert t.state == "connected"
        t.wait_connected(1)

    async def main() -> None:
        seen: List[str] = []
        async with await warden.aio.connect(agent.socket, on_session_state=seen.append) as c:
            assert c.state == "connected"
            await c.sync()
            await c.ping()
            assert seen == ["connected"], seen
        async with await warden.aio.connect(agent.socket, no_session=True) as t:
            await t.wait_connected(1)

    asyncio.run(main())


def test_exit_of_a_lost_session_keeps_the_body_error(own_agent: Agent) -> None:
    c = warden.connect(own_agent.socket)
    g = warden.connect(own_agent.socket)
    lease = c.lock("/t/resume/exit")
    ld = c.election("/t/resume/exit-e").campaign(b"x")
    m = c.join("t-exit-group", "m")
    g.close()
    own_agent.kill()
    with pytest.raises(KeyError):
        with lease, ld, m:
            raise KeyError("the body's own error")
    c.close()
