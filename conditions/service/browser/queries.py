"""Read queries of the browser that no ``conditions.store`` function offers yet.

To move into conditions/store at merge.

Written with SQLAlchemy Core only, on lightweight ``table()`` descriptions of the public tables
(``global_tag``, ``global_tag_map``, ``tag``, ``iov``, ``payload``), so that this package never
imports the ORM model.  Times come back timezone-aware UTC (SQLite stores naive UTC text).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import DateTime, Integer, String, column, func, select, table
from sqlalchemy.orm import Session

_GT = table("global_tag", column("id", Integer), column("name", String), column("state", String))
_MAP = table(
    "global_tag_map",
    column("id", Integer),
    column("global_tag_id", Integer),
    column("record", String),
    column("tag_id", Integer),
    column("insertion_time", DateTime(timezone=True)),
)
_TAG = table(
    "tag",
    column("id", Integer),
    column("name", String),
    column("type_name", String),
    column("state", String),
)
_IOV = table(
    "iov",
    column("id", Integer),
    column("tag_id", Integer),
    column("since", Integer),
    column("insertion_time", DateTime(timezone=True)),
    column("payload_hash", String),
)
_PAYLOAD = table(
    "payload",
    column("hash", String),
    column("type_name", String),
    column("size", Integer),
    column("created_at", DateTime(timezone=True)),
)


def _utc(value: dt.datetime | str) -> dt.datetime:
    if isinstance(value, str):  # SQLite without the model's type decorator
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


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


def _map_rows(s: Session, where: object) -> list[MapRow]:
    stmt = (
        select(_GT.c.name, _MAP.c.record, _TAG.c.name, _TAG.c.type_name, _MAP.c.insertion_time)
        .select_from(_MAP.join(_GT, _GT.c.id == _MAP.c.global_tag_id))
        .join(_TAG, _TAG.c.id == _MAP.c.tag_id)
        .where(where)  # type: ignore[arg-type]
        .order_by(_GT.c.name, _MAP.c.record, _MAP.c.insertion_time, _MAP.c.id)
    )
    rows = s.execute(stmt).all()
    newest = {(g, r): i for i, (g, r, *_rest) in enumerate(rows)}  # the newest row wins
    return [
        MapRow(g, r, t, ty, _utc(when), newest[(g, r)] == i)
        for i, (g, r, t, ty, when) in enumerate(rows)
    ]


def map_history(s: Session, global_tag: str) -> list[MapRow]:
    """Every map row of a global tag, oldest first within each record."""
    return _map_rows(s, _GT.c.name == global_tag)


def global_tags_using_tags(s: Session, tags: list[str]) -> list[MapRow]:
    """The map rows, current or superseded, that point a record of any global tag at one of
    ``tags`` (with ``current`` computed over all rows of that record)."""
    if not tags:
        return []
    ids = select(_TAG.c.id).where(_TAG.c.name.in_(tags))
    gts = select(_MAP.c.global_tag_id).where(_MAP.c.tag_id.in_(ids))
    rows = _map_rows(s, _MAP.c.global_tag_id.in_(gts))
    records = {(r.global_tag, r.record) for r in rows if r.tag in tags}
    return [r for r in rows if (r.global_tag, r.record) in records and r.tag in tags]


@dataclass(frozen=True)
class PayloadUse:
    """An IOV row of ``tag`` (type ``type_name``) at ``since`` holding the payload."""

    tag: str
    since: int
    insertion_time: dt.datetime


def tags_using_payload(s: Session, payload_hash: str) -> list[PayloadUse]:
    """The IOV rows (superseded ones too) that hold ``payload_hash``, by tag and since."""
    stmt = (
        select(_TAG.c.name, _IOV.c.since, _IOV.c.insertion_time)
        .select_from(_IOV.join(_TAG, _TAG.c.id == _IOV.c.tag_id))
        .where(_IOV.c.payload_hash == payload_hash)
        .order_by(_TAG.c.name, _IOV.c.since, _IOV.c.insertion_time)
    )
    return [PayloadUse(t, int(since), _utc(when)) for t, since, when in s.execute(stmt)]


@dataclass(frozen=True)
class NameHit:
    """A search hit: ``kind`` is ``global tag``, ``tag`` or ``payload``."""

    kind: str
    name: str
    detail: str


def search(s: Session, text: str, limit: int = 50) -> list[NameHit]:
    """Global tags and tags whose name contains ``text`` (case-insensitive, ``_``/``%`` taken
    literally), and payloads whose hash starts with ``text`` (lowercase hex, >= 4 digits)."""
    needle = text.strip()
    if not needle:
        return []
    hits: list[NameHit] = []
    like = func.lower(_GT.c.name).contains(needle.lower(), autoescape=True)
    for name, state in s.execute(select(_GT.c.name, _GT.c.state).where(like).limit(limit)):
        hits.append(NameHit("global tag", name, state))
    like = func.lower(_TAG.c.name).contains(needle.lower(), autoescape=True)
    stmt = select(_TAG.c.name, _TAG.c.type_name, _TAG.c.state).where(like).limit(limit)
    for name, type_name, state in s.execute(stmt):
        hits.append(NameHit("tag", name, f"{type_name}, {state}"))
    prefix = needle.lower()
    if len(prefix) >= 4 and all(c in "0123456789abcdef" for c in prefix):
        stmt = (
            select(_PAYLOAD.c.hash, _PAYLOAD.c.type_name, _PAYLOAD.c.size)
            .where(_PAYLOAD.c.hash.startswith(prefix, autoescape=True))
            .order_by(_PAYLOAD.c.hash)
            .limit(limit)
        )
        for h, type_name, size in s.execute(stmt):
            hits.append(NameHit("payload", h, f"{type_name}, {size} bytes"))
    return hits


def global_tag_summaries(s: Session) -> dict[str, int]:
    """global tag name -> number of records in its current map."""
    stmt = (
        select(_GT.c.name, func.count(func.distinct(_MAP.c.record)))
        .select_from(_GT.outerjoin(_MAP, _MAP.c.global_tag_id == _GT.c.id))
        .group_by(_GT.c.name)
    )
    return {name: int(n) for name, n in s.execute(stmt)}
