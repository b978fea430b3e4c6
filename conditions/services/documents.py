"""Payloads from and to user documents: typed schemas where a type has one, plain JSON otherwise.

The typed payload types (``light_yield``, ``energy_nonlinearity``, ...) are validated by their
pydantic schema and encoded canonically by :mod:`conditions.payloads`.  Any other registered type
accepts a JSON document, stored as canonical JSON (sorted keys, no whitespace, UTF-8, no NaN), so
the same content always gives the same hash.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from .. import store
from ..errors import InvalidPayload, PayloadTooLarge


def canonical_json(doc: Any) -> bytes:
    """Canonical bytes of a JSON document (sorted keys, compact, UTF-8); NaN/inf refused."""
    try:
        return json.dumps(
            doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise InvalidPayload(
            f"payload is not plain JSON: {exc}", "remove NaN, inf and non-JSON values"
        ) from None


def typed_types() -> dict[str, Any]:
    """Type name -> {schema_version: model} of the typed payloads (empty if none are defined)."""
    try:
        from ..payloads import PAYLOAD_TYPES
    except ImportError:  # pragma: no cover - typed payloads are part of the package
        return {}
    return dict(PAYLOAD_TYPES)


def encode_document(type_name: str, doc: Any) -> tuple[bytes, int]:
    """Validate ``doc`` for ``type_name`` and return (canonical bytes, schema version)."""
    if type_name in typed_types():
        from ..payloads import encode_payload, parse_document, type_of

        model = parse_document(type_name, doc)
        return encode_payload(model), type_of(model)[1]
    return canonical_json(doc), 1


def parse_json_bytes(raw: bytes, source: str) -> Any:
    """Parse a JSON file's bytes, with a one-line error naming the file and position."""
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise InvalidPayload(f"{source} is not UTF-8 text", "give a JSON document") from None
    except RecursionError:
        raise InvalidPayload(f"{source} is nested too deeply", "flatten the document") from None
    except json.JSONDecodeError as exc:
        raise InvalidPayload(
            f"{source} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})",
            "fix the document",
        ) from None
    except ValueError as exc:
        raise InvalidPayload(f"{source}: {exc}", "replace NaN/Infinity by numbers") from None


def check_canonical(type_name: str, data: bytes) -> int:
    """Schema version of ``data`` if it is the canonical encoding of a ``type_name`` payload:
    typed bytes must decode and re-encode to the same bytes, others must be canonical JSON.
    Raises :class:`InvalidPayload`.  Used by the HTTP write API and by import."""
    if type_name in typed_types():
        from ..payloads import decode_payload, type_of

        return type_of(decode_payload(type_name, data))[1]
    doc = parse_json_bytes(data, "payload")
    if canonical_json(doc) != data:
        raise InvalidPayload(
            "payload bytes are not canonical JSON",
            "sort keys, no whitespace, UTF-8 (or upload the document with POST /v1/payloads)",
        )
    return 1


#: Largest JSON document file read [bytes]: arrays written as JSON lists take a few times the
#: bytes of their binary payload, which is capped at :data:`store.DEFAULT_MAX_PAYLOAD_BYTES`.
MAX_DOCUMENT_BYTES = 4 * store.DEFAULT_MAX_PAYLOAD_BYTES


def read_document_file(path: Path, limit: int | None = None) -> bytes:
    """The bytes of a document file, read in chunks and refused past ``limit`` bytes (a
    ``/dev/zero`` or a huge file is a clear size error, not a MemoryError); default limit
    :data:`MAX_DOCUMENT_BYTES`."""
    limit = MAX_DOCUMENT_BYTES if limit is None else limit
    out = bytearray()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            out += chunk
            if len(out) > limit:
                raise PayloadTooLarge(
                    f"{path} is larger than {limit} bytes", "a payload document must be smaller"
                )
    return bytes(out)


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed in a payload")


def put_document(
    s: Session,
    type_name: str,
    doc: Any,
    *,
    provenance: dict[str, Any] | None = None,
    max_bytes: int = store.DEFAULT_MAX_PAYLOAD_BYTES,
) -> store.PutResult:
    """Validate, encode and store a document as a payload of ``type_name``."""
    store.get_payload_type(s, type_name)
    data, version = encode_document(type_name, doc)
    return store.put_payload(
        s, type_name, data, schema_version=version, provenance=provenance, max_bytes=max_bytes
    )


def decode_document(type_name: str, data: bytes) -> Any:
    """The content of a stored payload as a JSON-able document (arrays summarised)."""
    if type_name in typed_types():
        from ..payloads import decode_payload

        return summarise_arrays(decode_payload(type_name, data).model_dump())
    return json.loads(data)


def summarise_arrays(value: Any, max_items: int = 64) -> Any:
    """A JSON-able copy of ``value`` where numpy arrays longer than ``max_items`` become a summary
    (dtype, shape, min, max, mean) instead of hundreds of thousands of numbers."""
    import numpy as np  # here, not at the top: the service's workers start without numpy

    if isinstance(value, np.ndarray):
        if value.size <= max_items:
            return value.tolist()
        finite = value[np.isfinite(value)] if value.dtype.kind == "f" else value
        stats = (
            {"min": float(finite.min()), "max": float(finite.max()), "mean": float(finite.mean())}
            if finite.size
            else {}
        )
        return {"array": {"dtype": str(value.dtype), "shape": list(value.shape), **stats}}
    if isinstance(value, dict):
        return {str(k): summarise_arrays(v, max_items) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [summarise_arrays(v, max_items) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "value") and not isinstance(value, int | float | str):
        return value.value  # enums
    return value
