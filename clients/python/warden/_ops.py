"""Request builders: the fields of every op's request (the id is added when it
is sent). The sync and the asyncio clients both build every request here,
through ``_req``, which checks each request against the op's fields in the
protocol's table (``_protocol.OPS``) and puts them in its order."""

from __future__ import annotations

from typing import Any, Dict, FrozenSet, Mapping, Optional, Sequence, Tuple

from ._protocol import OPS
from ._wire import PROTOCOL_VERSION

Req = Dict[str, Any]

# Each op's request keys in order, and the ones it needs.
_FIELDS: Dict[str, Tuple[Tuple[str, ...], FrozenSet[str]]] = {
    op: (tuple(f.key for f in spec.request), frozenset(f.key for f in spec.request if f.required))
    for op, spec in OPS.items()
}


def _req(op: str, **fields: Any) -> Req:
    """The request of op with fields, in the op's key order. A field the op
    does not have, or a missing one it needs, is a bug of the builder: it
    raises ValueError."""
    keys, required = _FIELDS[op]
    out: Req = {"op": op}
    for k in keys:
        if k in fields:
            out[k] = fields[k]
        elif k in required:
            raise ValueError(f"{op} needs {k}")
    if len(out) != len(fields) + 1:
        raise ValueError(f"{op} has no field {sorted(set(fields) - set(keys))}")
    return out


def wait_ms(timeout: Optional[float]) -> int:
    """A blocking call's ``timeout`` in seconds as the agent's ``wait_ms``:
    None waits until granted (-1), 0 tries once."""
    if timeout is None:
        return -1
    if timeout <= 0:
        return 0
    return max(int(timeout * 1000), 1)


def hello(*, protocol: int = PROTOCOL_VERSION, session_timeout_ms: int = 0, client: str = "",
          resumable: bool = False, heartbeat: bool = False, session_id: int = 0,
          secret: bytes = b"", no_session: bool = False) -> Req:
    return _req("hello", protocol=protocol, session_timeout_ms=session_timeout_ms, client=client,
                resumable=resumable, heartbeat=heartbeat, session_id=session_id, secret=secret,
                no_session=no_session)


def ping() -> Req:
    return _req("ping")


def create(path: str, data: bytes = b"", *, ephemeral: bool = False, sequential: bool = False,
           container: bool = False) -> Req:
    return _req("create", path=path, data=data, ephemeral=ephemeral, sequential=sequential,
                container=container)


def delete(path: str, version: Optional[int] = -1) -> Req:
    return _req("delete", path=path, version=version)


def set_(path: str, data: bytes, version: Optional[int] = -1) -> Req:
    return _req("set", path=path, data=data, version=version)


def get(path: str, watch: bool = False) -> Req:
    return _req("get", path=path, watch=watch)


def exists(path: str, watch: bool = False) -> Req:
    return _req("exists", path=path, watch=watch)


def children(path: str, watch: bool = False) -> Req:
    return _req("children", path=path, watch=watch)


def multi(ops: Sequence[Mapping[str, Any]]) -> Req:
    return _req("multi", ops=[dict(o) for o in ops])


def sync() -> Req:
    return _req("sync")


def lock(path: str, wait: int) -> Req:
    return _req("lock", path=path, wait_ms=wait)


def unlock(key: str) -> Req:
    return _req("unlock", key=key)


def lock_check(path: str, token: int) -> Req:
    return _req("lock_check", path=path, token=token)


def cancel(target: int) -> Req:
    return _req("cancel", target=target)


def status() -> Req:
    return _req("status")


def members() -> Req:
    return _req("members")


def sessions() -> Req:
    return _req("sessions")


def subscribe(path: str, scope: str = "", from_zxid: int = 0) -> Req:
    return _req("subscribe", path=path, scope=scope, from_zxid=from_zxid)


def unsubscribe(sub: int) -> Req:
    return _req("unsubscribe", sub=sub)


def campaign(path: str, value: bytes = b"", wait: int = -1) -> Req:
    return _req("campaign", path=path, data=value, wait_ms=wait)


def resign(key: str, token: int = 0) -> Req:
    return _req("resign", key=key, token=token)


def proclaim(key: str, value: bytes, token: int = 0) -> Req:
    return _req("proclaim", key=key, data=value, token=token)


def leader(path: str) -> Req:
    return _req("leader", path=path)


def observe(path: str) -> Req:
    return _req("observe", path=path)


def report(job: str, task: str, *, state: str = "", percent: float = 0.0, message: str = "",
           data: bytes = b"") -> Req:
    return _req("report", job=job, task=task, state=state, percent=float(percent), message=message,
                data=data)


def progress_get(job: str) -> Req:
    return _req("progress_get", job=job)


def progress_watch(job: str) -> Req:
    return _req("progress_watch", job=job)


def join(group: str, member: str, data: bytes = b"") -> Req:
    return _req("join", group=group, member=member, data=data)


def leave(group: str, member: str) -> Req:
    return _req("leave", group=group, member=member)


def members_of(group: str) -> Req:
    return _req("members_of", group=group)


def group_watch(group: str) -> Req:
    return _req("group_watch", group=group)


def read_lock(path: str, wait: int) -> Req:
    return _req("read_lock", path=path, wait_ms=wait)


def write_lock(path: str, wait: int) -> Req:
    return _req("write_lock", path=path, wait_ms=wait)


def semaphore_acquire(path: str, count: int, wait: int) -> Req:
    return _req("semaphore_acquire", path=path, count=count, wait_ms=wait)


def semaphore_release(key: str) -> Req:
    return _req("semaphore_release", key=key)


def barrier_set(path: str) -> Req:
    return _req("barrier_set", path=path)


def barrier_remove(path: str) -> Req:
    return _req("barrier_remove", path=path)


def barrier_wait(path: str, wait: int) -> Req:
    return _req("barrier_wait", path=path, wait_ms=wait)


def barrier_enter(path: str, count: int, member: str, wait: int) -> Req:
    return _req("barrier_enter", path=path, count=count, member=member, wait_ms=wait)


def barrier_leave(path: str, member: str, wait: int) -> Req:
    return _req("barrier_leave", path=path, member=member, wait_ms=wait)


def queue_put(path: str, data: bytes) -> Req:
    return _req("queue_put", path=path, data=data)


def queue_take(path: str, wait: int) -> Req:
    return _req("queue_take", path=path, wait_ms=wait)


def counter_add(path: str, delta: int) -> Req:
    return _req("counter_add", path=path, delta=delta)


def counter_get(path: str) -> Req:
    return _req("counter_get", path=path)


def counter_cas(path: str, expect: int, value: int) -> Req:
    return _req("counter_cas", path=path, expect=expect, value=value)


def election_path(name: str) -> str:
    """An election named without a leading ``/`` lives under /warden/elections."""
    return name if name.startswith("/") else "/warden/elections/" + name
