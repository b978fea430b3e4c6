"""HSF documents (global tags, payload types, payload lists, payload IOVs, lookups) built from
the library: :mod:`conditions.store` for listings, :func:`conditions.resolve.resolve` for lookups.

Shapes are those of NoPayloadDB v5.1 (``nopayloaddb_client.models``); times are ISO 8601 UTC.
A frozen global tag is listed as of its snapshot time: IOVs appended later to one of its tags are
not part of it, exactly as its lookups ignore them.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from conditions import store
from conditions.db import read_session
from conditions.errors import InvalidInput, RecordNotFound, RunNotCovered
from conditions.resolve import ResolvedIOV, resolve
from conditions.states import Deprecation
from conditions.store.global_tags import deprecation_of

from .. import wire
from ..lookup import Lookups
from . import mapping

Doc = dict[str, Any]

#: Most rows one page may hold.
MAX_PAGE_SIZE = 1000


def statuses() -> list[Doc]:
    """The three NoPayloadDB statuses (fixed: ours are open and frozen)."""
    return [{"id": n, "name": name} for n, name in enumerate(mapping.STATUSES, start=1)]


# --- global tags ----------------------------------------------------------------------------------
class Counts:
    """IOVs in force per tag (as of a time), memoised for one request."""

    def __init__(self, s: Session) -> None:
        self.s = s
        self._memo: dict[tuple[str, dt.datetime | None], list[store.IOVRow]] = {}

    def iovs(self, tag: str, as_of: dt.datetime | None) -> list[store.IOVRow]:
        key = (tag, as_of)
        if key not in self._memo:
            self._memo[key] = store.list_iovs(self.s, tag, as_of=as_of)
        return self._memo[key]


def gt_doc(s: Session, gt: Any, counts: Counts) -> Doc:
    tags = store.global_tag_map(s, gt)
    return {
        "id": gt.id,
        "name": gt.name,
        "author": gt.description or None,
        "status": mapping.status_of(gt.state.value),
        "payload_lists_count": len(tags),
        "payload_iov_count": sum(len(counts.iovs(t.name, gt.snapshot_time)) for t in tags.values()),
        "snapshot_time": wire.fmt_time(gt.snapshot_time),
        "created": wire.fmt_time(gt.created_at),
        "updated": wire.fmt_time(gt.frozen_at or gt.created_at),
    }


def global_tags(s: Session) -> list[Doc]:
    counts = Counts(s)
    return [gt_doc(s, g, counts) for g in store.list_global_tags(s)]


def global_tag(s: Session, lookups: Lookups, name: str, *, light: bool) -> tuple[Doc, bool]:
    """One global tag (``light``: without its payload lists) and whether it is frozen."""
    gt = store.get_global_tag(s, name)
    counts = Counts(s)
    doc = gt_doc(s, gt, counts)
    if not light:
        doc["payload_lists"] = [
            list_doc(record, tag, name, counts.iovs(tag.name, gt.snapshot_time), lookups)
            for record, tag in sorted(store.global_tag_map(s, gt).items())
        ]
    return doc, gt.state.value == "published"


def global_tag_lists(s: Session, name: str) -> tuple[dict[str, str], bool]:
    """``{payload type (record): payload list (tag)}`` of a global tag, and whether frozen."""
    gt = store.get_global_tag(s, name)
    tags = store.global_tag_map(s, gt)
    return {record: tag.name for record, tag in sorted(tags.items())}, gt.state.value == "published"


# --- payload types --------------------------------------------------------------------------------
def payload_types(s: Session) -> list[Doc]:
    return [
        {"name": p.name, "description": p.description, "created": wire.fmt_time(p.created_at)}
        for p in store.list_payload_types(s)
    ]


# --- payload lists and IOVs -----------------------------------------------------------------------
def iov_doc(row: store.IOVRow, tag: Any, size: int, global_tag: str | None = None) -> Doc:
    """One IOV of ``tag`` as an HSF payload IOV (its id is the handle of since + payload)."""
    major_end, minor_end = mapping.iov_end(row.until)
    return {
        "id": mapping.IOVHandle(row.since, row.payload_hash).encode(),
        "payload_url": mapping.payload_url(tag.type_name, row.payload_hash),
        "checksum": mapping.checksum(row.payload_hash),
        "size": size,
        "major_iov": row.since,
        "minor_iov": 0,
        "major_iov_end": major_end,
        "minor_iov_end": minor_end,
        "payload_list": tag.name,
        "payload_type": tag.type_name,
        "global_tag": global_tag,
        "inserted": wire.fmt_time(row.insertion_time),
    }


def list_doc(
    record: str | None,
    tag: Any,
    global_tag: str | None,
    iovs: list[store.IOVRow],
    lookups: Lookups | None,
) -> Doc:
    doc: Doc = {
        "id": tag.id,
        "name": tag.name,
        "payload_type": record or tag.type_name,
        "global_tag": global_tag,
        "state": tag.state.value,
        "iov_count": len(iovs),
        "created": wire.fmt_time(tag.created_at),
    }
    if lookups is not None:
        doc["payload_iov"] = [
            iov_doc(i, tag, lookups.meta(i.payload_hash).size, global_tag) for i in iovs
        ]
    return doc


@dataclass(frozen=True)
class ListFilter:
    """Filters of the payload-list and payload-IOV listings (None: any)."""

    global_tag: str | None = None
    payload_type: str | None = None
    payload_list: str | None = None


def _lists(s: Session, f: ListFilter) -> list[tuple[str | None, Any, dt.datetime | None]]:
    """(record, tag, as_of) of the payload lists the filter selects."""
    chosen: list[tuple[str | None, Any, dt.datetime | None]]
    if f.global_tag is not None:
        gt = store.get_global_tag(s, f.global_tag)
        chosen = [(r, t, gt.snapshot_time) for r, t in sorted(store.global_tag_map(s, gt).items())]
    else:
        chosen = [(None, t, None) for t, _ in store.list_tags(s)]
    return [
        (r, t, when)
        for r, t, when in chosen
        if (f.payload_type is None or f.payload_type in (r, t.type_name))
        and (f.payload_list is None or f.payload_list == t.name)
    ]


def payload_lists(s: Session, f: ListFilter) -> list[Doc]:
    counts = Counts(s)
    return [
        list_doc(r, t, f.global_tag, counts.iovs(t.name, when), None) for r, t, when in _lists(s, f)
    ]


def payload_list(s: Session, lookups: Lookups, name: str) -> Doc:
    tag = store.get_tag(s, name)
    return list_doc(None, tag, None, store.list_iovs(s, name), lookups)


def payload_iovs(s: Session, lookups: Lookups, f: ListFilter) -> list[Doc]:
    counts = Counts(s)
    return [
        iov_doc(i, t, lookups.meta(i.payload_hash).size, f.global_tag)
        for _, t, when in _lists(s, f)
        for i in counts.iovs(t.name, when)
    ]


# --- lookups --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Found:
    """The payload in force for one record at one run, with its size [bytes]."""

    iov: ResolvedIOV
    size: int

    def as_dict(self) -> Doc:
        """The v5.1 query result (``shape=dict``)."""
        major_end, minor_end = mapping.iov_end(self.iov.until)
        return {
            "payload_type_name": self.iov.record,
            "payload_url": mapping.payload_url(self.iov.payload_type, self.iov.payload_hash),
            "checksum": mapping.checksum(self.iov.payload_hash),
            "size": self.size,
            "major_iov": self.iov.since,
            "minor_iov": 0,
            "major_iov_end": major_end,
            "minor_iov_end": minor_end,
            "revision": wire.fmt_time(self.iov.insertion_time),
        }

    def as_row(self) -> list[Any]:
        """The legacy row ``[type, url, checksum, size, major, minor, major_end, minor_end]``."""
        d = self.as_dict()
        keys = ("payload_type_name", "payload_url", "checksum", "size", "major_iov", "minor_iov")
        return [d[k] for k in keys] + [d["major_iov_end"], d["minor_iov_end"]]


def query(
    lookups: Lookups, global_tag: str, major_iov: int, minor_iov: int
) -> tuple[list[Found], bool, Deprecation | None]:
    """The payload of every record of ``global_tag`` in force at ``(major_iov, minor_iov)``,
    whether the global tag is immutable, and its deprecation when it is invalid (issue 18).
    A record that does not cover the run is absent.

    Our IOVs start at ``minor = 0``, so the sub-run coordinate never changes the answer.
    """
    store.check_run(major_iov, "majorIOV")
    if minor_iov < 0:
        raise InvalidInput(f"minorIOV {minor_iov} is negative", "give minorIOV >= 0")
    with lookups.reader.connect() as conn:
        try:
            res = resolve(conn, global_tag, major_iov)
            found, frozen, dep = list(res.records.values()), res.frozen, res.deprecation
        except (RunNotCovered, RecordNotFound):  # some (or all) records do not cover the run
            found, frozen, dep = _covered(lookups, global_tag, major_iov)
    return [Found(r, lookups.meta(r.payload_hash).size) for r in found], frozen, dep


def _covered(
    lookups: Lookups, global_tag: str, run: int
) -> tuple[list[ResolvedIOV], bool, Deprecation | None]:
    with read_session(lookups.engine) as s:
        gt = store.get_global_tag(s, global_tag)
        records = sorted(store.global_tag_map(s, gt))
        frozen = gt.state in store.IMMUTABLE_STATES
        dep = deprecation_of(s, global_tag)
        found: list[ResolvedIOV] = []
        for record in records:
            try:
                found.extend(resolve(s, global_tag, run, record=record).records.values())
            except RunNotCovered:
                continue
    return found, frozen, dep


# --- paging ---------------------------------------------------------------------------------------
def paged(
    items: Sequence[Doc],
    *,
    page: int,
    page_size: int,
    search: str | None,
    sort: str,
    order: str,
) -> Doc:
    """One page ``{count, page, page_size, total_pages, results}`` of ``items``.

    ``search``: case-insensitive substring of ``name`` (payload IOVs: of ``payload_url``);
    ``sort``: a field of the items; ``order``: ``asc`` or ``desc``.
    """
    if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidInput(
            f"page={page}, page_size={page_size} is not a valid page",
            f"give page >= 1 and 1 <= page_size <= {MAX_PAGE_SIZE}",
        )
    if order not in ("asc", "desc"):
        raise InvalidInput(f"order={order!r} is not asc or desc", "give order=asc or order=desc")
    rows = list(items)
    if rows and sort not in rows[0]:
        raise InvalidInput(f"cannot sort by {sort!r}", f"sort by one of: {', '.join(rows[0])}")
    if search:
        needle = search.lower()
        rows = [r for r in rows if needle in str(r.get("name", r.get("payload_url"))).lower()]
    rows.sort(key=lambda r: _sort_key(r.get(sort)), reverse=order == "desc")
    total_pages = max(1, math.ceil(len(rows) / page_size))
    start = (page - 1) * page_size
    return {
        "count": len(rows),
        "page": page,
        "page_size": page_size,
        "total_pages": total_pages,
        "results": rows[start : start + page_size],
    }


def _sort_key(value: Any) -> tuple[int, Any]:
    """Numbers by value, everything else by its text; missing values last."""
    if value is None:
        return (2, 0)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))
