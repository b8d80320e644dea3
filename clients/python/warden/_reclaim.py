"""What a grant request may leave queued at the agent when its connection
drops, and where to look for it after the session is resumed.

A grant request (lock, read_lock, write_lock, semaphore_acquire, campaign)
whose connection drops fails, but the contender node it made lives on with
the session. After the resume the client lists the candidate nodes of each
such request's path and deletes those its session owns that it has not
handed to the application (the registry of held keys).
"""

from __future__ import annotations

from typing import Any, List, Mapping, Optional, Tuple

GRANT_OPS = frozenset(("lock", "read_lock", "write_lock", "semaphore_acquire", "campaign"))

Grant = Tuple[str, str]  # (op, path)


def grant_of(req: Mapping[str, Any]) -> Optional[Grant]:
    """(op, path) of a grant request whose leftovers reclaim removes, else None."""
    op = req.get("op")
    path = req.get("path")
    if op in GRANT_OPS and isinstance(path, str) and path:
        return str(op), path
    return None


def candidate_dirs(grant: Grant) -> List[Tuple[str, str]]:
    """(parent, name prefix) of the nodes a grant request may have made."""
    op, path = grant
    if op == "campaign":
        return [(path, "n-")]
    if op == "semaphore_acquire":
        return [(path.rstrip("/") + "/_lock", "lock-"), (path.rstrip("/") + "/leases", "lease-")]
    return [(path, "lock-")]


def join(parent: str, name: str) -> str:
    return parent.rstrip("/") + "/" + name
