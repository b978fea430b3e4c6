"""Why a run is not covered: the one diagnosis behind every :class:`RunNotCovered`.

The lookup SQL (:mod:`.reader`) finds that a record has no IOV in force for a run; this module
then looks at the tag's rows without the time filters to tell the three cases apart (an empty
tag, a run before the first IOV, IOVs hidden by the snapshot / ``--at`` time), so that the error
says the truth and the right fix (``gt clone`` for a snapshot).
"""

from __future__ import annotations

import datetime as dt
import functools

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from .. import times
from ..db.model import IOV, GlobalTag, Tag
from ..errors import RunNotCovered


def explain_uncovered(
    source: Engine | Connection | Session,
    global_tag: str,
    run: int,
    record: str,
    tag: str,
    as_of: dt.datetime | None = None,
) -> RunNotCovered:
    """The :class:`RunNotCovered` for ``run`` in ``record`` (tag ``tag``) of ``global_tag``."""
    if isinstance(source, Engine):
        with source.connect() as conn:
            return _explain(conn, global_tag, run, record, tag, as_of)
    conn = source.connection() if isinstance(source, Session) else source
    return _explain(conn, global_tag, run, record, tag, as_of)


def _explain(
    conn: Connection,
    global_tag: str,
    run: int,
    record: str,
    tag: str,
    as_of: dt.datetime | None,
) -> RunNotCovered:
    tag_id = select(Tag.id).where(Tag.name == tag).scalar_subquery()
    first_since, count = conn.execute(
        select(func.min(IOV.since), func.count(IOV.id)).where(IOV.tag_id == tag_id)
    ).one()
    because = functools.partial(
        RunNotCovered.because, run=run, global_tag=global_tag, record=record, tag=tag
    )
    if not count:
        return because(RunNotCovered.EMPTY_TAG)
    earliest = conn.scalar(
        select(func.min(IOV.insertion_time)).where(IOV.tag_id == tag_id, IOV.since <= run)
    )
    if earliest is None:
        return because(RunNotCovered.BEFORE_FIRST, first_since=int(first_since))
    snapshot = conn.scalar(select(GlobalTag.snapshot_time).where(GlobalTag.name == global_tag))
    earliest = times.as_utc(earliest, "insertion time")
    snapshot = times.as_utc(snapshot, "snapshot time") if snapshot is not None else None
    hidden_by_snapshot = snapshot is not None and (as_of is None or snapshot <= as_of)
    cutoff = snapshot if hidden_by_snapshot else as_of
    return because(
        RunNotCovered.AFTER_SNAPSHOT,
        cutoff=times.format_utc(cutoff),
        cutoff_is_snapshot=hidden_by_snapshot,
    )
