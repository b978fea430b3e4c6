"""A payload's full content, arrays included, as JSON or as numpy arrays (``conddb payload dump``).

* :func:`full_document`: the JSON document of a payload with every array as nested lists; for a
  typed payload it is exactly what ``conddb payload put TYPE FILE`` accepts back, and it
  re-encodes to the same canonical bytes (the same hash).
* :func:`npz_members`: the arrays of a typed payload by dotted field path (``curves.gain`` ...),
  plus ``__fields__``: the JSON of every non-array field (what ``numpy.savez`` stores).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..errors import InvalidInput
from .registry import PAYLOAD_TYPES, decode_payload

#: The member of an ``.npz`` dump holding the non-array fields as JSON text.
FIELDS_MEMBER = "__fields__"


def full_document(type_name: str, data: bytes) -> Any:
    """The whole content of the payload ``data`` of ``type_name`` (untyped: its JSON)."""
    if type_name not in PAYLOAD_TYPES:
        return json.loads(data)
    return decode_payload(type_name, data).model_dump(mode="json")


def _split(value: Any, path: str, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, np.ndarray):
        arrays[path] = value
        return {"npz": path}
    if isinstance(value, dict):
        return {k: _split(v, f"{path}.{k}" if path else str(k), arrays) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_split(v, f"{path}.{n}", arrays) for n, v in enumerate(value)]
    return value


def npz_members(type_name: str, data: bytes) -> dict[str, np.ndarray]:
    """The arrays of a typed payload by field path, and :data:`FIELDS_MEMBER` with the rest
    (each array replaced by ``{"npz": path}``); an untyped payload has no arrays: refused."""
    if type_name not in PAYLOAD_TYPES:
        raise InvalidInput(
            f"payload type {type_name!r} is plain JSON, it has no arrays to put in an .npz",
            "dump it to a .json file instead",
        )
    arrays: dict[str, np.ndarray] = {}
    fields = _split(decode_payload(type_name, data).model_dump(), "", arrays)
    arrays[FIELDS_MEMBER] = np.array(json.dumps(fields, sort_keys=True))
    return arrays
