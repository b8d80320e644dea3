"""kazoo's own TLS client (use_ssl, ca, certfile, keyfile) against a
ZooKeeper port served over TLS that requires a client certificate
(ZooKeeper's secureClientPort with ssl.clientAuth=need; Warden's
--zk-tls --zk-tls-verify-client). ZK_HOSTS is that port; ZK_TLS_CA the
CA that signed the server's certificate and the client's; ZK_TLS_CERT
and ZK_TLS_KEY the client's certificate and key (TestKazooTLS sets them
all, with certificates made by `warden tls`). Skipped without
ZK_TLS_CA."""

import logging
import os
import ssl
import threading
import uuid
from typing import Iterator, List, Optional

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import ConnectionDropped
from kazoo.protocol.states import KazooState

from conftest import HOSTS, wait_for

CA = os.environ.get("ZK_TLS_CA", "")
CERT = os.environ.get("ZK_TLS_CERT", "")
KEY = os.environ.get("ZK_TLS_KEY", "")

pytestmark = pytest.mark.skipif(not (HOSTS and CA and CERT and KEY), reason="ZK_TLS_CA, ZK_TLS_CERT and ZK_TLS_KEY are not set (TestKazooTLS sets them)")


@pytest.fixture
def made() -> Iterator[List[KazooClient]]:
    cs: List[KazooClient] = []
    yield cs
    for c in cs:
        c.stop()
        c.close()


def tls_client(made: List[KazooClient], **tls) -> KazooClient:
    c = KazooClient(hosts=HOSTS, timeout=10.0, use_ssl=True, verify_certs=True, **tls)
    made.append(c)
    return c


def test_tls_client_with_certificate_works(made):
    c = tls_client(made, ca=CA, certfile=CERT, keyfile=KEY)
    c.start(timeout=30)
    base = "/kazoo-tls-" + uuid.uuid4().hex[:8]
    c.create(base + "/node", b"over tls", makepath=True)
    data, stat = c.get(base + "/node")
    assert data == b"over tls" and stat.version == 0

    # A watch fires over the same TLS connection.
    fired = threading.Event()
    c.get(base + "/node", watch=lambda ev: fired.set())
    c.set(base + "/node", b"changed")
    assert fired.wait(10), "the data watch did not fire"

    # An ephemeral node and a recipe, from a second TLS session.
    d = tls_client(made, ca=CA, certfile=CERT, keyfile=KEY)
    d.start(timeout=30)
    d.create(base + "/eph", b"", ephemeral=True)
    lock = d.Lock(base + "/lock", "d")
    assert lock.acquire(timeout=10)
    c.sync(base)
    assert c.exists(base + "/eph").ephemeralOwner == d.client_id[0]
    assert c.Lock(base + "/lock", "c").contenders() == ["d"]
    lock.release()
    d.stop()
    c.sync(base)
    assert c.exists(base + "/eph") is None, "the ephemeral outlived its closed session"


class FirstFailure(logging.Handler):
    """Catches the first failed connection attempt kazoo logs ("Connection
    dropped: ...", the error given as the message's argument) and keeps the
    socket error that caused it."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen = threading.Event()
        self.cause: Optional[BaseException] = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.seen.is_set():
            return
        err = record.args[0] if isinstance(record.args, tuple) and record.args else None
        if isinstance(err, ConnectionDropped):
            # kazoo raises it while handling the socket's error.
            self.cause = err.__cause__ or err.__context__
            self.seen.set()
        elif record.exc_info:
            self.cause = record.exc_info[1]
            self.seen.set()


def refused(made: List[KazooClient], **tls) -> Optional[BaseException]:
    """Starts a client with tls and returns the error its first connection
    attempt failed with, checking it never connected."""
    c = tls_client(made, **tls)
    states: List[str] = []
    c.add_listener(lambda s: states.append(s))
    h = FirstFailure()
    c.logger.addHandler(h)
    try:
        c.start_async()
        wait_for(h.seen.is_set, 30, "the connection attempt to fail")
    finally:
        c.logger.removeHandler(h)
    assert not c.connected and KazooState.CONNECTED not in states
    return h.cause


def test_tls_client_without_certificate_is_refused(made):
    err = refused(made, ca=CA)
    # The server's alert: TLS 1.3's certificate_required.
    assert isinstance(err, ssl.SSLError) and "CERTIFICATE_REQUIRED" in (err.reason or ""), repr(err)


def test_tls_client_not_trusting_the_ca_refuses_the_server(made):
    err = refused(made, certfile=CERT, keyfile=KEY)
    assert isinstance(err, ssl.SSLCertVerificationError), repr(err)
