"""Tags and their IOVs: append-only rows, newest row per ``since`` in force (:mod:`conditions.iov`).

Concurrency: appends to one tag serialise on the tag row (``SELECT ... FOR UPDATE`` on
PostgreSQL; on SQLite the write transaction already holds the database lock from
``BEGIN IMMEDIATE``), so concurrent writers neither lose nor duplicate IOVs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import iov, times
from ..db.model import IOV, Tag, TagState, utcnow
from ..errors import AlreadyExists, InvalidIOV, PayloadNotFound, TagLocked, TagNotFound
from .common import (
    among_hashes,
    check_name,
    check_run,
    check_text,
    db_now,
    insert_if_missing,
    valid_name,
)
from .payloads import bind_value, get_payload_type
from .runs import check_sync


# --- tags ----------------------------------------------------------------------------------------
def create_tag(
    s: Session, name: str, type_name: str, description: str = "", *, exist_ok: bool = False
) -> Tag:
    """Create an open tag holding payloads of ``type_name`` (race-free: INSERT ... ON CONFLICT).

    ``exist_ok`` returns an existing tag of the same type instead of raising
    :class:`AlreadyExists` (campaign uploads: two campaigns may create the same tag at once).
    """
    check_name("tag", name)
    check_text("tag description", description)
    get_payload_type(s, type_name)
    created = False
    if s.scalar(select(Tag.id).where(Tag.name == name)) is None:
        row = {
            "name": name,
            "type_name": type_name,
            "description": description,
            "state": TagState.OPEN,
            "created_at": utcnow(),
        }
        created = insert_if_missing(s, Tag, row, "name")
    tag = s.scalars(
        select(Tag).where(Tag.name == name).execution_options(populate_existing=True)
    ).one()
    if not created and not exist_ok:
        raise AlreadyExists(f"tag {name!r} already exists", "choose another name")
    if tag.type_name != type_name:
        raise AlreadyExists(
            f"tag {name!r} already exists for type {tag.type_name!r}, not {type_name!r}",
            "choose another name or tag prefix",
        )
    return tag


def find_tag(s: Session, name: str) -> Tag | None:
    """The tag called ``name``, or None."""
    return s.scalar(select(Tag).where(Tag.name == name)) if valid_name(name) else None


def get_tag(s: Session, name: str, *, for_update: bool = False) -> Tag:
    """The tag called ``name``; ``for_update`` takes the row lock that serialises writers."""
    stmt = select(Tag).where(Tag.name == name)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    tag = s.scalar(stmt) if valid_name(name) else None
    if tag is None:
        raise TagNotFound(f"no tag named {name!r}", "list tags with `conddb tag list`")
    return tag


def lock_tag(s: Session, name: str) -> Tag:
    """Lock a tag for good: no IOV may be appended to it any more.  Locking twice is a no-op."""
    tag = get_tag(s, name, for_update=True)
    if tag.state is TagState.LOCKED:
        return tag
    tag.state = TagState.LOCKED
    tag.locked_at = utcnow()
    s.flush()
    return tag


@dataclass(frozen=True)
class AppendResult:
    """Outcome of :func:`append_iovs`."""

    tag: str
    added: int
    unchanged: int
    insertion_time: dt.datetime
    #: the ``since`` of each row written (the others equalled the IOV in force)
    added_sinces: tuple[int, ...] = ()


def iov_rows(
    s: Session,
    tag_id: int,
    *,
    lo: int | None = None,
    hi: int | None = None,
    as_of: dt.datetime | None = None,
) -> list[iov.Row]:
    """The stored IOV rows of a tag (optionally lo <= since <= hi, inserted by ``as_of``),
    ordered by (since, insertion time, id): the input :func:`conditions.iov.in_force` expects."""
    stmt = select(IOV.since, IOV.payload_hash, IOV.insertion_time).where(IOV.tag_id == tag_id)
    if lo is not None:
        stmt = stmt.where(IOV.since >= lo)
    if hi is not None:
        stmt = stmt.where(IOV.since <= hi)
    if as_of is not None:
        stmt = stmt.where(IOV.insertion_time <= as_of)
    rows = s.execute(stmt.order_by(IOV.since, IOV.insertion_time, IOV.id))
    return [iov.Row(int(since), h, t) for since, h, t in rows]


def _current_hashes(s: Session, tag_id: int, lo: int, hi: int) -> dict[int, str]:
    """since -> payload hash in force now, for the IOVs of a tag with lo <= since <= hi."""
    best = iov.winners(iov_rows(s, tag_id, lo=lo, hi=hi))
    return {since: row.payload_hash for since, row in best.items()}


#: PostgreSQL: IOV rows in one statement over two binary arrays (ids follow the array order).
_PG_INSERT_IOVS = (
    "INSERT INTO iov (tag_id, since, insertion_time, payload_hash) "
    "SELECT %(tag_id)s, s, %(at)s, h FROM unnest(%(sinces)b::bigint[], %(hashes)b::text[]) "
    "AS u(s, h)"
)
#: SQLite: one prepared INSERT executed per row (``executemany`` over tuples).
_SQLITE_INSERT_IOVS = (
    "INSERT INTO iov (tag_id, since, insertion_time, payload_hash) VALUES (?, ?, ?, ?)"
)
#: How many of an array of hashes are stored as payloads, and how many of those are of another
#: type than the given one: one statement, one row back, index probes (no join plan to choose).
_TYPE_COUNTS = (
    "SELECT count(*), count(CASE WHEN type_name <> {p} THEN 1 END) FROM payload WHERE {among}"
)
#: The stored type of each of an array of hashes (only when :data:`_TYPE_COUNTS` finds a fault).
_TYPES = "SELECT hash, type_name FROM payload WHERE {among}"


def _insert_iovs(s: Session, tag_id: int, at: dt.datetime, rows: list[tuple[int, str]]) -> None:
    """Insert ``(since, payload hash)`` rows of one tag, all inserted at ``at``."""
    conn = s.connection()
    if conn.dialect.name == "postgresql":
        step = 100_000
        for start in range(0, len(rows), step):
            part = rows[start : start + step]
            params = {
                "tag_id": tag_id,
                "at": at,
                "sinces": [x for x, _ in part],
                "hashes": [h for _, h in part],
            }
            conn.exec_driver_sql(_PG_INSERT_IOVS, params)
        return
    stamp = bind_value(s, IOV.__table__.c.insertion_time, at)
    conn.exec_driver_sql(_SQLITE_INSERT_IOVS, [(tag_id, x, stamp, h) for x, h in rows])


def _check_payloads(s: Session, tag: Tag, hashes: list[str]) -> None:
    """Raise :class:`PayloadNotFound` / :class:`InvalidIOV` for the first of ``hashes`` (sorted,
    distinct) that is not stored / stored as a payload of another type than ``tag``'s."""
    found, other = among_hashes(s, _TYPE_COUNTS, hashes, tag.type_name).one()
    if found == len(hashes) and not other:
        return
    types: dict[str, str] = {h: t for h, t in among_hashes(s, _TYPES, hashes)}
    for payload_hash in hashes:
        if payload_hash not in types:
            raise PayloadNotFound(
                f"no payload with hash {payload_hash!r}", "put the payload before appending its IOV"
            )
        if types[payload_hash] != tag.type_name:
            raise InvalidIOV(
                f"payload {payload_hash[:12]} is of type {types[payload_hash]!r}, "
                f"tag {tag.name!r} holds {tag.type_name!r}",
                "append it to a tag of its type",
            )
    # none found: a payload missing from the counts was stored since (READ COMMITTED) - fine


def append_iovs(s: Session, tag_name: str, iovs: Iterable[tuple[int, str]]) -> AppendResult:
    """Append IOVs ``(since, payload_hash)`` to an open tag, all in the caller's transaction.

    An IOV identical to the one in force at that ``since`` changes nothing; a different payload at
    an existing ``since`` supersedes it for lookups (the old row stays for ``as_of`` replays).
    Every row of one call shares one insertion time.  Raises :class:`TagLocked`,
    :class:`TagNotFound`, :class:`PayloadNotFound`, :class:`InvalidIOV` (bad run, two payloads for
    one since, payload of another type).
    """
    wanted: dict[int, str] = {}
    for since, payload_hash in iovs:
        check_run(since, "since")
        if wanted.get(since, payload_hash) != payload_hash:
            raise InvalidIOV(
                f"since {since} is given twice with different payloads",
                "give each since once per append",
            )
        wanted[since] = payload_hash
    tag = get_tag(s, tag_name, for_update=True)
    if tag.state is TagState.LOCKED:
        raise TagLocked(
            f"tag {tag_name!r} is locked", "append to a new tag and point the global tag to it"
        )
    if not wanted:
        return AppendResult(tag_name, 0, 0, db_now(s))
    check_sync(s, tag, wanted)  # prompt / express tags: since >= FCSR (issue 18)
    s.flush()  # the checks and inserts below go to the driver: no autoflush of pending rows
    _check_payloads(s, tag, sorted(set(wanted.values())))
    current = _current_hashes(s, tag.id, min(wanted), max(wanted))
    new_rows = [(since, h) for since, h in sorted(wanted.items()) if current.get(since) != h]
    now = db_now(s)
    if new_rows:
        _insert_iovs(s, tag.id, now, new_rows)
    return AppendResult(
        tag_name, len(new_rows), len(wanted) - len(new_rows), now, tuple(x for x, _ in new_rows)
    )


@dataclass(frozen=True)
class IOVRow:
    """One IOV as listed: bounds are inclusive run numbers; ``until`` None means open-ended."""

    since: int
    until: int | None
    payload_hash: str
    insertion_time: dt.datetime
    superseded: bool


def list_iovs(
    s: Session, tag_name: str, *, as_of: dt.datetime | None = None, history: bool = False
) -> list[IOVRow]:
    """The IOVs of a tag in force at ``as_of`` (default now), optionally with superseded rows."""
    tag = get_tag(s, tag_name)
    rows = iov_rows(s, tag.id, as_of=times.as_utc(as_of, "as-of time"))
    intervals = iov.in_force(rows)
    if not history:
        return [
            IOVRow(i.since, i.until, i.payload_hash, i.insertion_time, False) for i in intervals
        ]
    by_since = {i.since: i for i in intervals}
    out: list[IOVRow] = []
    for r in rows:
        won = by_since[r.since]
        latest = (won.payload_hash, won.insertion_time) == (r.payload_hash, r.insertion_time)
        out.append(IOVRow(r.since, won.until, r.payload_hash, r.insertion_time, not latest))
    return out


def list_tags(s: Session, type_name: str | None = None) -> list[tuple[Tag, int]]:
    """Tags with their number of IOV rows."""
    counts = select(IOV.tag_id, func.count(IOV.id).label("n")).group_by(IOV.tag_id).subquery()
    stmt = select(Tag, func.coalesce(counts.c.n, 0)).outerjoin(counts, counts.c.tag_id == Tag.id)
    if type_name is not None:
        stmt = stmt.where(Tag.type_name == type_name)
    return [(t, int(n)) for t, n in s.execute(stmt.order_by(Tag.name))]
