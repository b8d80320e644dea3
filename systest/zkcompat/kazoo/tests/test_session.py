"""Sessions: an ephemeral outlives its client's SIGKILL only for the
session timeout, and a client whose server dies moves to another server
with its session."""

import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from kazoo.protocol.states import KazooState

from conftest import CONTROL, HOSTS, new_client, wait_for

CHILD = r"""
import sys
from kazoo.client import KazooClient
c = KazooClient(hosts=sys.argv[1], timeout=float(sys.argv[3]))
c.start(timeout=30)
c.create(sys.argv[2], b"", ephemeral=True, makepath=True)
print(c.client_id[0], flush=True)
sys.stdin.read()  # until killed
"""


def test_ephemeral_of_killed_client_goes_after_session_timeout(clients, base):
    (c,) = clients(1)
    timeout = 4.0
    path = base + "/eph"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, HOSTS, path, str(timeout)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline()
        assert line, "the child client did not start"
        session = int(line)
        c.sync(path)  # the child's create, through whichever server it used
        stat = c.exists(path)
        assert stat is not None and stat.ephemeralOwner == session
        gone = threading.Event()
        c.exists(path, watch=lambda ev: gone.set())
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        killed = time.monotonic()
        # The server cannot tell a dead client from a slow one before the
        # session times out; then the ephemeral must go.
        assert gone.wait(timeout * 2 + 10), "the ephemeral outlived its session"
        elapsed = time.monotonic() - killed
        assert c.exists(path) is None
        assert elapsed > timeout / 3, f"the ephemeral went {elapsed:.1f}s after the kill, before the session could expire"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def control(op: str, server: str) -> None:
    req = urllib.request.Request(f"{CONTROL}/{op}?server={server}", method="POST")
    with urllib.request.urlopen(req, timeout=120) as r:
        assert r.status == 204


@pytest.mark.skipif(not CONTROL, reason="ZK_CONTROL is not set (the Go harness sets it)")
@pytest.mark.skipif(len(HOSTS.split(",")) < 3, reason="needs 3 servers")
def test_client_moves_to_another_server_with_its_session(clients, base):
    c = new_client(timeout=10.0)
    states = []
    c.add_listener(lambda s: states.append(s))
    killed = ""
    try:
        path = base + "/mine"
        c.create(path, b"x", ephemeral=True, makepath=True)
        session = c.client_id[0]
        host, port = c._connection._socket.getpeername()[:2]
        killed = f"{host}:{port}"
        assert killed in HOSTS.split(","), killed
        control("kill", killed)
        wait_for(lambda: KazooState.SUSPENDED in states, 20, "the client to notice its server died")
        wait_for(lambda: c.state == KazooState.CONNECTED, 30, "the client to reconnect")
        assert KazooState.LOST not in states, states
        assert c.client_id[0] == session, "a new session: the old one was lost"
        now = "%s:%s" % c._connection._socket.getpeername()[:2]
        assert now != killed
        stat = c.exists(path)
        assert stat is not None and stat.ephemeralOwner == session
        c.set(path, b"y")  # the session still writes
        assert c.get(path)[0] == b"y"
    finally:
        c.stop()
        c.close()
        if killed:
            control("restart", killed)
