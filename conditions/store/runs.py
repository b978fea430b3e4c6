"""The run registry (optional per run): start/end time and run type, for lookups by time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.model import Run
from ..errors import AlreadyExists, InvalidInput, RunNotFound
from .common import check_name, check_run


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



def run_start_times(s: Session, runs: Iterable[int]) -> dict[int, dt.datetime]:
    """Start time (UTC) of each of ``runs`` that the run registry knows with a start time."""
    wanted = sorted(set(runs))
    if not wanted:
        return {}
    rows = s.execute(
        select(Run.run, Run.start_time).where(Run.run.in_(wanted), Run.start_time.is_not(None))
    )
    return {int(r): t for r, t in rows if t is not None}
