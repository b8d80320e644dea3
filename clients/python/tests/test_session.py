"""Session states, lost connections, heartbeats and resumable sessions."""

from __future__ import annotations

import os
import threading
import time
from typing import List

import pytest

import warden
from conftest import Agent, States, poll


def test_state_callback_connected_then_closed(agent: Agent) -> None:
    states = States()
    c = warden.connect(agent.socket, on_session_state=states)
    states.wait_for("connected")
    assert c.state == "connected"
    c.close()
    states.wait_for("closed")
    assert states.seen == ["connected", "closed"]
    with pytest.raises(warden.ConnectionClosedError):
        c.get("/")
    c.close()  # twice is fine


def test_agent_death_fails_pending_and_later_calls(own_agent: Agent) -> None:
    states = States()
    holder = warden.connect(own_agent.socket)
    waiter = warden.connect(own_agent.socket, on_session_state=states)
    holder.lock("/t/session/dead")
    failures: List[BaseException] = []

    def wait() -> None:
        try:
            waiter.lock("/t/session/dead")
        except BaseException as e:  # noqa: BLE001
            failures.append(e)

    t = threading.Thread(target=wait)
    t.start()
    poll(lambda: len(holder.children("/t/session/dead")) == 2, what="waiter queued")
    own_agent.kill()
    t.join(5)
    assert not t.is_alive(), "the pending lock did not fail when the connection ended"
    assert failures and isinstance(failures[0], warden.ConnectionClosedError), failures
    states.wait_for("lost", 5)
    with pytest.raises(warden.SessionLostError):
        waiter.get("/")
    assert waiter.closed
    holder.close()
    waiter.close()


def test_heartbeat_keeps_a_quiet_session(agent: Agent) -> None:
    states = States()
    # 1.5 s: long enough that a busy machine does not delay a ping (one
    # every 0.5 s) past the timeout.
    with warden.connect(agent.socket, heartbeat=True, session_timeout=1.5, on_session_state=states) as c:
        time.sleep(3.2)  # over two timeouts of silence from the app
        c.ping()
        assert c.state == "connected" and "lost" not in states.seen


def test_resumable_session_survives_agent_restart(own_agent: Agent) -> None:
    states = States()
    path = "/t/session/resume"
    a = warden.connect(own_agent.socket, resumable=True, session_timeout=20, on_session_state=states)
    states.wait_for("connected")
    lease = a.lock(path)
    sid = a.session_id
    a.barrier(path + "-barrier").set()
    in_flight = a.submit("barrier_wait", path=path + "-barrier", wait_ms=-1)

    own_agent.restart()  # SIGKILL, then the same data dir, socket and node name
    with pytest.raises(warden.DisconnectedError):
        in_flight.result(10)
    i = states.wait_for("disconnected", 20)
    states.wait_for("connected", 30, after=i)
    a.wait_connected(30)
    assert a.session_id == sid
    assert lease.check(), "the lease did not survive the resume"

    with warden.connect(own_agent.socket) as b:
        assert b.lock_check(path, lease.token)
        assert b.try_lock(path) is None, "another session took a lock the resumed session holds"
        lease.unlock()
        got = b.try_lock(path)
        assert got is not None and got.token > lease.token
    a.close()


def test_resume_token_takes_the_session_up_elsewhere(agent: Agent) -> None:
    path = "/t/session/token"
    a = warden.connect(agent.socket, resumable=True, session_timeout=10)
    lease = a.lock(path)
    token = a.resume_token()
    assert token is not None
    a.close()  # detaches the resumable session; it keeps its lock
    with warden.connect(agent.socket, resume=token) as b:
        assert b.session_id == token.session_id and b.hello.resumed
        assert b.lock_check(path, lease.token)
        b.unlock(lease.key)
        assert not b.lock_check(path, lease.token)


def test_resume_gives_up_after_the_session_timeout(own_agent: Agent) -> None:
    states = States()
    a = warden.connect(own_agent.socket, resumable=True, session_timeout=1, on_session_state=states)
    own_agent.kill()  # and not started again
    i = states.wait_for("disconnected", 10)
    states.wait_for("lost", 10, after=i)
    with pytest.raises(warden.SessionLostError):
        a.ping()
    with pytest.raises(warden.SessionLostError):
        a.wait_connected(1)
    a.close()


def test_sessions_lists_this_clients_session(agent: Agent) -> None:
    before = int(time.time() * 1000)
    with warden.connect(agent.socket, name="py-sessions", session_timeout=7) as c, \
            warden.connect(agent.socket, no_session=True) as ro:
        for lister in (c, ro):
            sessions = lister.sessions()
            assert all(isinstance(s, warden.SessionInfo) for s in sessions)
            assert [s.id for s in sessions] == sorted(s.id for s in sessions)
            mine = [s for s in sessions if s.id == c.session_id]
            assert len(mine) == 1, sessions
            s = mine[0]
            assert s.pid == os.getpid() and s.uid == os.geteuid() and s.gid == os.getegid()
            assert s.agent == c.agent == "shared" and s.client == "py-sessions"
            assert s.timeout_ms == 7000 and not s.resumable and not s.heartbeat
            assert before - 5000 <= s.created <= int(time.time() * 1000) + 5000
    # Closing the client ends its (not resumable) session.
    with warden.connect(agent.socket, no_session=True) as ro:
        poll(lambda: all(s.id != c.session_id for s in ro.sessions()), what="the closed session gone")
