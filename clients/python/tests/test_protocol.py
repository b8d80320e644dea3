"""The client's tables come from the protocol's (warden._protocol, generated
from testdata/protocol/v1-ops.json by `make generate`): the error classes,
the request keys and the result types."""

from __future__ import annotations

import dataclasses
import inspect
import json
from pathlib import Path
from typing import Any, Dict

import pytest

from warden import _ops, _protocol, _wire, errors, types

OPS_FILE = Path(__file__).resolve().parents[3] / "testdata" / "protocol" / "v1-ops.json"


def test_generated_tables_match_the_description() -> None:
    # The Go test of the generator checks the file byte for byte; this
    # checks that what Python reads from it says the same.
    desc: Dict[str, Any] = json.loads(OPS_FILE.read_text())
    assert _protocol.PROTOCOL_VERSION == desc["protocol"]
    assert [tuple(f.values()) for f in desc["request"]] == [tuple(f) for f in _protocol.REQUEST]
    assert [o["op"] for o in desc["ops"]] == list(_protocol.OPS)
    for o in desc["ops"]:
        spec = _protocol.OPS[o["op"]]
        assert [tuple(f.values()) for f in o["request"]] == [tuple(f) for f in spec.request]
        assert (o["result"], tuple(o["events"]), tuple(o["errors"]), o["sessionless"]) == \
            (spec.result, spec.events, spec.errors, spec.sessionless)
    assert {t["name"]: [tuple(f.values()) for f in t["fields"]] for t in desc["types"]} == \
        {n: [tuple(f) for f in fs] for n, fs in _protocol.TYPES.items()}
    assert desc["codes"] == list(_protocol.ERROR_CLASSES)


def test_every_error_code_has_its_class() -> None:
    assert list(errors.ERROR_CLASSES) == list(_protocol.ERROR_CLASSES)
    for code, name in _protocol.ERROR_CLASSES.items():
        cls = errors.ERROR_CLASSES[code]
        assert cls.__name__ == name and cls.code == code
        e = errors.error_from_wire({"code": code, "message": "m"})
        assert type(e) is cls


def test_request_keys_are_the_tables() -> None:
    assert _wire.REQUEST_KEYS == tuple(f.key for f in _protocol.REQUEST)
    assert _wire.OP_KEYS == tuple(f.key for f in _protocol.TYPES["Op"])
    assert _wire._OPTIONAL_NUMBERS == {"version", "wait_ms", "expect", "value"}


def test_builders_follow_the_op_table() -> None:
    # A request names only fields of its op, in the table's order.
    built = {
        "hello": _ops.req("hello", client="a", protocol=1),
        "create": _ops.req("create", ephemeral=True, data=b"x", path="/a"),
        "report": _ops.req("report", data=b"d", percent=5.0, task="t", job="j"),
        "proclaim": _ops.req("proclaim", token=3, data=b"v", key="/k"),
        "barrier_enter": _ops.req("barrier_enter", wait_ms=-1, member="m", count=2, path="/b"),
        "counter_cas": _ops.req("counter_cas", value=1, expect=0, path="/c"),
        "semaphore_acquire": _ops.req("semaphore_acquire", wait_ms=0, count=2, path="/s"),
    }
    for op, req in built.items():
        keys = [f.key for f in _protocol.OPS[op].request]
        got = [k for k in req if k != "op"]
        assert got == [k for k in keys if k in got], f"{op}: {got} not in the order {keys}"
    with pytest.raises(ValueError):
        _ops.req("lock", path="/l", token=1)  # lock has no token
    with pytest.raises(ValueError):
        _ops.req("lock_check", path="/l")  # lock_check needs a token
    with pytest.raises(ValueError):
        types._multi_op("create", path="/a", version=1)  # a multi's create has no version


def test_result_classes_read_their_wire_types() -> None:
    # Every bound class's fields are keys of its wire type (else the module
    # would not import); check a renamed one and nested ones parse.
    ld = types.Leader.parse({"key": "/e/c-1", "data": b"v", "token": 4})
    assert (ld.key, ld.value, ld.token) == ("/e/c-1", b"v", 4)
    ev = types.TaskEvent.parse({"task": {"task": "t", "percent": 12.5, "data": "x"}, "removed": True})
    assert ev.task.percent == 12.5 and ev.task.data == b"x" and ev.removed
    g = types.GroupResult.parse({"group": "g", "members": [{"member": "a"}, 7, {"member": "b", "data": b"1"}]})
    assert [m.member for m in g.members] == ["a", "b"]
    for name, cls in inspect.getmembers(types, inspect.isclass):
        if dataclasses.is_dataclass(cls) and hasattr(cls, "parse"):
            assert cls in types._BY_CLASS, f"{name} has a parse but no wire type"
