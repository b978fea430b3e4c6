"""Lookup SQL: (global tag, run[, as-of time]) -> the payload of each record, with its IOV bounds.

The rules are those of :mod:`conditions.iov` (greatest ``since <= run``, newest row per since,
until = next since - 1, snapshot and ``as_of`` visibility; see :mod:`conditions.resolve` for the
full statement of the semantics).  Here they are written as SQL so that one lookup is ONE
statement: correlated, index-backed subqueries per record; the index
``(tag_id, since, insertion_time, id)`` makes each a single backward index probe, so the cost does
not grow with the size of the tag.  ``tests/integration/test_iov_oracle.py`` checks these
statements against :mod:`conditions.iov` on both backends.  :mod:`conditions.db.plain` sends
the lookup statement precompiled, without SQLAlchemy (``conddb get``): after changing it, run
``python -m conditions.db.plain`` (a unit test fails until then).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Select, String, and_, bindparam, exists, func, or_, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, aliased

from .. import iov, times
from ..db.model import IOV, GlobalTag, GlobalTagMap, GlobalTagState, Payload, Tag, UTCDateTime
from ..db.plain import records_of
from ..errors import GlobalTagNotFound, PayloadNotFound, RecordNotFound, RunNotCovered
from ..iov import Resolution, ResolvedIOV
from ..states import Deprecation
from .common import check_run
from .coverage import explain_uncovered
from .global_tags import IMMUTABLE_STATES, deprecation_of


def _current_map_filter(m: Any, as_of: Any, gt: Any) -> Any:
    """SQL condition: map row ``m`` is the one in force for its (global tag, record)."""
    m2 = aliased(GlobalTagMap)
    newer = select(m2.id).where(
        m2.global_tag_id == m.global_tag_id,
        m2.record == m.record,
        or_(
            m2.insertion_time > m.insertion_time,
            and_(m2.insertion_time == m.insertion_time, m2.id > m.id),
        ),
    )
    conditions = []
    if as_of is not None:
        # An open global tag is replayed with its map as of then; a frozen one keeps its final map.
        final = gt.state.in_(IMMUTABLE_STATES)  # published or invalid: the final map
        visible = or_(final, m.insertion_time <= as_of)
        newer = newer.where(or_(final, m2.insertion_time <= as_of))
        conditions.append(visible)
    conditions.append(~exists(newer))
    return and_(*conditions)


def _iov_time_filter(i: Any, gt: Any, as_of: Any) -> list[Any]:
    conditions = [or_(gt.snapshot_time.is_(None), i.insertion_time <= gt.snapshot_time)]
    if as_of is not None:
        conditions.append(i.insertion_time <= as_of)
    return conditions


# The statements are built once per variant (with/without record, with/without as_of) with bound
# parameters: building an ORM statement costs ~5 ms, executing a cached compiled one ~0.1 ms.
_GT = bindparam("gt_name", type_=String())
_RUN = bindparam("run", type_=BigInteger())
_RECORD = bindparam("record", type_=String())
_AS_OF = bindparam("as_of", type_=UTCDateTime())
_LO = bindparam("lo", type_=BigInteger())
_HI = bindparam("hi", type_=BigInteger())


IOVJoin = Callable[[Any, Any, Any, Any], Any]


def _lookup_statement(
    with_record: bool, with_as_of: bool, iov_on: IOVJoin, after: Any, ordered: bool = False
) -> Select[Any]:
    """Per record of the global tag (its map in force): the IOV rows joined by
    ``iov_on(i, t, g, as_of)``, and the first ``since`` after ``after`` (the IOV's end)."""
    as_of = _AS_OF if with_as_of else None
    g = aliased(GlobalTag, name="g")
    m = aliased(GlobalTagMap, name="m")
    t = aliased(Tag, name="t")
    i = aliased(IOV, name="i")
    n = aliased(IOV, name="n")
    next_since = (
        select(func.min(n.since))
        .where(n.tag_id == t.id, n.since > after, *_iov_time_filter(n, g, as_of))
        .correlate(t, g)
        .scalar_subquery()
    )
    stmt = (
        select(
            g.state,
            m.record,
            t.name,
            t.type_name,
            i.since,
            i.payload_hash,
            i.insertion_time,
            next_since,
        )
        .select_from(g)
        .join(m, m.global_tag_id == g.id)
        .join(t, t.id == m.tag_id)
        .outerjoin(i, iov_on(i, t, g, as_of))
        .where(g.name == _GT, _current_map_filter(m, as_of, g))
    )
    if with_record:
        stmt = stmt.where(m.record == _RECORD)
    if ordered:
        stmt = stmt.order_by(m.record, i.since, i.insertion_time, i.id)
    return stmt


def _in_force(i: Any, t: Any, g: Any, as_of: Any) -> Any:
    """Join condition: ``i`` is the IOV row in force at run ``_RUN`` (greatest since <= run,
    newest insertion)."""
    j = aliased(IOV, name="j")
    newest = (
        select(j.id)
        .where(j.tag_id == t.id, j.since <= _RUN, *_iov_time_filter(j, g, as_of))
        .order_by(j.since.desc(), j.insertion_time.desc(), j.id.desc())
        .limit(1)
        .correlate(t, g)
        .scalar_subquery()
    )
    return i.id == newest


def _in_range(i: Any, t: Any, g: Any, as_of: Any) -> Any:
    """Join condition: ``i`` is one of the rows from the one in force at ``_LO`` up to ``_HI``."""
    f = aliased(IOV, name="f")
    first_since = (
        select(func.max(f.since))
        .where(f.tag_id == t.id, f.since <= _LO, *_iov_time_filter(f, g, as_of))
        .correlate(t, g)
        .scalar_subquery()
    )
    return and_(
        i.tag_id == t.id,
        i.since <= _HI,
        i.since >= func.coalesce(first_since, _LO),
        *_iov_time_filter(i, g, as_of),
    )


@functools.cache
def _resolve_statement(with_record: bool, with_as_of: bool) -> Select[Any]:
    return _lookup_statement(with_record, with_as_of, _in_force, _RUN)


@functools.cache
def _resolve_many_statement(with_record: bool, with_as_of: bool) -> Select[Any]:
    return _lookup_statement(with_record, with_as_of, _in_range, _HI, ordered=True)


def _explain_empty(conn: Connection, gt_name: str, record: str | None) -> None:
    """Raise the right error when a resolve statement returned no row."""
    if conn.scalar(select(GlobalTag.id).where(GlobalTag.name == gt_name)) is None:
        raise GlobalTagNotFound(
            f"no global tag named {gt_name!r}", "list global tags with `conddb gt list`"
        )
    if record is not None:
        raise RecordNotFound(
            f"global tag {gt_name!r} has no record {record!r}",
            f"see its records with `conddb gt show {gt_name}`",
        )
    raise RecordNotFound(
        f"global tag {gt_name!r} has no records", f"add some with `conddb gt set {gt_name} ...`"
    )


def _fetch(
    source: Engine | Connection | Session, stmt: Select[Any], params: dict[str, Any]
) -> list[Any]:
    """Run one lookup statement on ``source`` (an engine gets a connection of its own) and
    raise the right error when it found nothing."""
    if isinstance(source, Session):
        conn, owned = source.connection(), False
    elif isinstance(source, Engine):
        conn, owned = source.connect(), True
    else:
        conn, owned = source, False
    try:
        rows = list(conn.execute(stmt, params).all())
        if not rows:
            _explain_empty(conn, params["gt_name"], params["record"])
        return rows
    finally:
        if owned:
            conn.close()


def resolve(
    source: Engine | Connection | Session,
    global_tag: str,
    run: int,
    *,
    record: str | None = None,
    as_of: dt.datetime | None = None,
) -> Resolution:
    """Resolve every record (or one) of ``global_tag`` for ``run``, as of ``as_of`` if given."""
    check_run(run)
    as_of = times.as_utc(as_of, "as-of time")
    stmt = _resolve_statement(record is not None, as_of is not None)
    params = {"gt_name": global_tag, "run": run, "record": record, "as_of": as_of}
    rows = _fetch(source, stmt, params)
    _, records, uncovered = records_of(rows)
    frozen, deprecated = _state_of(source, global_tag, rows)
    if uncovered:
        raise explain_uncovered(source, global_tag, run, *min(uncovered), as_of=as_of)
    return Resolution(global_tag, run, as_of, frozen, records, deprecated)


def resolve_many(
    source: Engine | Connection | Session,
    global_tag: str,
    runs: Iterable[int],
    *,
    record: str | None = None,
    as_of: dt.datetime | None = None,
) -> dict[int, Resolution]:
    """Resolve many runs with one query: fetch the IOVs spanning [min(runs), max(runs)] once and
    assign each run by bisection.  Raises :class:`RunNotCovered` if any run is not covered."""
    wanted = sorted({check_run(r) for r in runs})
    if not wanted:
        return {}
    as_of = times.as_utc(as_of, "as-of time")
    stmt = _resolve_many_statement(record is not None, as_of is not None)
    params = {
        "gt_name": global_tag,
        "lo": wanted[0],
        "hi": wanted[-1],
        "record": record,
        "as_of": as_of,
    }
    try:
        rows = _fetch(source, stmt, params)
        state = _state_of(source, global_tag, rows)
        return _assign_runs(global_tag, wanted, as_of, rows, state)
    except RunNotCovered as exc:  # say why, from the tag's rows (one more query, on failure)
        assert exc.run is not None and exc.record is not None and exc.tag is not None
        raise explain_uncovered(
            source, global_tag, exc.run, exc.record, exc.tag, as_of=as_of
        ) from None


def _assign_runs(
    global_tag: str,
    wanted: list[int],
    as_of: dt.datetime | None,
    rows: Iterable[Any],
    state: tuple[bool, Deprecation | None],
) -> dict[int, Resolution]:
    """Assign each wanted run its IOV per record from the rows of the range query, by the rules
    of :mod:`conditions.iov` (the rows are already filtered by snapshot and ``as_of``)."""
    per_record: dict[str, list[iov.Row]] = {}
    about: dict[str, tuple[str, str]] = {}
    end_of: dict[str, int | None] = {}
    frozen, deprecated = state
    for _state, rec, tag, ptype, since, phash, inserted, nxt in rows:
        per_record.setdefault(rec, [])
        about[rec] = (tag, ptype)
        end_of[rec] = None if nxt is None else int(nxt)
        if since is not None:
            per_record[rec].append(iov.Row(int(since), phash, inserted))
    result: dict[int, dict[str, ResolvedIOV]] = {r: {} for r in wanted}
    for rec, found in per_record.items():
        intervals = iov.in_force(found, following=end_of[rec])
        sinces = [i.since for i in intervals]
        tag, ptype = about[rec]
        for run in wanted:
            hit = iov.locate(intervals, run, sinces)
            if hit is None:
                raise RunNotCovered.because(
                    RunNotCovered.BEFORE_FIRST, run=run, global_tag=global_tag, record=rec, tag=tag
                )
            result[run][rec] = ResolvedIOV(
                rec, tag, ptype, hit.payload_hash, hit.since, hit.until, hit.insertion_time
            )
    return {
        run: Resolution(global_tag, run, as_of, frozen, recs, deprecated)
        for run, recs in result.items()
    }


def _state_of(
    source: Engine | Connection | Session, global_tag: str, rows: Sequence[Any]
) -> tuple[bool, Deprecation | None]:
    """(immutable?, the deprecation of an invalid global tag) of a lookup's rows; an invalid one
    costs one more statement (its answers are immutable: the callers cache them)."""
    state = rows[0][0]
    deprecated = None
    if state == GlobalTagState.INVALID:
        if isinstance(source, Engine):
            with source.connect() as conn:
                deprecated = deprecation_of(conn, global_tag)
        else:
            deprecated = deprecation_of(source, global_tag)
    return state in IMMUTABLE_STATES, deprecated


def payload_data(conn: Connection, payload_hash: str) -> bytes:
    """The canonical bytes of a payload (one statement); :class:`PayloadNotFound` if none."""
    data = conn.scalar(select(Payload.data).where(Payload.hash == payload_hash))
    if data is None:
        raise PayloadNotFound(f"no payload with hash {payload_hash!r}", "check the hash")
    return bytes(data)


@dataclass(frozen=True)
class PayloadMeta:
    """The immutable description of a stored payload."""

    hash: str
    type_name: str
    schema_version: int
    size: int
    created_at: dt.datetime
    provenance: dict[str, Any]


def payload_meta(conn: Connection | Session, payload_hash: str) -> PayloadMeta:
    """Type, schema version, size, creation time and provenance of one payload."""
    found = payload_metas(conn, [payload_hash])
    if payload_hash not in found:
        raise PayloadNotFound(f"no payload with hash {payload_hash!r}", "check the hash")
    return found[payload_hash]


def payload_metas(conn: Connection | Session, hashes: Iterable[str]) -> dict[str, PayloadMeta]:
    """hash -> :class:`PayloadMeta` of the stored ones among ``hashes`` (500 per statement)."""
    wanted = sorted(set(hashes))
    out: dict[str, PayloadMeta] = {}
    for start in range(0, len(wanted), 500):
        stmt = select(
            Payload.hash,
            Payload.type_name,
            Payload.schema_version,
            Payload.size,
            Payload.created_at,
            Payload.provenance,
        ).where(Payload.hash.in_(wanted[start : start + 500]))
        for h, t, v, n, c, p in conn.execute(stmt):
            out[h] = PayloadMeta(h, t, int(v), int(n), c, p or {})
    return out
