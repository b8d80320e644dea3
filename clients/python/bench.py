#!/usr/bin/env python3
"""Benchmarks of the Python client against a dev agent of its own.

Prints one JSON line per benchmark:
  {"client": "python", "bench": "lock_cycle", "n": N, "seconds": S, "per_sec": X}

lock_cycle     one client, lock + unlock of one path, sequentially (after a warm-up)
config_events  a subscriber resuming from the zxid just before N sets of one node,
               timed from the subscribe call to the N-th change event consumed

The agent binary is $WARDEN_BIN, else built with `go build ./cmd/warden`.
Runs in clients/python/.venv (made by test.sh) when it exists.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV_PY = HERE / ".venv" / "bin" / "python"

if VENV_PY.exists() and Path(sys.prefix).resolve() != (HERE / ".venv").resolve():
    os.execv(str(VENV_PY), [str(VENV_PY), __file__, *sys.argv[1:]])
sys.path.insert(0, str(HERE))

import warden  # noqa: E402

REPO_ROOT = HERE.parents[1]
LOCK_N, LOCK_WARMUP = 2000, 100
EVENTS_N = 20000
WINDOW = 256  # sets in flight while preparing the config_events history


def emit(bench: str, n: int, seconds: float) -> None:
    print(json.dumps({"client": "python", "bench": bench, "n": n, "seconds": round(seconds, 4),
                      "per_sec": round(n / seconds, 1)}), flush=True)


def bench_lock_cycle(c: warden.Client) -> None:
    path = "/bench/lock"
    for _ in range(LOCK_WARMUP):
        c.lock(path).unlock()
    t0 = time.perf_counter()
    last = 0
    for _ in range(LOCK_N):
        lease = c.lock(path)
        assert lease.token > last
        last = lease.token
        lease.unlock()
    emit("lock_cycle", LOCK_N, time.perf_counter() - t0)


def bench_config_events(writer: warden.Client, reader: warden.Client) -> None:
    path = "/bench/cfg"
    writer.config(path).set(b"start")
    _, st = writer.get(path)
    before = st.mzxid  # the zxid just before the first of the sets below
    inflight = []
    for i in range(EVENTS_N):
        inflight.append(writer.submit("set", path=path, data=b"%d" % i, version=-1))
        if len(inflight) >= WINDOW:
            inflight.pop(0).result(30)
    for p in inflight:
        p.result(30)

    t0 = time.perf_counter()
    sub = reader.subscribe(path, from_zxid=before)
    seen = set()
    last = before
    n = 0
    while n < EVENTS_N:
        ev = sub.next(30)
        if ev.type != "data_changed":
            raise SystemExit(f"unexpected {ev.type} event (history too short?)")
        if ev.zxid <= last:
            raise SystemExit(f"out of order: zxid {ev.zxid} after {last}")
        last = ev.zxid
        seen.add(ev.data)
        n += 1
    seconds = time.perf_counter() - t0
    sub.close()
    if len(seen) != EVENTS_N:
        raise SystemExit(f"{len(seen)} distinct values, want {EVENTS_N}")
    emit("config_events", EVENTS_N, seconds)


def main() -> None:
    tmp = tempfile.mkdtemp(prefix="wdb", dir="/tmp")
    binary = os.environ.get("WARDEN_BIN")
    if not binary:
        binary = os.path.join(tmp, "warden")
        subprocess.run(["go", "build", "-o", binary, "./cmd/warden"], cwd=REPO_ROOT, check=True)
    sock = os.path.join(tmp, "s.sock")
    log = open(os.path.join(tmp, "agent.log"), "wb")
    agent = subprocess.Popen([binary, "agent", "--dev", "--node", "bench", "--socket", sock,
                              "--data-dir", os.path.join(tmp, "data"), "--log-level", "warn"],
                             stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(sock):
            if agent.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the agent did not start")
            time.sleep(0.01)
        with warden.connect(sock, name="bench") as c, warden.connect(sock, name="bench-reader") as r:
            bench_lock_cycle(c)
            bench_config_events(c, r)
    finally:
        agent.send_signal(signal.SIGKILL)
        agent.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
