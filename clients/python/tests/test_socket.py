"""Where the client looks for the agent, and its refusal of a socket that
belongs to another user (someone posing as the agent)."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
from typing import Iterator, Tuple

import pytest

import warden
import warden.aio
from conftest import Agent
from warden._socket import default_socket_path_for

OTHER_UID = 65534


def test_default_socket_path(monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_socket_path_for(0, None) == "/run/warden/warden.sock"
    assert default_socket_path_for(0, "/run/user/0") == "/run/warden/warden.sock"
    assert default_socket_path_for(1000, "/run/user/1000") == "/run/user/1000/warden/warden.sock"
    assert default_socket_path_for(1000, None) == "/tmp/warden-1000/warden.sock"
    assert default_socket_path_for(1000, "relative") == "/tmp/warden-1000/warden.sock"
    monkeypatch.delenv(warden.SOCKET_ENV, raising=False)
    assert warden.socket_path() == warden.default_socket_path()
    monkeypatch.setenv(warden.SOCKET_ENV, "/x/env.sock")
    assert warden.socket_path() == "/x/env.sock"
    assert warden.socket_path("/x/explicit.sock") == "/x/explicit.sock"


def _disown(path: str, monkeypatch: pytest.MonkeyPatch) -> Tuple[int, int]:
    """Makes path's socket belong to someone the client does not expect: as
    root, gives it to uid 65534; as another user, tells the client to
    expect another uid. Returns (owner, expected)."""
    if os.geteuid() == 0:
        os.chown(path, OTHER_UID, OTHER_UID)
        monkeypatch.delenv(warden.SOCKET_OWNER_ENV, raising=False)
        return OTHER_UID, 0
    monkeypatch.setenv(warden.SOCKET_OWNER_ENV, str(os.geteuid() + 1))
    return os.geteuid(), os.geteuid() + 1


@pytest.fixture
def impostor() -> Iterator[Tuple[str, socket.socket]]:
    d = tempfile.mkdtemp(prefix="wd", dir="/tmp")
    path = os.path.join(d, "s.sock")
    ln = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ln.bind(path)
    ln.listen(8)
    yield path, ln
    ln.close()
    os.unlink(path)
    os.rmdir(d)


def test_refuses_socket_of_another_user(impostor: Tuple[str, socket.socket],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path, ln = impostor
    owner, expected = _disown(path, monkeypatch)
    with pytest.raises(warden.SocketOwnerError) as ei:
        warden.connect(path, connect_timeout=5)
    e = ei.value
    assert isinstance(e, warden.ConnectionClosedError) and e.code == "socket_owner"
    assert (e.path, e.owner, e.expected) == (path, owner, expected)
    assert path in str(e) and f"uid {owner}" in str(e) and warden.SOCKET_OWNER_ENV in str(e)

    with pytest.raises(warden.SocketOwnerError):
        asyncio.run(warden.aio.connect(path, connect_timeout=5))

    # Nothing reached the impostor: a connect queues at once, so a
    # non-blocking accept would find it.
    ln.setblocking(False)
    with pytest.raises(BlockingIOError):
        ln.accept()


def test_owner_check_with_a_real_agent(own_agent: Agent, monkeypatch: pytest.MonkeyPatch) -> None:
    owner, _ = _disown(own_agent.socket, monkeypatch)
    with pytest.raises(warden.SocketOwnerError):
        warden.connect(own_agent.socket, connect_timeout=5)
    # Told which user the agent runs as, the client connects.
    monkeypatch.setenv(warden.SOCKET_OWNER_ENV, str(owner))
    with warden.connect(own_agent.socket, no_session=True) as c:
        assert c.status().node == own_agent.node
    monkeypatch.setenv(warden.SOCKET_OWNER_ENV, "no-such-user-here")
    with pytest.raises(warden.WardenError, match="neither a uid nor a known user"):
        warden.connect(own_agent.socket, connect_timeout=5)
