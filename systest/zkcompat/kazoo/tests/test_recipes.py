"""kazoo's recipes, unchanged, against the servers in ZK_HOSTS."""
# Threads are daemons: a recipe that hangs must not keep pytest from exiting.

import threading
import time
from typing import Any, List, Optional

from conftest import wait_for


def test_lock_mutual_exclusion(clients, base):
    cs = clients(4)
    rounds = 5
    lock = threading.Lock()
    inside: List[str] = []
    max_inside = 0
    acquired = []
    errors: List[BaseException] = []

    def work(i: int) -> None:
        nonlocal max_inside
        try:
            lk = cs[i].Lock(base + "/lock", f"c{i}")
            for _ in range(rounds):
                assert lk.acquire(timeout=30), f"c{i} did not get the lock in 30 s"
                with lock:
                    inside.append(f"c{i}")
                    max_inside = max(max_inside, len(inside))
                    acquired.append(i)
                # Hold it while the others queue up behind it.
                time.sleep(0.01)
                with lock:
                    inside.remove(f"c{i}")
                lk.release()
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    ts = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(cs))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not errors, errors
    assert max_inside == 1
    assert sorted(acquired) == sorted(list(range(len(cs))) * rounds)
    # Every contender's node went with its release. (A read of other
    # sessions' writes syncs first, as ZooKeeper apps must: a server
    # answers reads from what it has applied.)
    cs[0].sync(base + "/lock")
    assert cs[0].get_children(base + "/lock") == []


def test_lock_contenders_and_session_end(clients, base):
    a, b = clients(2)
    la, lb = a.Lock(base + "/lock", "a"), b.Lock(base + "/lock", "b")
    assert la.acquire(timeout=10)
    got = threading.Event()
    t = threading.Thread(target=lambda: lb.acquire(timeout=30) and got.set(), daemon=True)
    t.start()
    wait_for(lambda: len(la.contenders()) == 2, 10, "two contenders")
    assert la.contenders() == ["a", "b"]
    assert not got.is_set()
    a.stop()  # the session ends: its lock node goes, b gets the lock
    assert got.wait(20), "b did not get the lock after a's session ended"
    t.join(5)
    lb.release()


def test_election(clients, base):
    cs = clients(3)
    leaders: List[str] = []
    release = {f"c{i}": threading.Event() for i in range(3)}
    running = threading.Semaphore(0)

    def lead(name: str) -> None:
        leaders.append(name)
        running.release()
        release[name].wait(60)
        leaders.append("-" + name)

    elections = [cs[i].Election(base + "/election", f"c{i}") for i in range(3)]
    ts = [threading.Thread(target=elections[i].run, args=(lead, f"c{i}"), daemon=True) for i in range(3)]
    for t in ts:
        t.start()
    for n in range(3):
        assert running.acquire(timeout=30), f"no leader #{n + 1}"
        leader = leaders[-1]
        # Nobody else leads while this one does.
        assert [x for x in leaders if not x.startswith("-")].count(leader) == 1
        wait_for(lambda: len(elections[0].contenders()) == 3 - n, 10, f"{3 - n} contenders")
        assert elections[0].contenders()[0] == leader
        release[leader].set()
    for t in ts:
        t.join(30)
    # Leaders strictly alternate with their ends: one at a time.
    assert len(leaders) == 6
    for i in range(0, 6, 2):
        assert leaders[i + 1] == "-" + leaders[i]


def test_counter(clients, base):
    cs = clients(3)
    per = 10

    def bump(i: int) -> None:
        ctr = cs[i].Counter(base + "/counter")
        for _ in range(per):
            ctr += 1

    ts = [threading.Thread(target=bump, args=(i,), daemon=True) for i in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    cs[0].sync(base + "/counter")
    assert cs[0].Counter(base + "/counter").value == 3 * per
    ctr = cs[0].Counter(base + "/counter")
    ctr -= 5
    assert ctr.value == 3 * per - 5
    cs[1].sync(base + "/counter")
    assert cs[1].Counter(base + "/counter").value == 3 * per - 5


def test_barrier(clients, base):
    a, b = clients(2)
    bar = a.Barrier(base + "/barrier")
    bar.create()
    b.sync(base + "/barrier")  # b's server has a's barrier before b waits on it
    passed = threading.Event()
    t = threading.Thread(target=lambda: b.Barrier(base + "/barrier").wait(30) and passed.set(), daemon=True)
    t.start()
    assert not passed.wait(0.3), "passed a barrier still in place"
    bar.remove()
    assert passed.wait(20), "the barrier's removal did not let the waiter through"
    t.join(5)


def test_double_barrier(clients, base):
    cs = clients(3)
    entered: List[int] = []
    left: List[int] = []
    bars = [cs[i].DoubleBarrier(base + "/dbarrier", 3) for i in range(3)]

    def run(i: int) -> None:
        bars[i].enter()
        entered.append(i)
        bars[i].leave()
        left.append(i)

    cs[0].ensure_path(base + "/dbarrier")
    ts = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(2)]
    for t in ts:
        t.start()
    wait_for(
        lambda: len([c for c in cs[0].get_children(base + "/dbarrier") if c != "ready"]) == 2,
        20,
        "two at the double barrier",
    )
    assert not entered, "entered before all three arrived"
    t3 = threading.Thread(target=run, args=(2,), daemon=True)
    t3.start()
    for t in ts + [t3]:
        t.join(30)
    assert sorted(entered) == [0, 1, 2]
    assert sorted(left) == [0, 1, 2]


def test_queue(clients, base):
    a, b = clients(2)
    qa, qb = a.Queue(base + "/queue"), b.Queue(base + "/queue")
    for i in range(5):
        qa.put(f"item{i}".encode())
    qa.put(b"urgent", priority=10)  # lower is sooner; the default is 100
    b.sync(base + "/queue")
    assert len(qb) == 6
    got = [qb.get() for _ in range(6)]
    assert got == [b"urgent"] + [f"item{i}".encode() for i in range(5)]
    assert qb.get() is None


def test_locking_queue(clients, base):
    a, b = clients(2)
    qa, qb = a.LockingQueue(base + "/lqueue"), b.LockingQueue(base + "/lqueue")
    qa.put(b"one")
    qa.put(b"two")
    assert qb.get(10) == b"one"
    assert qb.consume()
    assert qa.get(10) == b"two"
    assert qa.consume()
    assert len(qa) == 0


def test_party(clients, base):
    cs = clients(3)
    parties = [cs[i].Party(base + "/party", f"p{i}") for i in range(3)]
    for p in parties:
        p.join()
    cs[0].sync(base + "/party")
    assert len(parties[0]) == 3
    cs[1].sync(base + "/party")
    assert sorted(parties[1]) == ["p0", "p1", "p2"]
    parties[1].leave()
    cs[0].sync(base + "/party")
    assert sorted(parties[0]) == ["p0", "p2"]
    shallow = [cs[i].ShallowParty(base + "/shallow", f"s{i}") for i in range(2)]
    for p in shallow:
        p.join()
    cs[0].sync(base + "/shallow")
    assert sorted(shallow[0]) == ["s0", "s1"]
    cs[2].stop()  # its session's membership goes with it
    wait_for(lambda: sorted(parties[0]) == ["p0"], 20, "p2 to leave with its session")


def test_data_and_children_watch(clients, base):
    a, b = clients(2)
    a.ensure_path(base + "/w")
    seen: List[Optional[bytes]] = []
    kids: List[List[str]] = []
    lock = threading.Lock()

    @a.DataWatch(base + "/w/node")
    def data(d: Optional[bytes], stat: Any) -> None:
        with lock:
            seen.append(d)

    @a.ChildrenWatch(base + "/w")
    def children(c: List[str]) -> None:
        with lock:
            kids.append(sorted(c))

    wait_for(lambda: seen == [None] and kids == [[]], 10, "the watches' first calls")
    b.create(base + "/w/node", b"v1")
    wait_for(lambda: seen[-1:] == [b"v1"] and kids[-1:] == [["node"]], 10, "create seen")
    b.set(base + "/w/node", b"v2")
    wait_for(lambda: seen[-1:] == [b"v2"], 10, "set seen")
    b.create(base + "/w/other")
    wait_for(lambda: kids[-1:] == [["node", "other"]], 10, "second child seen")
    b.delete(base + "/w/node")
    wait_for(lambda: seen[-1:] == [None] and kids[-1:] == [["other"]], 10, "delete seen")
    # Each change was seen once, in order (a watch is re-set before the
    # next change is read).
    assert seen == [None, b"v1", b"v2", None]
    assert kids == [[], ["node"], ["node", "other"], ["other"]]
