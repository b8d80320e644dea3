"""Request builders: the fields of every op's request (the id is added when it
is sent). The sync and the asyncio clients both build every request here."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence

from ._wire import PROTOCOL_VERSION

Req = Dict[str, Any]


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
    return {"op": "hello", "protocol": protocol, "session_timeout_ms": session_timeout_ms,
            "client": client, "resumable": resumable, "heartbeat": heartbeat,
            "session_id": session_id, "secret": secret, "no_session": no_session}


def ping() -> Req:
    return {"op": "ping"}


def create(path: str, data: bytes = b"", *, ephemeral: bool = False, sequential: bool = False,
           container: bool = False) -> Req:
    return {"op": "create", "path": path, "data": data, "ephemeral": ephemeral,
            "sequential": sequential, "container": container}


def delete(path: str, version: Optional[int] = -1) -> Req:
    return {"op": "delete", "path": path, "version": version}


def set_(path: str, data: bytes, version: Optional[int] = -1) -> Req:
    return {"op": "set", "path": path, "data": data, "version": version}


def get(path: str, watch: bool = False) -> Req:
    return {"op": "get", "path": path, "watch": watch}


def exists(path: str, watch: bool = False) -> Req:
    return {"op": "exists", "path": path, "watch": watch}


def children(path: str, watch: bool = False) -> Req:
    return {"op": "children", "path": path, "watch": watch}


def multi(ops: Sequence[Mapping[str, Any]]) -> Req:
    return {"op": "multi", "ops": [dict(o) for o in ops]}


def sync() -> Req:
    return {"op": "sync"}


def lock(path: str, wait: int) -> Req:
    return {"op": "lock", "path": path, "wait_ms": wait}


def unlock(key: str) -> Req:
    return {"op": "unlock", "key": key}


def lock_check(path: str, token: int) -> Req:
    return {"op": "lock_check", "path": path, "token": token}


def cancel(target: int) -> Req:
    return {"op": "cancel", "target": target}


def status() -> Req:
    return {"op": "status"}


def members() -> Req:
    return {"op": "members"}


def sessions() -> Req:
    return {"op": "sessions"}


def subscribe(path: str, scope: str = "", from_zxid: int = 0) -> Req:
    return {"op": "subscribe", "path": path, "scope": scope, "from_zxid": from_zxid}


def unsubscribe(sub: int) -> Req:
    return {"op": "unsubscribe", "sub": sub}


def campaign(path: str, value: bytes = b"", wait: int = -1) -> Req:
    return {"op": "campaign", "path": path, "data": value, "wait_ms": wait}


def resign(key: str, token: int = 0) -> Req:
    return {"op": "resign", "key": key, "token": token}


def proclaim(key: str, value: bytes, token: int = 0) -> Req:
    return {"op": "proclaim", "key": key, "data": value, "token": token}


def leader(path: str) -> Req:
    return {"op": "leader", "path": path}


def observe(path: str) -> Req:
    return {"op": "observe", "path": path}


def report(job: str, task: str, *, state: str = "", percent: float = 0.0, message: str = "",
           data: bytes = b"") -> Req:
    return {"op": "report", "job": job, "task": task, "state": state, "percent": float(percent),
            "message": message, "data": data}


def progress_get(job: str) -> Req:
    return {"op": "progress_get", "job": job}


def progress_watch(job: str) -> Req:
    return {"op": "progress_watch", "job": job}


def join(group: str, member: str, data: bytes = b"") -> Req:
    return {"op": "join", "group": group, "member": member, "data": data}


def leave(group: str, member: str) -> Req:
    return {"op": "leave", "group": group, "member": member}


def members_of(group: str) -> Req:
    return {"op": "members_of", "group": group}


def group_watch(group: str) -> Req:
    return {"op": "group_watch", "group": group}


def read_lock(path: str, wait: int) -> Req:
    return {"op": "read_lock", "path": path, "wait_ms": wait}


def write_lock(path: str, wait: int) -> Req:
    return {"op": "write_lock", "path": path, "wait_ms": wait}


def semaphore_acquire(path: str, count: int, wait: int) -> Req:
    return {"op": "semaphore_acquire", "path": path, "count": count, "wait_ms": wait}


def semaphore_release(key: str) -> Req:
    return {"op": "semaphore_release", "key": key}


def barrier_set(path: str) -> Req:
    return {"op": "barrier_set", "path": path}


def barrier_remove(path: str) -> Req:
    return {"op": "barrier_remove", "path": path}


def barrier_wait(path: str, wait: int) -> Req:
    return {"op": "barrier_wait", "path": path, "wait_ms": wait}


def barrier_enter(path: str, count: int, member: str, wait: int) -> Req:
    return {"op": "barrier_enter", "path": path, "count": count, "member": member, "wait_ms": wait}


def barrier_leave(path: str, member: str, wait: int) -> Req:
    return {"op": "barrier_leave", "path": path, "member": member, "wait_ms": wait}


def queue_put(path: str, data: bytes) -> Req:
    return {"op": "queue_put", "path": path, "data": data}


def queue_take(path: str, wait: int) -> Req:
    return {"op": "queue_take", "path": path, "wait_ms": wait}


def counter_add(path: str, delta: int) -> Req:
    return {"op": "counter_add", "path": path, "delta": delta}


def counter_get(path: str) -> Req:
    return {"op": "counter_get", "path": path}


def counter_cas(path: str, expect: int, value: int) -> Req:
    return {"op": "counter_cas", "path": path, "expect": expect, "value": value}


def election_path(name: str) -> str:
    """An election named without a leading ``/`` lives under /warden/elections."""
    return name if name.startswith("/") else "/warden/elections/" + name
