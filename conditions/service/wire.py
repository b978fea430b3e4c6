"""JSON wire format of the conditions service, shared by the app and the client.

A resolution (one run)::

    {"global_tag": "GT", "run": 1234, "as_of": null, "frozen": true,
     "records": {"light_yield": {"tag": "...", "payload_type": "light_yield",
                                 "payload_hash": "<64 hex>", "since": 1000, "until": 1999,
                                 "insertion_time": "2026-01-01T00:00:00.000000+00:00"}}}

The shape of each object is defined once in :mod:`.serializers` (re-exported here under the
former names); times follow :mod:`conditions.times` (a time without a zone is refused, 422).
Bodies are compact JSON with sorted keys, so equal content gives equal bytes and equal ETags.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from conditions.times import format_utc, parse_utc

from .serializers import (
    resolution_from_json,
    resolution_json,
    resolved_iov_from_json,
    resolved_iov_json,
    segments_from_json,
    segments_json,
)

#: Media type of canonical payload bytes.
OCTET_STREAM = "application/octet-stream"

# former names of the serializers
iov_to_json = resolved_iov_json
iov_from_json = resolved_iov_from_json
resolution_to_json = resolution_json
segments_to_json = segments_json
fmt_time = format_utc

__all__ = [
    "OCTET_STREAM",
    "body_etag",
    "dumps",
    "fmt_time",
    "iov_from_json",
    "iov_to_json",
    "parse_time",
    "resolution_from_json",
    "resolution_to_json",
    "segments_from_json",
    "segments_to_json",
]


def parse_time(value: str | None, what: str = "as_of") -> dt.datetime | None:
    """ISO 8601 -> aware UTC datetime (:func:`conditions.times.parse_utc`: a zone is required)."""
    return parse_utc(value, what)


def dumps(obj: Any) -> bytes:
    """Compact, key-sorted UTF-8 JSON (the body of every JSON response)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_default).encode()


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return format_utc(value)
    if hasattr(value, "value"):  # enums
        return value.value
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def body_etag(body: bytes) -> str:
    """Strong ETag of a response body: quoted first 32 hex digits of its SHA-256."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
