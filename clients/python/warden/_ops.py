"""Requests: both clients build every request (but the id, added when it is
sent) with ``req``, which checks it against the op's fields in the
protocol's table (``_protocol.OPS``) and puts them in its order."""

from __future__ import annotations

import math
from typing import Any, Dict, FrozenSet, Optional, Tuple

from ._protocol import OPS
from .errors import BadArgumentsError

Req = Dict[str, Any]

# Each op's request keys in order, and the ones it needs.
_FIELDS: Dict[str, Tuple[Tuple[str, ...], FrozenSet[str]]] = {
    op: (tuple(f.key for f in spec.request), frozenset(f.key for f in spec.request if f.required))
    for op, spec in OPS.items()
}


def req(op: str, **fields: Any) -> Req:
    """The request of op with fields, in the op's key order. A field the op
    does not have, or a missing one it needs, is a bug of the caller: it
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


def release(grant: str, key: str, token: int = 0) -> Req:
    """The request that lets go of what a grant of op grant (a lock, read or
    write lock, campaign or semaphore_acquire) holds: key, with token."""
    if grant == "campaign":
        return req("resign", key=key, token=token)
    if grant == "semaphore_acquire":
        return req("semaphore_release", key=key)
    return req("unlock", key=key)


MAX_TTL_MS = 2**40 - 1
"""The longest TTL a node may have, in ms (2^40-1, about 34 years, as ZooKeeper's)."""


def ttl_fields(ttl: Optional[float]) -> Dict[str, int]:
    """A create's ``ttl`` in seconds as its ``ttl_ms`` field (none for None),
    rounded up to a whole ms. BadArgumentsError unless it is a positive
    number of at most MAX_TTL_MS ms."""
    if ttl is None:
        return {}
    ok = isinstance(ttl, (int, float)) and not isinstance(ttl, bool) and math.isfinite(ttl) and ttl > 0
    ms = math.ceil(ttl * 1000) if ok else 0
    if not ok or ms > MAX_TTL_MS:
        raise BadArgumentsError(f"ttl must be a positive number of seconds, at most {MAX_TTL_MS / 1000:.0f}; got {ttl!r}",
                                code="bad_arguments")
    return {"ttl_ms": ms}


def wait_ms(timeout: Optional[float]) -> int:
    """A blocking call's ``timeout`` in seconds as the agent's ``wait_ms``:
    None waits until granted (-1), 0 tries once."""
    if timeout is None:
        return -1
    if timeout <= 0:
        return 0
    return max(int(timeout * 1000), 1)


def with_timeout(r: Req, timeout: Optional[float]) -> Req:
    """r with ``timeout_ms``, the caller's timeout in seconds (at least 1
    ms), in the op's key order: the agent then gives up just before the
    caller does and says why (``unavailable`` when the cluster has no
    leader). r as it is without a timeout, for an op without the field,
    for a grant wait (its ``wait_ms`` is its deadline) and when r has a
    ``timeout_ms`` already."""
    op = r.get("op")
    if timeout is None or "wait_ms" in r or "timeout_ms" in r or not isinstance(op, str) or op not in _FIELDS:
        return r
    keys = _FIELDS[op][0]
    if "timeout_ms" not in keys:
        return r
    out: Req = {"op": op}
    for k in keys:
        if k == "timeout_ms":
            out[k] = max(math.ceil(timeout * 1000), 1)  # up: never before the caller's deadline
        elif k in r:
            out[k] = r[k]
    for k, v in r.items():  # fields the table lacks (request()'s escape hatch) keep their place at the end
        out.setdefault(k, v)
    return out


def election_path(name: str) -> str:
    """An election named without a leading ``/`` lives under /warden/elections."""
    return name if name.startswith("/") else "/warden/elections/" + name
