"""Fixtures of the kazoo checks: clients of the servers in ZK_HOSTS, each
test under a base path of its own."""

import os
import uuid
from typing import Callable, Iterator, List

import pytest
from kazoo.client import KazooClient

HOSTS = os.environ.get("ZK_HOSTS", "")
CONTROL = os.environ.get("ZK_CONTROL", "")


def new_client(timeout: float = 10.0, hosts: str = "") -> KazooClient:
    c = KazooClient(hosts=hosts or HOSTS, timeout=timeout)
    c.start(timeout=30)
    return c


@pytest.fixture
def base() -> str:
    return "/kazoo-" + uuid.uuid4().hex[:8]


@pytest.fixture
def clients() -> Iterator[Callable[[int], List[KazooClient]]]:
    """clients(n) returns n started clients, each with a session of its
    own; all are stopped when the test ends."""
    made: List[KazooClient] = []

    def make(n: int) -> List[KazooClient]:
        cs = [new_client() for _ in range(n)]
        made.extend(cs)
        return cs

    if not HOSTS:
        pytest.skip("ZK_HOSTS is not set")
    yield make
    for c in made:
        c.stop()
        c.close()


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    """Polls cond until it holds, failing after timeout seconds."""
    import time

    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)
