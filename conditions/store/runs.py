"""The run registry (optional per run): start/end time and run type, for lookups by time; the
prompt-processing record (processed runs, the FCSR) and tag synchronisation (issue 18)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..db.model import ProcessedRun, Run, SyncState, Tag, TagSync
from ..errors import AlreadyExists, Conflict, InvalidInput, RunNotFound
from .common import check_name, check_run, db_now


# --- run registry --------------------------------------------------------------------------------
def register_run(
    s: Session,
    run: int,
    *,
    start_time: dt.datetime | None = None,
    end_time: dt.datetime | None = None,
    run_type: str = "physics",
) -> Run:
    """Add a run to the registry (an existing run with the same values is a no-op)."""
    check_run(run)
    check_name("run type", run_type)
    if start_time and end_time and end_time < start_time:
        raise InvalidInput(f"run {run} ends before it starts", "check the start and end times")
    existing = s.get(Run, run)
    if existing is not None:
        if (existing.start_time, existing.end_time, existing.run_type) == (
            start_time,
            end_time,
            run_type,
        ):
            return existing
        raise AlreadyExists(f"run {run} is registered with other values", "runs are immutable")
    row = Run(run=run, start_time=start_time, end_time=end_time, run_type=run_type)
    s.add(row)
    s.flush()
    return row


def run_at(s: Session, when: dt.datetime) -> int:
    """The run that was taking data at ``when`` (from the run registry)."""
    run = s.scalar(
        select(Run.run).where(Run.start_time <= when).order_by(Run.start_time.desc()).limit(1)
    )
    row = s.get(Run, run) if run is not None else None
    if row is None or (row.end_time is not None and row.end_time < when):
        raise RunNotFound(
            f"no registered run was taking data at {when.isoformat()}",
            "register runs with `conddb run add` or look up by run number",
        )
    return row.run



# --- prompt processing and synchronisation ------------------------------------------------------
def fcsr(s: Session, *, for_share: bool = False) -> int:
    """The first condition-safe run: one past the newest run prompt reconstruction processed.

    ``for_share``: lock the FCSR row (PostgreSQL ``FOR SHARE``) until the transaction ends, so a
    concurrent ``mark_processed`` waits for this transaction (and this one saw the latest)."""
    stmt = select(SyncState.fcsr).where(SyncState.id == 1)
    if for_share:
        stmt = stmt.with_for_update(read=True)
    value = s.scalar(stmt)
    return int(value or 0)


def next_run(s: Session) -> int:
    """The next run to be taken: one past the newest registered run (0 for an empty registry)."""
    newest = s.scalar(select(func.max(Run.run)))
    return 0 if newest is None else int(newest) + 1


def mark_processed(s: Session, run: int, who: str) -> tuple[ProcessedRun, int]:
    """Record that prompt reconstruction used the conditions of ``run``; returns (row, FCSR).

    The FCSR (``sync_state``) is raised by the database trigger of migration 0006, which also
    takes the row lock that serialises this with prompt appends.  Marking a run twice is a no-op.
    """
    check_run(run)
    check_name("who", who)
    existing = s.get(ProcessedRun, run)
    if existing is not None:
        return existing, fcsr(s)
    row = ProcessedRun(run=run, processed_at=db_now(s), who=who)
    s.add(row)
    s.flush()
    s.expire_all()
    return row, fcsr(s)


def processed_runs(s: Session, limit: int = 20) -> list[ProcessedRun]:
    """The newest processed runs, newest first."""
    stmt = select(ProcessedRun).order_by(ProcessedRun.run.desc()).limit(limit)
    return list(s.scalars(stmt))


def set_tag_sync(s: Session, tag_name: str, sync: TagSync) -> Tag:
    """Set the synchronisation of an open tag (``offline`` / ``prompt`` / ``express``)."""
    from .tags import get_tag  # tags imports this module (check_sync)

    tag = get_tag(s, tag_name, for_update=True)
    if tag.state.value == "locked":
        raise Conflict(f"tag {tag_name!r} is locked", "locked tags never change")
    tag.synchronization = sync
    s.flush()
    return tag


def check_sync(s: Session, tag: Tag, sinces: Iterable[int]) -> None:
    """Refuse an append to a prompt / express tag below its first safe run (one line).

    Called by the append use case before it inserts; the IOV guard enforces the same rule for
    every writer (and is the race-free part: it reads the FCSR ``FOR SHARE``).  The guard is a
    row trigger on SQLite and, since migration 0007, one statement-level
    trigger over the inserted rows on PostgreSQL.
    """
    if tag.synchronization is TagSync.OFFLINE:
        return
    sinces = list(sinces)
    if not sinces:
        return
    safe = fcsr(s, for_share=True)
    what = "FCSR"
    if tag.synchronization is TagSync.EXPRESS and next_run(s) > safe:
        safe, what = next_run(s), "next run to be taken"
    low = min(sinces)
    if low < safe:
        raise Conflict(
            f"{tag.synchronization.value} tag {tag.name!r}: since {low} is below the {what} "
            f"{safe} (runs before it were already processed with the current conditions)",
            f"append with since >= {safe}, or use an offline tag",
        )


def run_start_times(s: Session, runs: Iterable[int]) -> dict[int, dt.datetime]:
    """Start time (UTC) of each of ``runs`` that the run registry knows with a start time."""
    wanted = sorted(set(runs))
    if not wanted:
        return {}
    rows = s.execute(
        select(Run.run, Run.start_time).where(Run.run.in_(wanted), Run.start_time.is_not(None))
    )
    return {int(r): t for r, t in rows if t is not None}
