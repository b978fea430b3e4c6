"""One JSON shape per domain object, used by the HTTP API and the CLI ``--json`` output (export
files hold table rows of the same objects, :mod:`conditions.services.transfer.codecs`):
payload metadata, tag, IOV row, global tag (and its map), resolved IOV, resolution, campaign.

Times are ISO 8601 UTC with microseconds (:func:`conditions.times.format_utc`); ``since`` and
``until`` are inclusive run numbers (``until`` null: open-ended).  Objects are read by attribute,
so ORM rows and the library's dataclasses serialise alike; nothing here imports SQLAlchemy.

==================  ==========================================================================
function            shape
==================  ==========================================================================
payload_meta_json   {hash, type, schema_version, size, created_at, provenance}
payload_type_json   {name, kind, schema_versions, description}
tag_json            {name, type, state, description, created_at, locked_at, synchronization
                    [, iovs]}
iov_row_json        {since, until, payload_hash, insertion_time, superseded}
global_tag_json     {name, state, snapshot_time, description, created_at, frozen_at, invalid_reason,
                    replaced_by}
gt_records_json     {record: {tag, type, tag_state}}  (a global tag's record -> tag map)
resolved_iov_json   {tag, payload_type, payload_hash, since, until, insertion_time}
resolution_json     {global_tag, run, as_of, frozen, records: {record: resolved_iov_json},
                     deprecation: null | {global_tag, reason, replaced_by, message}}
segments_json       [{first_run, last_run, records: {record: resolved_iov_json}}]
campaign_json       {name, kind, first_run, last_run, manifest_sha256, created_at, info
                    [, records: [campaign_link_json]]}
campaign_link_json  {record, tag, since, payload_hash}
==================  ==========================================================================
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping
from json.encoder import encode_basestring_ascii as _quote  # json.dumps' own (C) quoting
from typing import Any

from conditions import iov
from conditions.iov import Resolution, ResolvedIOV
from conditions.states import Deprecation
from conditions.times import format_utc, parse_utc


def _state(value: Any) -> Any:
    return getattr(value, "value", value)  # enums -> their text


def payload_meta_json(meta: Any) -> dict[str, Any]:
    """A payload's description (``meta``: a :class:`~conditions.store.reader.PayloadMeta` or a
    payload row)."""
    return {
        "hash": meta.hash,
        "type": meta.type_name,
        "schema_version": int(meta.schema_version),
        "size": int(meta.size),
        "created_at": format_utc(meta.created_at),
        "provenance": dict(meta.provenance or {}),
    }


def payload_type_json(ptype: Any, typed: Mapping[str, Any]) -> dict[str, Any]:
    """A registered payload type; ``typed``: type name -> its schema versions
    (:func:`conditions.services.documents.typed_types`).  ``kind``: ``typed`` (a schema) or
    ``json`` (any JSON document, schema version 1)."""
    return {
        "name": ptype.name,
        "kind": "typed" if ptype.name in typed else "json",
        "schema_versions": sorted(typed.get(ptype.name, {1: None})),
        "description": ptype.description,
    }


def tag_json(tag: Any, n_iovs: int | None = None) -> dict[str, Any]:
    """A tag (``n_iovs``: its number of IOV rows, in listings)."""
    doc: dict[str, Any] = {
        "name": tag.name,
        "type": tag.type_name,
        "state": _state(tag.state),
        "description": tag.description,
        "created_at": format_utc(tag.created_at),
        "locked_at": format_utc(tag.locked_at),
        "synchronization": _state(tag.synchronization),  # offline | prompt | express (issue 18)
    }
    if n_iovs is not None:
        doc["iovs"] = n_iovs
    return doc


def iov_row_json(row: Any) -> dict[str, Any]:
    """One listed IOV (:class:`conditions.store.IOVRow`)."""
    return {
        "since": row.since,
        "until": row.until,
        "payload_hash": row.payload_hash,
        "insertion_time": format_utc(row.insertion_time),
        "superseded": bool(row.superseded),
    }


def global_tag_json(gt: Any) -> dict[str, Any]:
    """A global tag (without its map)."""
    return {
        "name": gt.name,
        "state": _state(gt.state),
        "snapshot_time": format_utc(gt.snapshot_time),
        "description": gt.description,
        "created_at": format_utc(gt.created_at),
        "frozen_at": format_utc(gt.frozen_at),
        # issue 18: an invalid global tag says why and what replaces it (None otherwise)
        "invalid_reason": gt.invalid_reason,
        "replaced_by": gt.replaced_by,
    }


def gt_records_json(mapping: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A global tag's map (``mapping``: record -> tag object, as
    :func:`conditions.store.global_tag_map` returns it), by record."""
    return {
        r: {"tag": t.name, "type": t.type_name, "tag_state": _state(t.state)}
        for r, t in sorted(mapping.items())
    }


def resolved_iov_json(item: ResolvedIOV) -> dict[str, Any]:
    """The payload in force for one record (the record is the key around it)."""
    return {
        "tag": item.tag,
        "payload_type": item.payload_type,
        "payload_hash": item.payload_hash,
        "since": item.since,
        "until": item.until,
        "insertion_time": format_utc(item.insertion_time),
    }


@functools.lru_cache(maxsize=4096)
def _time_text(value: dt.datetime) -> str:
    """``format_utc`` of an insertion time, memoised (the rows of a bulk load share theirs;
    formatting an aware time costs ~2 µs)."""
    text = format_utc(value)
    assert text is not None
    return text


def resolved_iov_fragment(item: ResolvedIOV) -> bytes:
    """``"record":{resolved_iov_json}`` of ``item`` as :func:`.wire.dumps` writes that member
    (compact, keys sorted, ASCII escapes), byte for byte, formatted directly: ~5x faster than
    building the dict and encoding it (the service renders each IOV once, :mod:`.lookup`)."""
    until = "null" if item.until is None else str(int(item.until))
    return (
        f"{_quote(item.record)}:{{"
        f'"insertion_time":"{_time_text(item.insertion_time)}",'
        f'"payload_hash":{_quote(item.payload_hash)},'
        f'"payload_type":{_quote(item.payload_type)},'
        f'"since":{int(item.since)},'
        f'"tag":{_quote(item.tag)},'
        f'"until":{until}}}'
    ).encode()


def resolved_iov_from_json(record: str, obj: Mapping[str, Any]) -> ResolvedIOV:
    inserted = parse_utc(obj["insertion_time"], "insertion_time")
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


def resolution_json(res: Resolution) -> dict[str, Any]:
    """Every record of a global tag resolved for one run."""
    return {
        "global_tag": res.global_tag,
        "run": res.run,
        "as_of": format_utc(res.as_of),
        "frozen": res.frozen,
        "records": {r: resolved_iov_json(res.records[r]) for r in sorted(res.records)},
        "deprecation": None if res.deprecation is None else res.deprecation.json(),
    }


def resolution_from_json(obj: Mapping[str, Any]) -> Resolution:
    records = {r: resolved_iov_from_json(r, v) for r, v in obj["records"].items()}
    return Resolution(
        global_tag=str(obj["global_tag"]),
        run=int(obj["run"]),
        as_of=parse_utc(obj.get("as_of"), "as_of"),
        frozen=bool(obj["frozen"]),
        records=records,
        deprecation=Deprecation.from_json(obj.get("deprecation")),
    )


def segments_json(resolutions: Mapping[int, Resolution]) -> list[dict[str, Any]]:
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
                "records": {r: resolved_iov_json(recs[r]) for r in sorted(recs)},
            }
        )
        last_key = key
    return out


def segments_from_json(
    global_tag: str,
    as_of: dt.datetime | None,
    frozen: bool,
    segments: Iterable[Mapping[str, Any]],
    runs: Iterable[int],
    deprecation: Deprecation | None = None,
) -> dict[int, Resolution]:
    """Inverse of :func:`segments_json` for the requested ``runs`` (the segment of a run is the
    one with the greatest ``first_run <= run``, :func:`conditions.iov.index_of`)."""
    segs = sorted(
        (
            (
                int(s["first_run"]),
                int(s["last_run"]),
                {r: resolved_iov_from_json(r, v) for r, v in s["records"].items()},
            )
            for s in segments
        ),
        key=lambda seg: seg[0],
    )
    firsts = [first for first, _, _ in segs]
    out: dict[int, Resolution] = {}
    for run in runs:
        k = iov.index_of(firsts, run)
        if k >= 0 and run <= segs[k][1]:
            out[run] = Resolution(global_tag, run, as_of, frozen, segs[k][2], deprecation)
    return out


def campaign_link_json(link: Any) -> dict[str, Any]:
    """One constant of a campaign (:class:`conditions.store.campaigns.CampaignLink`)."""
    return {
        "record": link.record,
        "tag": link.tag,
        "since": int(link.since),
        "payload_hash": link.payload_hash,
    }


def campaign_json(campaign: Any, *, links: bool = False) -> dict[str, Any]:
    """A campaign (:class:`conditions.store.campaigns.CampaignRecord`); with ``links`` also its
    constants under ``records`` (in the order the store gives them)."""
    doc: dict[str, Any] = {
        "name": campaign.name,
        "kind": campaign.kind,
        "first_run": int(campaign.first_run),
        "last_run": int(campaign.last_run),
        "manifest_sha256": campaign.manifest_sha256,
        "created_at": format_utc(campaign.created_at),
        "info": dict(campaign.info or {}),
    }
    if links:
        doc["records"] = [campaign_link_json(k) for k in campaign.links]
    return doc
