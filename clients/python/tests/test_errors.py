"""Each error code that a real agent can be made to return maps to its class."""

from __future__ import annotations

import socket
import struct
import time
from typing import List

import pytest

import warden
from conftest import Agent, ensure, poll
from warden._wire import FrameReader, decode_message
from warden.errors import error_from_wire


def test_znode_errors(agent: Agent) -> None:
    with warden.connect(agent.socket) as c:
        base = "/t/errors/znodes"
        ensure(c, base)
        c.create(base)
        with pytest.raises(warden.NoNodeError) as ei:
            c.get(base + "/missing")
        assert ei.value.code == "no_node" and "missing" in ei.value.message
        with pytest.raises(warden.NodeExistsError):
            c.create(base)
        c.set(base, b"x")
        with pytest.raises(warden.BadVersionError):
            c.set(base, b"y", 7)
        c.create(base + "/child")
        with pytest.raises(warden.NotEmptyError):
            c.delete(base)
        eph = c.create(base + "/eph", ephemeral=True)
        with pytest.raises(warden.NoChildrenForEphemeralsError):
            c.create(eph + "/x")
        with pytest.raises(warden.BadArgumentsError) as ba:
            c.get("no-slash")
        assert isinstance(ba.value, ValueError)
        with pytest.raises(warden.TooLargeError):
            c.create(base + "/big", b"x" * (1024 * 1024 + 1))
        with pytest.raises(warden.NodeExistsError) as me:
            c.multi([warden.Op.create(base + "/m1"), warden.Op.create(base + "/m1")])
        assert me.value.index == 1
        assert c.exists(base + "/m1") is None, "a failed multi applied an op"


def test_lock_errors(agent: Agent) -> None:
    path = "/t/errors/lock"
    with warden.connect(agent.socket) as a, warden.connect(agent.socket) as b:
        gone = a.lock(path).key
        a.unlock(gone)
        with pytest.raises(warden.NotHeldError):
            a.unlock(gone)
        lease = a.lock(path)
        with pytest.raises(warden.NotHeldError):
            b.unlock(lease.key)
        with pytest.raises(warden.OperationTimeoutError):
            b.lock(path, timeout=0.1)
        # canceled: a waiting lock canceled through the low-level API.
        pending = b.submit("lock", path=path, wait_ms=-1)
        poll(lambda: len(a.children(path)) == 2, what="waiter queued")
        pending.cancel()
        with pytest.raises(warden.CanceledError):
            pending.result(10)
        assert a.children(path) == [lease.key.rsplit("/", 1)[1]], "the canceled contender stayed"
        with pytest.raises(warden.UnknownOpError):
            a.request("frobnicate", path="/")
        with pytest.raises(warden.UnknownOpError):
            a.request("check", path="/")
        lease.unlock()


def test_session_errors(agent: Agent) -> None:
    with pytest.raises(warden.UnsupportedVersionError):
        warden.connect(agent.socket, protocol=99)
    with warden.connect(agent.socket, resumable=True, session_timeout=5) as c:
        token = c.resume_token()
        assert token is not None and len(token.secret) == 16
        bad = warden.ResumeToken(token.session_id, bytes(16))
        with pytest.raises(warden.SessionExpiredError):
            warden.connect(agent.socket, resume=bad)
        assert warden.ResumeToken.from_str(token.to_str()) == token
    with warden.connect(agent.socket, no_session=True) as ro:
        assert ro.session_id == 0
        assert ro.exists("/") is not None
        with pytest.raises(warden.NoSessionError):
            ro.create("/t/errors/no-session")
    with pytest.raises(warden.ConnectionClosedError):
        warden.connect("/tmp/no-such-dir/warden.sock")


def test_bad_frame_is_a_connection_error(agent: Agent) -> None:
    # A frame the client library would never send: crafted by hand, then the
    # agent's answer read through the client's own reader and decoder.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(agent.socket)
    s.sendall(struct.pack(">I", 0))
    r = FrameReader()
    frames: List[bytes] = []
    deadline = time.monotonic() + 10
    while not frames and time.monotonic() < deadline:
        data = s.recv(65536)
        if not data:
            break
        frames = r.feed(data)
    s.close()
    m = decode_message(frames[0])
    assert m.id == 0 and m.error is not None
    assert isinstance(error_from_wire(m.error), warden.BadFrameError)
