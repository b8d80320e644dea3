"""Turns a subscription's change events into config updates (shared by the
blocking and the asyncio clients)."""

from __future__ import annotations

from collections import deque
from typing import Deque, Dict, List, Optional, Set

from .types import ChangeEvent, ConfigUpdate


class ConfigTracker:
    def __init__(self, root: str, tree: bool, from_zxid: int) -> None:
        self.root = root
        self.tree = tree
        self.from_zxid = from_zxid  # changes at or below this were handled before
        self.last = from_zxid       # zxid of the last update popped
        self.known: Dict[str, int] = {}  # tree: the nodes that exist, with their versions
        self.batch: List[ChangeEvent] = []  # a resync being received
        self.ready: Deque[ConfigUpdate] = deque()

    def pop(self) -> Optional[ConfigUpdate]:
        if not self.ready:
            return None
        u = self.ready.popleft()
        self.last = u.zxid
        return u

    def feed(self, ev: ChangeEvent) -> None:
        if ev.type == "resync":
            self.batch.append(ev)
            return
        if ev.type == "synced":
            self.ready.extend(self._resynced(ev.zxid))
            self.batch = []
            return
        if ev.type not in ("created", "data_changed", "deleted"):
            return
        if ev.zxid <= self.from_zxid:
            return  # an agent that had not yet applied the resume point sends these again
        if ev.type == "deleted":
            self.known.pop(ev.path, None)
            self.ready.append(ConfigUpdate(ev.path, None, ev.stat.version, ev.zxid, deleted=True))
            return
        if self.tree:
            self.known[ev.path] = ev.stat.version
        self.ready.append(ConfigUpdate(ev.path, ev.data, ev.stat.version, ev.zxid))

    def _resynced(self, zxid: int) -> List[ConfigUpdate]:
        out: List[ConfigUpdate] = []
        present: Set[str] = set()
        for ev in self.batch:
            present.add(ev.path)
            out.append(ConfigUpdate(ev.path, ev.data, ev.stat.version, zxid, resync=True))
        if self.tree:
            gone = sorted((p for p in self.known if p not in present), reverse=True)
            for p in gone:  # children before their parents
                out.append(ConfigUpdate(p, None, self.known[p], zxid, deleted=True, resync=True))
            self.known = {ev.path: ev.stat.version for ev in self.batch}
        if not out:
            out.append(ConfigUpdate(self.root, None, 0, zxid, deleted=True, resync=True))
        last = out[-1]
        out[-1] = ConfigUpdate(last.path, last.value, last.version, last.zxid, last.deleted, True, True)
        return out
