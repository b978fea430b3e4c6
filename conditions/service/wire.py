"""JSON wire format of the conditions service, shared by the app and the client.

A resolution (one run)::

    {"global_tag": "GT", "run": 1234, "as_of": null, "frozen": true,
     "records": {"light_yield": {"tag": "...", "payload_type": "light_yield",
                                 "payload_hash": "<64 hex>", "since": 1000, "until": 1999,
                                 "insertion_time": "2026-01-01T00:00:00.000000+00:00"}}}

``since``/``until`` are inclusive run numbers (``until`` null: open-ended).  Times are ISO 8601
UTC with microseconds.  Bodies are compact JSON with sorted keys, so equal content gives equal
bytes and equal ETags.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from typing import Any

from conditions.errors import InvalidInput
from conditions.resolve import Resolution, ResolvedIOV

#: Media type of canonical payload bytes.
OCTET_STREAM = "application/octet-stream"


def fmt_time(value: dt.datetime | None) -> str | None:
    """ISO 8601 UTC with microseconds (None stays None)."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def parse_time(value: str | None, what: str = "as_of") -> dt.datetime | None:
    """ISO 8601 -> aware UTC datetime; a time without a zone is taken as UTC."""
    if value is None or value == "":
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{what}={value!r} is not an ISO 8601 time", "use e.g. 2026-11-29T12:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def dumps(obj: Any) -> bytes:
    """Compact, key-sorted UTF-8 JSON (the body of every JSON response)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_default).encode()


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return fmt_time(value)
    if hasattr(value, "value"):  # enums
        return value.value
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def body_etag(body: bytes) -> str:
    """Strong ETag of a response body: quoted first 32 hex digits of its SHA-256."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def iov_to_json(item: ResolvedIOV) -> dict[str, Any]:
    return {
        "tag": item.tag,
        "payload_type": item.payload_type,
        "payload_hash": item.payload_hash,
        "since": item.since,
        "until": item.until,
        "insertion_time": fmt_time(item.insertion_time),
    }


def iov_from_json(record: str, obj: dict[str, Any]) -> ResolvedIOV:
    inserted = parse_time(obj["insertion_time"], "insertion_time")
    assert inserted is not None
    return ResolvedIOV(
        record=record,
        tag=str(obj["tag"]),
        payload_type=str(obj["payload_type"]),
        payload_hash=str(obj["payload_hash"]),
        since=int(obj["since"]),
        until=None if obj["until"] is None else int(obj["until"]),
        insertion_time=inserted,
    )


def resolution_to_json(res: Resolution) -> dict[str, Any]:
    return {
        "global_tag": res.global_tag,
        "run": res.run,
        "as_of": fmt_time(res.as_of),
        "frozen": res.frozen,
        "records": {r: iov_to_json(res.records[r]) for r in sorted(res.records)},
    }


def resolution_from_json(obj: dict[str, Any]) -> Resolution:
    records = {r: iov_from_json(r, v) for r, v in obj["records"].items()}
    return Resolution(
        global_tag=str(obj["global_tag"]),
        run=int(obj["run"]),
        as_of=parse_time(obj.get("as_of")),
        frozen=bool(obj["frozen"]),
        records=records,
    )


def segments_to_json(resolutions: dict[int, Resolution]) -> list[dict[str, Any]]:
    """Group the requested runs (sorted) into segments of consecutive ones with equal records.

    Every requested run ``r`` with ``first_run <= r <= last_run`` resolves to ``records``.
    """
    out: list[dict[str, Any]] = []
    last_key: tuple[Any, ...] | None = None
    for run in sorted(resolutions):
        recs = resolutions[run].records
        key = tuple(
            (r, recs[r].payload_hash, recs[r].since, recs[r].until, recs[r].insertion_time)
            for r in sorted(recs)
        )
        if key == last_key:
            out[-1]["last_run"] = run
            continue
        out.append(
            {
                "first_run": run,
                "last_run": run,
                "records": {r: iov_to_json(recs[r]) for r in sorted(recs)},
            }
        )
        last_key = key
    return out


def segments_from_json(
    global_tag: str,
    as_of: dt.datetime | None,
    frozen: bool,
    segments: Iterable[dict[str, Any]],
    runs: Iterable[int],
) -> dict[int, Resolution]:
    """Inverse of :func:`segments_to_json` for the requested ``runs``."""
    segs = [
        (
            int(s["first_run"]),
            int(s["last_run"]),
            {r: iov_from_json(r, v) for r, v in s["records"].items()},
        )
        for s in segments
    ]
    out: dict[int, Resolution] = {}
    for run in runs:
        for first, last, records in segs:
            if first <= run <= last:
                out[run] = Resolution(global_tag, run, as_of, frozen, records)
                break
    return out
