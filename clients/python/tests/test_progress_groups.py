"""Task progress and group membership across connections and processes."""

from __future__ import annotations

from typing import Any, Callable

import warden
from conftest import Agent

REPORTER_SCRIPT = """
import sys, time, warden
c = warden.connect(sys.argv[1])
c.task(sys.argv[2], sys.argv[3]).report(30, "child working")
print("reported", flush=True)
time.sleep(600)
"""


def test_task_progress_visible_and_removed(agent: Agent, child: Callable[..., Any]) -> None:
    job = "t-progress"
    with warden.connect(agent.socket, name="watcher") as watcher:
        w = watcher.watch_progress(job)
        reporter = warden.connect(agent.socket, name="reporter")
        task = reporter.task(job, "t1")
        task.report(50, "half")
        ev = w.next(10)
        assert ev.task.task == "t1" and ev.task.percent == 50 and ev.task.message == "half"
        assert ev.task.state == "running" and not ev.removed
        assert [(t.task, t.percent) for t in watcher.progress(job)] == [("t1", 50.0)]

        task.report(75.5, "more", state="uploading", data=b"\x00\x01")
        ev = w.next(10)
        assert (ev.task.percent, ev.task.message, ev.task.state, ev.task.data) == (75.5, "more", "uploading", b"\x00\x01")

        reporter.close()
        ev = w.next(10)
        assert ev.removed and ev.task.task == "t1"
        assert watcher.progress(job) == []

        # A reporter process that is killed: its task is removed too.
        proc = child(REPORTER_SCRIPT, agent.socket, job, "t2")
        assert proc.line() == "reported"
        ev = w.next(10)
        assert ev.task.task == "t2" and ev.task.message == "child working" and not ev.removed
        proc.kill()
        ev = w.next(10)
        assert ev.task.task == "t2" and ev.removed
        w.close()


def test_task_done_removes_it(agent: Agent) -> None:
    with warden.connect(agent.socket) as c:
        t = c.task("t-done", "x")
        t.report(100, state="done")
        assert c.progress("t-done")[0].state == "done"
        t.done()
        t.done()  # again: not an error
        assert c.progress("t-done") == []


def test_progress_read_right_after_a_report_sees_it(agent: Agent) -> None:
    """The agent answers a report before writing it (coalescing), but it
    writes a session's accepted reports before answering that session's
    progress(): the README's report-then-progress example shows the report."""
    with warden.connect(agent.socket) as c:
        task = c.task("own", "t")
        for i in range(101):
            task.report(i, f"report {i}")
            tasks = c.progress("own")
            assert [(t.percent, t.message) for t in tasks] == [(i, f"report {i}")], f"right after report {i}"


def test_group_membership(agent: Agent) -> None:
    group = "t-workers"
    with warden.connect(agent.socket, name="watcher") as watcher:
        a = warden.connect(agent.socket, name="a")
        b = warden.connect(agent.socket, name="b")
        ma = a.join(group, "w1", b"10.0.0.1")
        mb = b.join(group, "w2", b"10.0.0.2")
        assert ma.key == f"/warden/groups/{group}/w1" and mb.token > 0
        members = watcher.group_members(group)
        assert [(m.member, m.data) for m in members] == [("w1", b"10.0.0.1"), ("w2", b"10.0.0.2")]
        try:
            b.join(group, "w1")
            raise AssertionError("joined with an id another session holds")
        except warden.NodeExistsError:
            pass

        w = watcher.watch_group(group)
        initial = {w.next(10).member.member, w.next(10).member.member}
        assert initial == {"w1", "w2"}
        ma.update(b"10.0.0.9")
        ev = w.next(10)
        assert ev.member.member == "w1" and ev.member.data == b"10.0.0.9" and not ev.left
        b.close()
        ev = w.next(10)
        assert ev.left and ev.member.member == "w2"
        assert [m.member for m in watcher.group_members(group)] == ["w1"]
        with ma:
            pass  # leaving the with block leaves the group
        ev = w.next(10)
        assert ev.left and ev.member.member == "w1"
        w.close()
        a.close()
