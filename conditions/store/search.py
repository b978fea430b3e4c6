"""Search and reverse lookups: names and hash prefixes, "which global tags / tags use this".

Used by ``conddb search``, ``conddb tag where``, ``conddb payload where`` and the browser
(:mod:`conditions.service.browser.queries` re-exports these).  Times come back timezone-aware
UTC (the model's :class:`~conditions.db.model.UTCDateTime`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..db.model import IOV, Campaign, GlobalTag, GlobalTagMap, Payload, PayloadType, Tag


@dataclass(frozen=True)
class MapRow:
    """One row of a global tag's append-only map: ``record`` pointed at ``tag`` at ``time``;
    ``current`` when no newer row of the same record exists."""

    global_tag: str
    record: str
    tag: str
    type_name: str
    insertion_time: dt.datetime
    current: bool


def _map_rows(s: Session, where: Any) -> list[MapRow]:
    stmt = (
        select(
            GlobalTag.name,
            GlobalTagMap.record,
            Tag.name,
            Tag.type_name,
            GlobalTagMap.insertion_time,
        )
        .select_from(GlobalTagMap)
        .join(GlobalTag, GlobalTag.id == GlobalTagMap.global_tag_id)
        .join(Tag, Tag.id == GlobalTagMap.tag_id)
        .where(where)
        .order_by(GlobalTag.name, GlobalTagMap.record, GlobalTagMap.insertion_time, GlobalTagMap.id)
    )
    rows = s.execute(stmt).all()
    newest = {(g, r): i for i, (g, r, *_rest) in enumerate(rows)}  # the newest row wins
    return [
        MapRow(g, r, t, ty, when, newest[(g, r)] == i) for i, (g, r, t, ty, when) in enumerate(rows)
    ]


def map_history(s: Session, global_tag: str) -> list[MapRow]:
    """Every map row of a global tag, oldest first within each record."""
    return _map_rows(s, GlobalTag.name == global_tag)


def global_tags_using_tags(s: Session, tags: list[str]) -> list[MapRow]:
    """The map rows, current or superseded, that point a record of any global tag at one of
    ``tags`` (with ``current`` computed over all rows of that record)."""
    if not tags:
        return []
    ids = select(Tag.id).where(Tag.name.in_(tags))
    gts = select(GlobalTagMap.global_tag_id).where(GlobalTagMap.tag_id.in_(ids))
    rows = _map_rows(s, GlobalTagMap.global_tag_id.in_(gts))
    records = {(r.global_tag, r.record) for r in rows if r.tag in tags}
    return [r for r in rows if (r.global_tag, r.record) in records and r.tag in tags]


@dataclass(frozen=True)
class PayloadUse:
    """An IOV row of ``tag`` at ``since`` holding the payload."""

    tag: str
    since: int
    insertion_time: dt.datetime


def tags_using_payload(s: Session, payload_hash: str) -> list[PayloadUse]:
    """The IOV rows (superseded ones too) that hold ``payload_hash``, by tag and since."""
    stmt = (
        select(Tag.name, IOV.since, IOV.insertion_time)
        .select_from(IOV)
        .join(Tag, Tag.id == IOV.tag_id)
        .where(IOV.payload_hash == payload_hash)
        .order_by(Tag.name, IOV.since, IOV.insertion_time)
    )
    return [PayloadUse(t, int(since), when) for t, since, when in s.execute(stmt)]


@dataclass(frozen=True)
class NameHit:
    """A search hit: ``kind`` is one of :data:`KINDS`."""

    kind: str
    name: str
    detail: str


#: What :func:`search` can look for; the browser's default is the first three.
KINDS = ("global tag", "tag", "payload", "type", "campaign")


def search(
    s: Session, text: str, limit: int = 50, kinds: Collection[str] = KINDS[:3]
) -> list[NameHit]:
    """Global tags, tags, payload types and campaigns whose name contains ``text``
    (case-insensitive, ``_``/``%`` taken literally), and payloads whose hash starts with ``text``
    (lowercase hex, >= 4 digits); at most ``limit`` hits per kind."""
    needle = text.strip().lower()
    if not needle:
        return []
    hits: list[NameHit] = []
    if "global tag" in kinds:
        like = func.lower(GlobalTag.name).contains(needle, autoescape=True)
        stmt = select(GlobalTag.name, GlobalTag.state).where(like).order_by(GlobalTag.name)
        for name, state in s.execute(stmt.limit(limit)):
            hits.append(NameHit("global tag", name, str(state)))
    if "tag" in kinds:
        like = func.lower(Tag.name).contains(needle, autoescape=True)
        stmt2 = select(Tag.name, Tag.type_name, Tag.state).where(like).order_by(Tag.name)
        for name, type_name, state in s.execute(stmt2.limit(limit)):
            hits.append(NameHit("tag", name, f"{type_name}, {state}"))
    if "type" in kinds:
        like = func.lower(PayloadType.name).contains(needle, autoescape=True)
        stmt3 = select(PayloadType.name, PayloadType.description).where(like)
        for name, description in s.execute(stmt3.order_by(PayloadType.name).limit(limit)):
            hits.append(NameHit("type", name, description or ""))
    if "campaign" in kinds:
        like = func.lower(Campaign.name).contains(needle, autoescape=True)
        stmt4 = select(Campaign.name, Campaign.kind, Campaign.first_run, Campaign.last_run)
        for name, kind, first, last in s.execute(
            stmt4.where(like).order_by(Campaign.name).limit(limit)
        ):
            hits.append(NameHit("campaign", name, f"{kind}, runs {first}-{last}"))
    if "payload" in kinds and len(needle) >= 4 and all(c in "0123456789abcdef" for c in needle):
        stmt5 = (
            select(Payload.hash, Payload.type_name, Payload.size)
            .where(Payload.hash.startswith(needle, autoescape=True))
            .order_by(Payload.hash)
            .limit(limit)
        )
        for h, type_name, size in s.execute(stmt5):
            hits.append(NameHit("payload", h, f"{type_name}, {size} bytes"))
    return hits


def global_tag_summaries(s: Session) -> dict[str, int]:
    """global tag name -> number of records in its current map."""
    stmt = (
        select(GlobalTag.name, func.count(func.distinct(GlobalTagMap.record)))
        .select_from(GlobalTag)
        .outerjoin(GlobalTagMap, GlobalTagMap.global_tag_id == GlobalTag.id)
        .group_by(GlobalTag.name)
    )
    return {name: int(n) for name, n in s.execute(stmt)}


def names(s: Session, kind: str, prefix: str, limit: int = 200) -> list[str]:
    """Names of ``kind`` (``tag`` or ``global tag``) starting with ``prefix``: shell completion."""
    column = Tag.name if kind == "tag" else GlobalTag.name
    stmt = select(column).where(column.startswith(prefix, autoescape=True)).order_by(column)
    return list(s.scalars(stmt.limit(limit)))
