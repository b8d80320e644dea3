"""Test fixtures: real warden agent processes.

The agent binary comes from $WARDEN_BIN, or is built once per test run
with `go build ./cmd/warden` in the repository root.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Generator, List, Optional

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
_AGENTS: List["Agent"] = []


def _build_binary(tmp: Path) -> str:
    out = tmp / "warden"
    subprocess.run(["go", "build", "-o", str(out), "./cmd/warden"], cwd=REPO_ROOT, check=True)
    return str(out)


@pytest.fixture(scope="session")
def warden_bin(tmp_path_factory: pytest.TempPathFactory) -> str:
    env = os.environ.get("WARDEN_BIN")
    if env:
        return env
    return _build_binary(tmp_path_factory.mktemp("bin"))


class Agent:
    """One `warden agent --dev` process (or, with dev=False, an agent that
    extra makes a server or replica of a cluster), on a short socket path."""

    def __init__(self, binary: str, node: str, extra: Optional[List[str]] = None, dev: bool = True) -> None:
        self.binary = binary
        self.node = node
        self.extra = extra or []
        self.dev = dev
        self.dir = tempfile.mkdtemp(prefix="wd", dir="/tmp")
        self.socket = os.path.join(self.dir, "s.sock")
        self.data_dir = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "agent.log")
        self.proc: Optional[subprocess.Popen[bytes]] = None
        _AGENTS.append(self)

    def start(self, timeout: float = 30.0) -> "Agent":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.binary, "agent", *(["--dev"] if self.dev else []), "--node", self.node, "--socket", self.socket,
             "--data-dir", self.data_dir, "--log-level", "warn", *self.extra],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.socket):
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited with {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"agent socket did not appear within {timeout} s:\n{self.log()}")
            time.sleep(0.01)
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        """SIGKILL, then start again on the same data dir, socket and node name."""
        self.kill()
        self.start()

    def log(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-20000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def cleanup(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self in _AGENTS:
            _AGENTS.remove(self)


@pytest.fixture(scope="session")
def agent(warden_bin: str) -> Generator[Agent, None, None]:
    """An agent shared by the tests that do not stop it."""
    a = Agent(warden_bin, "shared").start()
    yield a
    a.cleanup()


@pytest.fixture
def own_agent(warden_bin: str, request: pytest.FixtureRequest) -> Generator[Agent, None, None]:
    """An agent of the test's own, which it may kill and restart."""
    name = "t-" + request.node.name.replace("_", "-")[:40]
    a = Agent(warden_bin, name).start()
    yield a
    a.cleanup()


def start_servers(binary: str, n: int) -> List[Agent]:
    """A cluster of n server agents (bootstrap-expect n) on loopback addresses
    of their own, every one joining the first; returns once every socket is
    open, which an agent does only once it has a leader and is caught up."""
    base = f"127.{20 + os.getpid() % 200}.240"  # the Go harness counts 127.B.N from N = 0
    servers: List[Agent] = []
    for i in range(n):
        ip = f"{base}.{i + 1}"
        servers.append(Agent(binary, f"server{i + 1}", [
            "--server", "--bootstrap-expect", str(n), "--bind", ip, "--join", f"{base}.1",
            "--http-port", "-2", "--lock-delay", "200ms"], dev=False))
    threads = [threading.Thread(target=s.start, args=(60.0,)) for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in servers:
        if s.proc is None or not os.path.exists(s.socket):
            raise RuntimeError(f"server {s.node} did not start:\n{s.log()}")
    return servers


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, None]:
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for a in list(_AGENTS):
            rep.sections.append((f"agent {a.node} log ({a.log_path})", a.log() or "(empty)"))


PACKAGE_DIR = str(Path(__file__).resolve().parents[1])


class Child:
    """A Python child process running a script with the warden package."""

    def __init__(self, script: str, *args: str) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = PACKAGE_DIR + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, text=True)
        self._lines: "queue.Queue[Optional[str]]" = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def line(self, timeout: float = 20.0) -> str:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"child printed nothing within {timeout} s") from None
        if line is None:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise AssertionError(f"child exited ({self.proc.wait()}) without output:\n{err}")
        return line

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


@pytest.fixture
def child() -> Generator[Callable[..., Child], None, None]:
    made: List[Child] = []

    def make(script: str, *args: str) -> Child:
        c = Child(script, *args)
        made.append(c)
        return c

    yield make
    for c in made:
        c.kill()


class States:
    """Records session states from on_session_state and waits for them."""

    def __init__(self) -> None:
        self.seen: List[str] = []
        self._cond = threading.Condition()

    def __call__(self, state: str) -> None:
        with self._cond:
            self.seen.append(str(state))
            self._cond.notify_all()

    def wait_for(self, state: str, timeout: float = 20.0, after: int = 0) -> int:
        """Waits until state is seen at position >= after; returns its position."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i in range(after, len(self.seen)):
                    if self.seen[i] == state:
                        return i
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"state {state!r} not seen within {timeout} s; saw {self.seen}")
                self._cond.wait(left)


def poll(cond: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Polls cond until it holds (for states the agent offers no event for)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout} s")
        time.sleep(0.01)


def ensure(c: Any, path: str) -> None:
    """Creates path's missing ancestors (persistent, empty)."""
    import warden

    parts = path.strip("/").split("/")[:-1]
    for i in range(1, len(parts) + 1):
        try:
            c.create("/" + "/".join(parts[:i]))
        except warden.NodeExistsError:
            pass
