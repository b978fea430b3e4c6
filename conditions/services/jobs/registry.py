"""The job registry: ``@job(record, needs=..., uses=...)`` and the run order derived from it.

A job produces the payload of one record from a campaign.  ``needs`` are records it cannot run
without (it is skipped when one of them was not produced); ``uses`` are records it uses when
present (they only order the jobs).  The run order is a topological sort of both, ties broken
by registration order, so adding a job is writing one module with one decorator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

JobFn = Callable[[Any], Any]


@dataclass(frozen=True)
class JobSpec:
    """A registered job: its record, required and optional inputs, and its function."""

    record: str
    needs: tuple[str, ...]
    uses: tuple[str, ...]
    run: JobFn


#: record -> job, in registration order.
JOBS: dict[str, JobSpec] = {}


def job(record: str, needs: tuple[str, ...] = (), uses: tuple[str, ...] = ()) -> Callable[
    [JobFn], JobFn
]:
    """Register the decorated function as the job producing ``record``."""

    def register(fn: JobFn) -> JobFn:
        if record in JOBS:
            raise ValueError(f"job {record!r} registered twice")
        JOBS[record] = JobSpec(record, tuple(needs), tuple(uses), fn)
        return fn

    return register


def run_order(jobs: dict[str, JobSpec] | None = None) -> list[str]:
    """Records in an order where every job comes after its ``needs`` and ``uses``.

    Raises ``ValueError`` for an unknown dependency or a cycle.
    """
    table = JOBS if jobs is None else jobs
    for spec in table.values():
        unknown = [d for d in (*spec.needs, *spec.uses) if d not in table]
        if unknown:
            raise ValueError(f"job {spec.record!r} depends on unknown job(s) {unknown}")
    order: list[str] = []
    done: set[str] = set()
    while len(order) < len(table):
        ready = [r for r, s in table.items()
                 if r not in done and set(s.needs) | set(s.uses) <= done]
        if not ready:
            raise ValueError(f"dependency cycle among {sorted(set(table) - done)}")
        order.append(ready[0])
        done.add(ready[0])
    return order


def closure(wanted: set[str], jobs: dict[str, JobSpec] | None = None) -> set[str]:
    """``wanted`` plus every job they need or use, transitively."""
    table = JOBS if jobs is None else jobs
    out: set[str] = set()
    todo = list(wanted)
    while todo:
        r = todo.pop()
        if r in out:
            continue
        out.add(r)
        todo.extend((*table[r].needs, *table[r].uses))
    return out
