"""Canonical byte encoding of payloads (format 1): same content -> same bytes -> same hash.

Layout (all integers little-endian)::

    offset   size  content
    0        4     magic  b"JCDB"
    4        2     uint16 format version = 1
    6        2     uint16 reserved = 0
    8        8     uint64 H = length of the header in bytes
    16       H     header: canonical JSON text (ASCII)
    16+H     ...   zero bytes up to D = the next multiple of 64
    D        ...   array blocks; block i starts at D + offset_i (offset_i a multiple of 64), gaps
                   between blocks are zero bytes; the data ends right after the last block
                   (a payload without arrays ends right after the header, without padding)

Header JSON::

    {"fields": {<every model field except schema_version>},
     "schema_version": <int>, "type": "<payload type name>"}

* Canonical JSON = keys sorted at every level, separators ``,`` and ``:`` without spaces, ASCII
  only (``\\uXXXX`` escapes), no NaN/Infinity.  Integers are written in decimal without a point;
  floats are written with the *shortest* decimal string that reads back to the same IEEE-754
  double (Python ``repr``: ``1345.0``, ``1e-05``, ``6.02214076e+23``), always with ``.`` or ``e``,
  so any correctly rounding ``strtod`` recovers the exact bits.  ``-0.0`` never appears
  (normalised to ``0.0`` by the schemas).
* An array field value is replaced by ``{"$array": {"dtype": D, "offset": O, "shape": [n, ...]}}``
  with ``D`` one of ``<f8 <f4 <i8 <i4 |u1`` (numpy notation: little-endian float64, float32,
  int64, int32, uint8); the block holds ``prod(shape) * itemsize`` bytes in C (row-major) order.
  Blocks are laid out in the order the arrays are met in a depth-first walk of the header with
  sorted keys.
* Nested models are JSON objects, tuples/lists are JSON arrays, ``None`` is ``null``.

The reader (:func:`decode_header`) accepts only canonical bytes: the registry re-encodes the decoded
payload and rejects the input unless the bytes are identical, so no two byte strings (hence no two
hashes) exist for one content.  The JSON Schema of each type (``conddb schema show TYPE``) gives the
fields; arrays are marked there with ``x-dtype`` and ``x-ndim``.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from typing import Any

import numpy as np
from pydantic import BaseModel

from conditions.errors import InvalidPayload
from conditions.payloads.arrays import ALLOWED_DTYPES

MAGIC = b"JCDB"
FORMAT_VERSION = 1
ALIGN = 64
_PREFIX = struct.Struct("<4sHHQ")

#: Decoding limits: deepest nesting of the header JSON, most array dimensions (numpy's own limit
#: is 64; no payload schema declares more than 2).  Beyond them the bytes are refused as corrupt.
MAX_HEADER_DEPTH = 32
MAX_ARRAY_NDIM = 32


def _pad(n: int) -> int:
    """Smallest multiple of :data:`ALIGN` that is >= ``n``."""
    return -(-n // ALIGN) * ALIGN


def canonical_json(obj: Any) -> bytes:
    """Canonical JSON text of ``obj`` (sorted keys, no spaces, ASCII, repr-exact floats)."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


class _ArrayCollector:
    """Replaces arrays by references and remembers their bytes, in walk order."""

    def __init__(self) -> None:
        self.blocks: list[bytes] = []
        self.size = 0

    def ref(self, arr: np.ndarray) -> dict[str, Any]:
        dtype = arr.dtype.str
        if dtype not in ALLOWED_DTYPES:
            raise TypeError(f"array dtype {dtype} cannot be encoded")
        offset = _pad(self.size)
        raw = np.ascontiguousarray(arr).tobytes(order="C")
        if offset > self.size:
            self.blocks.append(b"\0" * (offset - self.size))
        self.blocks.append(raw)
        self.size = offset + len(raw)
        return {"$array": {"dtype": dtype, "offset": offset, "shape": list(arr.shape)}}

    def walk(self, value: Any) -> Any:
        if isinstance(value, np.ndarray):
            return self.ref(value)
        if isinstance(value, dict):
            return {str(k): self.walk(value[k]) for k in sorted(value)}
        if isinstance(value, list | tuple):
            return [self.walk(v) for v in value]
        if isinstance(value, bool | int | str) or value is None:
            return value
        if isinstance(value, float):
            return value + 0.0
        if isinstance(value, np.generic):
            return self.walk(value.item())
        raise TypeError(f"cannot encode value of type {type(value).__name__}")


def encode_payload(model: BaseModel) -> bytes:
    """Canonical bytes of a payload model (format described in the module docstring).

    The same content gives the same bytes on any machine (byte order, dict order and float
    printing are all fixed), so :func:`payload_hash` of the result is a content address.
    """
    type_name = getattr(type(model), "TYPE_NAME", "")
    version = getattr(type(model), "SCHEMA_VERSION", 0)
    if not type_name or not version:
        raise InvalidPayload(
            f"{type(model).__name__} is not a payload schema",
            hint="build one of the models in conditions.payloads",
        )
    fields = {
        name: getattr(model, name)
        for name in type(model).model_fields
        if name != "schema_version"
    }
    collector = _ArrayCollector()
    header = canonical_json(
        {
            "fields": collector.walk(_plain(fields)),
            "schema_version": version,
            "type": type_name,
        }
    )
    head = _PREFIX.pack(MAGIC, FORMAT_VERSION, 0, len(header)) + header
    if not collector.blocks:
        return head
    data_start = _pad(len(head))
    return b"".join([head, b"\0" * (data_start - len(head)), *collector.blocks])


def _plain(value: Any) -> Any:
    """Nested models -> dicts (arrays and scalars kept as they are)."""
    if isinstance(value, BaseModel):
        return {name: _plain(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def payload_hash(data: bytes) -> str:
    """Hex SHA-256 of the canonical bytes (the payload's primary key)."""
    return hashlib.sha256(data).hexdigest()


def _corrupt(what: str) -> InvalidPayload:
    return InvalidPayload(
        f"payload bytes: {what}",
        hint="the bytes are not a canonical payload (format 1); re-encode with encode_payload",
    )


def decode_header(data: bytes) -> tuple[str, int, dict[str, Any]]:
    """Split canonical bytes into ``(type name, schema_version, fields)``.

    Array references in the header are replaced by read-only numpy views of ``data``.  Raises
    :class:`~conditions.errors.InvalidPayload` on any structural problem (bad magic or format
    version, truncated data, malformed header, array block out of range, unknown dtype).
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise _corrupt(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < _PREFIX.size:
        raise _corrupt("truncated (shorter than the 16-byte prefix)")
    magic, fmt, reserved, hlen = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise _corrupt(f"bad magic {magic!r} (expected {MAGIC!r})")
    if fmt != FORMAT_VERSION or reserved != 0:
        raise _corrupt(f"unsupported format version {fmt}")
    if _PREFIX.size + hlen > len(data):
        raise _corrupt("truncated header")
    too_deep = _corrupt(f"header nested deeper than {MAX_HEADER_DEPTH} levels")
    try:
        header = json.loads(data[_PREFIX.size : _PREFIX.size + hlen].decode("ascii"))
    except RecursionError:
        raise too_deep from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise _corrupt(f"header is not ASCII JSON ({exc})") from exc
    if _depth(header) > MAX_HEADER_DEPTH:
        raise too_deep
    if (
        not isinstance(header, dict)
        or set(header) != {"fields", "schema_version", "type"}
        or not isinstance(header["fields"], dict)
        or not isinstance(header["type"], str)
        or not isinstance(header["schema_version"], int)
    ):
        raise _corrupt("header must be an object with keys fields, schema_version, type")
    data_start = _pad(_PREFIX.size + hlen)

    def resolve(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"$array"}:
                return _array(data, data_start, value["$array"])
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value

    fields = resolve(header["fields"])
    return header["type"], header["schema_version"], fields


def _depth(value: Any) -> int:
    """Deepest list/object nesting of a parsed JSON value (iterative: no recursion limit)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _array(data: bytes, data_start: int, ref: Any) -> np.ndarray:
    """Read-only view of one array block described by ``ref``."""
    if not isinstance(ref, dict) or set(ref) != {"dtype", "offset", "shape"}:
        raise _corrupt("array reference must have keys dtype, offset, shape")
    dtype, offset, shape = ref["dtype"], ref["offset"], ref["shape"]
    if not isinstance(dtype, str) or dtype not in ALLOWED_DTYPES:
        raise _corrupt(f"array dtype {dtype!r} not allowed")
    if (
        type(offset) is not int
        or offset < 0
        or not isinstance(shape, list)
        or not all(type(n) is int and n >= 0 for n in shape)
    ):
        raise _corrupt("array offset/shape must be non-negative integers")
    if len(shape) > MAX_ARRAY_NDIM:
        raise _corrupt(f"array of {len(shape)} dimensions (at most {MAX_ARRAY_NDIM})")
    # Exact integer arithmetic (a numpy int64 product would wrap around); every extent must also
    # fit the data on its own, so that a zero extent cannot hide a huge one from the size check.
    count = math.prod(shape)
    start = data_start + offset
    if any(n > len(data) for n in shape) or start + count * np.dtype(dtype).itemsize > len(data):
        raise _corrupt("array block beyond the end of the data")
    arr = np.frombuffer(data, dtype=np.dtype(dtype), count=count, offset=start)
    return arr.reshape(shape)
