"""Resuming sessions: grant waits sent again and streams carried on across
an agent restart (the agent reclaims what the cut-short requests left
queued), calls during a resume, retried resume attempts, heartbeats of
resumed sessions, and the session state as connect() returns."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import threading
import time
from typing import Any, Dict, List

import msgpack
import pytest

import warden
import warden.aio
from conftest import Agent, States, ensure, poll
from warden._wire import FrameReader, decode_message


def _own_nodes(c: Any, path: str, session_id: int) -> List[str]:
    out = []
    for name in c.children(path):
        st = c.exists(path + "/" + name)
        if st is not None and st.ephemeral_owner == session_id:
            out.append(name)
    return out


def test_lock_wait_and_subscription_carry_on_across_an_agent_restart(own_agent: Agent) -> None:
    """SIGKILL and restart of the agent while a resumable client holds a
    lock, waits for another (held by another resumable client) and follows
    a config subscription: after the automatic resume the lock is held with
    its token, the waiter is in line again with exactly one contender node
    of its session (the agent reclaimed the one cut short), it gets the lock
    when the holder releases it, and the subscription delivers every change
    made after the restart exactly once, in order."""
    mine, theirs, cfg = "/t/resume/mine", "/t/resume/theirs", "/t/resume/cfg"
    sa, sb = States(), States()
    a = warden.connect(own_agent.socket, resumable=True, session_timeout=20, on_session_state=sa)
    b = warden.connect(own_agent.socket, resumable=True, session_timeout=20, on_session_state=sb)
    lease = a.lock(mine)
    held = b.lock(theirs)
    a.config(cfg).set(b"v0")
    sub = a.config(cfg).subscribe(recursive=True)
    first = sub.next(10)
    assert (first.path, first.value, first.synced) == (cfg, b"v0", True)
    b.config(cfg + "/x").set(b"x0")
    before = sub.next(10)
    assert (before.path, before.value, before.resync) == (cfg + "/x", b"x0", False)

    got: List[warden.Lease] = []
    failures: List[BaseException] = []

    def wait() -> None:
        try:
            got.append(a.lock(theirs, timeout=60))
        except BaseException as e:  # noqa: BLE001
            failures.append(e)

    t = threading.Thread(target=wait)
    t.start()
    poll(lambda: len(b.children(theirs)) == 2, what="a queued behind b")
    queued_before = _own_nodes(b, theirs, a.session_id)
    assert len(queued_before) == 1

    own_agent.restart()  # SIGKILL, then the same data dir, socket and node name
    for c, st in ((a, sa), (b, sb)):
        i = st.wait_for("disconnected", 20)
        st.wait_for("connected", 30, after=i)
        c.wait_connected(30)
    assert not failures and t.is_alive(), f"the lock wait did not carry on: {failures}"

    # The lock is still held, with its token.
    assert a.lock_check(mine, lease.token) and lease.check()
    assert b.lock_check(theirs, held.token)
    # The waiter is in line again: one contender node of its session, not
    # the one cut short (the agent reclaimed it before the resume's reply).
    poll(lambda: len(_own_nodes(b, theirs, a.session_id)) == 1, what="a in line again")
    queued_after = _own_nodes(b, theirs, a.session_id)
    assert queued_after != queued_before, "the contender cut short was not reclaimed"
    assert len(b.children(theirs)) == 2 and not got

    # Changes after the restart: each delivered once, in order.
    with warden.connect(own_agent.socket) as w:
        w.set(cfg, b"v1")
        w.create(cfg + "/y", b"y0")
        w.multi([warden.Op.set(cfg + "/x", b"x1"), warden.Op.delete(cfg + "/y")])
        w.set(cfg, b"v2")
    want = [(cfg, b"v1", False), (cfg + "/y", b"y0", False), (cfg + "/x", b"x1", False),
            (cfg + "/y", None, True), (cfg, b"v2", False)]
    changes: List[warden.ConfigUpdate] = []
    while len(changes) < len(want):
        u = sub.next(10)
        if u.resync:
            # The history a restarted agent keeps may not reach back: a
            # resync restates what exists (nothing new), then the changes.
            assert not changes and u.zxid >= before.zxid
            continue
        changes.append(u)
    assert [(u.path, u.value, u.deleted) for u in changes] == want
    zx = [u.zxid for u in changes]
    assert zx[0] > before.zxid and zx == sorted(zx) and zx[2] == zx[3], zx
    with pytest.raises(TimeoutError):
        sub.next(0.5)

    held.unlock()
    t.join(20)
    assert not t.is_alive() and not failures, failures
    assert got[0].token > held.token and got[0].check()
    got[0].unlock()
    lease.unlock()
    sub.close()
    a.close()
    b.close()


def test_config_subscription_resumed_past_the_history_gets_a_folded_resync(warden_bin: str) -> None:
    """While the client is disconnected, a node it knows is deleted and the
    history (4 changes here) moves past its last update: subscribed again,
    it gets the agent's folded resync, the nodes that exist, then the known
    node that is gone, the last update marked synced."""
    agent = Agent(warden_bin, "t-resume-folded", ["--history-max-changes", "4"]).start()
    try:
        cfg = "/t/resume/folded"
        c = warden.connect(agent.socket, resumable=True, session_timeout=20)
        c.config(cfg).set(b"v0")
        c.config(cfg + "/gone").set(b"g")
        sub = c.config(cfg).subscribe(recursive=True)
        assert [(u.path, u.synced) for u in (sub.next(10), sub.next(10))] == [(cfg, False), (cfg + "/gone", True)]
        c.set(cfg, b"v1")
        assert sub.next(10).value == b"v1"
        # The agent restarts on another socket: the client cannot reach it.
        main = agent.socket
        agent.kill()
        os.unlink(main)
        agent.socket = main + ".2"
        agent.start()
        with warden.connect(agent.socket) as w:
            w.delete(cfg + "/gone")
            for i in range(6):
                w.config("/t/resume/elsewhere").set(b"%d" % i)
        os.symlink(agent.socket, main)
        c.wait_connected(30)
        got = [sub.next(10) for _ in range(2)]
        assert [(u.path, u.value, u.deleted, u.resync, u.synced) for u in got] == \
            [(cfg, b"v1", False, True, False), (cfg + "/gone", None, True, True, True)]
        c.set(cfg, b"v2")
        u = sub.next(10)
        assert (u.value, u.resync) == (b"v2", False) and u.zxid > got[-1].zxid
        sub.close()
        c.close()
    finally:
        agent.cleanup()


def test_async_lock_wait_is_sent_again_after_the_resume(own_agent: Agent) -> None:
    async def main() -> None:
        path = "/t/resume/awaiter"
        states: List[str] = []
        a = await warden.aio.connect(own_agent.socket, resumable=True, session_timeout=20,
                                     on_session_state=states.append)
        b = await warden.aio.connect(own_agent.socket, resumable=True, session_timeout=20)
        held = await b.lock(path)
        waiter = asyncio.ensure_future(a.lock(path, timeout=60))
        while len(await b.children(path)) != 2:
            await asyncio.sleep(0.01)
        await asyncio.get_running_loop().run_in_executor(None, own_agent.restart)
        # The restart may return before the client has read its end.
        for _ in range(2000):
            if "disconnected" in states:
                break
            await asyncio.sleep(0.01)
        await a.wait_connected(30)
        await b.wait_connected(30)
        assert "disconnected" in states and states[-1] == "connected"
        while len(await b.children(path)) != 2:
            await asyncio.sleep(0.01)
        assert not waiter.done()
        mine = []
        for n in await a.children(path):
            st = await a.exists(path + "/" + n)
            if st is not None and st.ephemeral_owner == a.session_id:
                mine.append(n)
        assert len(mine) == 1, mine
        assert await held.check()
        await held.unlock()
        got = await asyncio.wait_for(waiter, 20)
        assert got.token > held.token and await got.check()
        await got.unlock()
        await a.close()
        await b.close()

    asyncio.run(main())


def test_lock_wait_times_out_while_the_session_is_resumed(own_agent: Agent) -> None:
    path = "/t/resume/timeout"
    a = warden.connect(own_agent.socket, resumable=True, session_timeout=20)
    b = warden.connect(own_agent.socket, resumable=True, session_timeout=20)
    held = b.lock(path)
    failures: List[BaseException] = []

    def wait() -> None:
        try:
            a.lock(path, timeout=2)
        except BaseException as e:  # noqa: BLE001
            failures.append(e)

    t = threading.Thread(target=wait)
    t.start()
    poll(lambda: len(b.children(path)) == 2, what="a queued behind b")
    own_agent.kill()
    t0 = time.monotonic()
    # Calls made while the session is being resumed fail at once.
    poll(lambda: a.state == "disconnected", what="a disconnected")
    with pytest.raises(warden.DisconnectedError):
        a.get("/")
    t.join(10)
    assert not t.is_alive() and time.monotonic() - t0 < 5
    assert failures and isinstance(failures[0], warden.OperationTimeoutError), failures
    own_agent.start()
    a.wait_connected(30)
    b.wait_connected(30)
    # Nothing of the wait is left in line.
    assert _own_nodes(b, path, a.session_id) == []
    assert held.check()
    held.unlock()
    a.close()
    b.close()


def test_streams_carry_on_across_an_agent_restart(own_agent: Agent) -> None:
    base = "/t/resume/streams"
    states = States()
    a = warden.connect(own_agent.socket, resumable=True, session_timeout=20, on_session_state=states)
    ensure(a, base)
    a.create(base, b"0")
    a.create(base + "/gone", b"g")
    sub = a.subscribe(base, recursive=True)
    assert [e.type for e in (sub.next(10), sub.next(10), sub.next(10))] == ["resync", "resync", "synced"]
    a.set(base, b"before")
    assert sub.next(10).data == b"before"
    group = a.watch_group("t-resume-group")
    m = a.join("t-resume-group", "m1", b"d")
    assert group.next(10).member.member == "m1"
    _, _, watch = a.get_w(base + "/gone")
    own_agent.restart()
    i = states.wait_for("disconnected", 20)
    # A one-shot watch ends with the connection: the app reads and watches again.
    with pytest.raises(warden.DisconnectedError):
        watch.wait(10)
    states.wait_for("connected", 30, after=i)
    with warden.connect(own_agent.socket) as w:
        w.delete(base + "/gone")
        w.create(base + "/new", b"n")
        w.set(base, b"after")
    # The subscription goes on from its last change: a restarted agent's
    # history may not reach back, and then a resync restates the nodes.
    events: List[Any] = []
    while len(events) < 3:
        e = sub.next(10)
        if e.type in ("resync", "synced"):
            assert not events and e.zxid >= sub.last_zxid
            continue
        events.append((e.type, e.path, e.data))
    assert events == [("deleted", base + "/gone", b""), ("created", base + "/new", b"n"),
                      ("data_changed", base, b"after")]
    # The group watch was opened again: the current members, then changes.
    assert group.next(10).member.member == "m1"
    m.leave()
    assert group.next(10).left
    sub.close()
    group.close()
    a.close()


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
        # The synchronous client calls on_session_state from a thread of its
        # own, so the callback may run just after connect() returns.
        states.wait_for("connected", timeout=10)
        c.sync()
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
