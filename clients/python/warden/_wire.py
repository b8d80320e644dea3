"""Frames and msgpack encoding of protocol version 1.

Requests are encoded byte for byte as the agent's own encoder writes them:
map keys in one fixed order, empty values left out (except the "optional
numbers", which are sent whenever given, even 0 or -1), integers in their
smallest msgpack form, ``data`` and ``secret`` as bin and ``percent`` always
as a float64. The keys, their order, their types and which are optional
numbers come from the protocol's tables (``_protocol``, generated).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Tuple

import msgpack

from ._protocol import PROTOCOL_VERSION as PROTOCOL_VERSION
from ._protocol import REQUEST, TYPES, Field

MAX_FRAME_SIZE = 4 << 20
MAX_DATA_SIZE = 1 << 20
MAX_MULTI_OPS = 1000

# Request map keys, in the order the agent's encoder writes them.
REQUEST_KEYS = tuple(f.key for f in REQUEST)
# Keys of a multi's op maps, in order.
OP_KEYS = tuple(f.key for f in TYPES["Op"])
# Keys written whenever given, even when zero.
_OPTIONAL_NUMBERS = frozenset(f.key for f in REQUEST + TYPES["Op"] if f.omit == "nil")
# The keys of each kind of map the client writes, and the set of them.
_SPECS: Dict[str, Tuple[Tuple[Field, ...], FrozenSet[str]]] = {
    "request": (REQUEST, frozenset(REQUEST_KEYS)), "multi op": (TYPES["Op"], frozenset(OP_KEYS))}


class ProtocolError(Exception):
    """The byte stream from the agent cannot be understood."""


def _value(key: str, v: Any, typ: str) -> Any:
    if typ == "bin":
        if isinstance(v, str):
            return v.encode("utf-8")
        if not isinstance(v, (bytes, bytearray, memoryview)):
            raise TypeError(f"{key} must be bytes, not {type(v).__name__}")
        return bytes(v)
    if typ == "bool":
        if not isinstance(v, bool):
            raise TypeError(f"{key} must be a bool")
        return v
    if typ == "str":
        if not isinstance(v, str):
            raise TypeError(f"{key} must be a str, not {type(v).__name__}")
        return v
    if typ == "float":
        return float(v)
    if typ == "[]Op":
        return [_map(o, "multi op") for o in v]
    if typ.startswith("[]"):
        return [_value(key, e, typ[2:]) for e in v]
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{key} must be an int, not {type(v).__name__}")
    return v


def _empty(v: Any) -> bool:
    return v is None or v is False or (not isinstance(v, bool) and v == 0) or (
        isinstance(v, (str, bytes, bytearray, list, tuple)) and len(v) == 0)


def _map(fields: Mapping[str, Any], what: str) -> Dict[str, Any]:
    """fields as the agent's encoder writes a map of what (a request or a
    multi op): in its keys' order, each converted to its wire type; a
    "never" key always (its zero value when not given), a "nil" one when
    given, any other unless empty."""
    spec, keys = _SPECS[what]
    unknown = set(fields) - keys
    if unknown:
        raise ValueError(f"unknown {what} fields: {sorted(unknown)}")
    out: Dict[str, Any] = {}
    for key, typ, omit in spec:
        v = fields.get(key)
        if omit == "never":
            v = ("" if typ == "str" else 0) if v is None else v
        elif v is None if omit == "nil" else _empty(v):
            continue
        out[key] = _value(key, v, typ)
    return out


def request_map(fields: Mapping[str, Any]) -> Dict[str, Any]:
    """Orders and filters a request's fields as the agent's encoder does."""
    if "op" not in fields:
        raise ValueError("a request needs an op")
    return _map(fields, "request")


def encode_body(fields: Mapping[str, Any]) -> bytes:
    """The msgpack body of a request."""
    body: bytes = msgpack.packb(request_map(fields), use_bin_type=True)
    return body


def encode_frame(fields: Mapping[str, Any]) -> bytes:
    """A whole request frame: 4-byte big-endian length, then the body.

    Raises ValueError when the body is over the 4 MiB frame limit (the agent
    would close the connection).
    """
    body = encode_body(fields)
    if len(body) > MAX_FRAME_SIZE:
        raise ValueError(f"request of {len(body)} bytes is over the 4 MiB frame limit")
    return struct.pack(">I", len(body)) + body


class FrameReader:
    """Splits a byte stream into frame bodies. Not thread-safe."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> List[bytes]:
        self._buf += data
        out: List[bytes] = []
        buf = self._buf
        pos = 0
        while len(buf) - pos >= 4:
            (n,) = struct.unpack_from(">I", buf, pos)
            if n == 0:
                raise ProtocolError("empty frame from agent")
            if n > MAX_FRAME_SIZE:
                raise ProtocolError(f"frame of {n} bytes from agent is over the 4 MiB limit")
            if len(buf) - pos - 4 < n:
                break
            out.append(bytes(buf[pos + 4:pos + 4 + n]))
            pos += 4 + n
        if pos:
            del buf[:pos]
        return out

    @property
    def buffered(self) -> int:
        return len(self._buf)


def read_frames(data: bytes) -> List[bytes]:
    """The bodies of the complete frames in data; leftover bytes are an error."""
    r = FrameReader()
    frames = r.feed(data)
    if r.buffered:
        raise ProtocolError("incomplete frame")
    return frames


@dataclass(frozen=True)
class Message:
    """One frame from the agent: a reply (id > 0), an event or a
    connection-level error (id 0)."""

    id: int
    result: Optional[Dict[str, Any]] = None
    error: Optional[Dict[str, Any]] = None
    event: str = ""
    sub: int = 0
    body: Optional[Dict[str, Any]] = None
    raw: Optional[Dict[str, Any]] = None


def decode_body(body: bytes) -> Dict[str, Any]:
    """Decodes a frame body, which must be one msgpack map."""
    if not body or not (body[0] & 0xF0 == 0x80 or body[0] in (0xDE, 0xDF)):
        raise ProtocolError("frame from agent is not a msgpack map")
    try:
        v = msgpack.unpackb(body, raw=False, strict_map_key=False)
    except Exception as e:  # noqa: BLE001 - msgpack raises several kinds
        raise ProtocolError(f"undecodable frame from agent: {e}") from e
    if not isinstance(v, dict):
        raise ProtocolError("frame from agent is not a msgpack map")
    return v


def _as_map(v: Any) -> Optional[Dict[str, Any]]:
    return v if isinstance(v, dict) else None


def _as_int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def decode_message(body: bytes) -> Message:
    m = decode_body(body)
    ev = m.get("event")
    return Message(
        id=_as_int(m.get("id")),
        result=_as_map(m.get("result")),
        error=_as_map(m.get("error")),
        event=ev if isinstance(ev, str) else "",
        sub=_as_int(m.get("sub")),
        body=_as_map(m.get("body")),
        raw=m,
    )
