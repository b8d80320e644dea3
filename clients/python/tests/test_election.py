"""Election failover when the leader's process is killed."""

from __future__ import annotations

import threading
from typing import Any, Callable, List

import warden
from conftest import Agent

LEADER_SCRIPT = """
import sys, time, warden
c = warden.connect(sys.argv[1], name="child-candidate")
ld = c.election(sys.argv[2]).campaign(b"child")
print("elected", ld.token, flush=True)
time.sleep(600)
"""


def test_failover_when_leader_process_is_killed(agent: Agent, child: Callable[..., Any]) -> None:
    name = "failover"
    leader_proc = child(LEADER_SCRIPT, agent.socket, name)
    line = leader_proc.line()
    assert line.startswith("elected "), line
    child_token = int(line.split()[1])

    with warden.connect(agent.socket, name="test-candidate") as c:
        e = c.election(name)
        current = e.leader()
        assert current and current.value == b"child" and current.token == child_token
        obs = e.observe()
        first = obs.next(10)
        assert first.token == child_token

        won: List[warden.Leadership] = []
        failed: List[BaseException] = []

        def campaign() -> None:
            try:
                won.append(e.campaign(b"parent", timeout=30))
            except BaseException as exc:  # noqa: BLE001
                failed.append(exc)

        t = threading.Thread(target=campaign)
        t.start()
        from conftest import poll
        poll(lambda: len(c.children(e.path)) == 2, what="our candidacy queued")
        assert not won, "elected while the child still leads"

        leader_proc.kill()
        t.join(20)
        assert not failed, failed
        assert won, "not elected within 20 s of the leader's death"
        ld = won[0]
        assert ld.token > child_token
        now = e.leader()
        assert now is not None and now.key == ld.key
        # The observer sees the new leader (possibly after a "nobody" event).
        while True:
            ev = obs.next(10)
            if ev and ev.key == ld.key:
                assert ev.value == b"parent" and ev.token == ld.token
                break
        e.proclaim(b"parent-2")
        assert obs.next(10).value == b"parent-2"
        e.resign()
        assert not obs.next(10), "after the only candidate resigned, nobody leads"
        obs.close()


def test_campaign_try_and_context_manager(agent: Agent) -> None:
    with warden.connect(agent.socket) as a, warden.connect(agent.socket) as b:
        ea, eb = a.election("/t/election/try"), b.election("/t/election/try")
        with ea.campaign(b"a") as ld:
            assert eb.try_campaign(b"b") is None
            now = eb.leader()
            assert now is not None and now.key == ld.key
        got = eb.try_campaign(b"b")
        assert got is not None and got.token > ld.token
        eb.resign()
        assert ea.leader() is None
