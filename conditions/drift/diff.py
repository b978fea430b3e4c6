"""Global-tag diff: which records changed between two global tags, over which runs, by how much.

The run ranges come from :func:`conditions.iov.segments` over the IOVs in force of each side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session

from .. import iov, store
from ..errors import InvalidInput
from .quantities import QUANTITIES, Measurement, Quantity, quantities_for
from .series import RecordIOVs, SeriesSource, decode_quantities, read_iovs


# ------------------------------------------------------------------------------------------------
# Global-tag diff
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScalarChange:
    """A tracked scalar under global tag A and B; ``change`` relative (fraction) or absolute."""

    quantity: str
    value_a: float
    value_b: float
    change: float | None
    relative: bool


@dataclass(frozen=True)
class SegmentDiff:
    """A run range [first, last] (last None: open-ended) where A and B put different payloads
    in force (hash None: the range is not covered under that global tag)."""

    first: int
    last: int | None
    hash_a: str | None
    hash_b: str | None
    scalars: tuple[ScalarChange, ...]


RecordStatus = Literal["added", "removed", "changed", "retagged", "unchanged"]


@dataclass(frozen=True)
class RecordDiff:
    """One record of two global tags: its tags and the run ranges where the payloads differ.

    Status: ``added`` (only in B), ``removed`` (only in A), ``changed`` (different payloads in
    force somewhere in the compared runs), ``retagged`` (another tag, same payloads in force),
    ``unchanged``.
    """

    record: str
    tag_a: str | None
    tag_b: str | None
    type_a: str | None
    type_b: str | None
    segments: tuple[SegmentDiff, ...]

    @property
    def status(self) -> RecordStatus:
        if self.tag_a is None:
            return "added"
        if self.tag_b is None:
            return "removed"
        if self.segments:
            return "changed"
        return "retagged" if self.tag_a != self.tag_b else "unchanged"


@dataclass(frozen=True)
class GlobalTagDiff:
    """Record-by-record comparison of global tags ``a`` and ``b`` over ``runs`` (None: all)."""

    a: str
    b: str
    runs: tuple[int, int | None] | None
    records: tuple[RecordDiff, ...]

    def changed(self) -> list[RecordDiff]:
        return [r for r in self.records if r.status != "unchanged"]


def _intervals(rec: RecordIOVs | None) -> list[iov.Interval]:
    if rec is None:
        return []
    return [iov.Interval(p.since, p.until, p.payload_hash, p.insertion_time) for p in rec.iovs]


def gt_diff(
    s: Session,
    a: str,
    b: str,
    *,
    runs: int | tuple[int, int | None] | None = None,
    scalars: bool = True,
) -> GlobalTagDiff:
    """Which records changed between global tags ``a`` and ``b``, and by how much.

    Each record's tags are compared, then the payloads in force (snapshot times respected) over
    ``runs`` (a run, an inclusive range ``(first, last)`` with ``last`` None for open-ended, or
    None for every run).  For each run range where the payloads differ and both are typed
    payloads of the same type, the tracked scalars under A and B are given (``scalars=False``
    skips decoding).
    """
    if isinstance(runs, int):
        span: tuple[int, int | None] | None = (store.check_run(runs), runs)
    else:
        span = runs
    if span is not None:
        store.check_run(span[0])
        if span[1] is not None and store.check_run(span[1]) < span[0]:
            raise InvalidInput(f"empty run range {span[0]}-{span[1]}", "give FIRST <= LAST")
    lo, hi = span if span is not None else (0, None)
    left = {r.record or "": r for r in read_iovs(s, SeriesSource(global_tag=a))}
    right = {r.record or "": r for r in read_iovs(s, SeriesSource(global_tag=b))}
    cache: dict[str, dict[str, Measurement]] = {}

    def values(ptype: str, digest: str) -> dict[str, Measurement]:
        if digest not in cache:
            qs = quantities_for(ptype)
            cache[digest] = (
                decode_quantities(ptype, store.payload_bytes(s, digest), qs)[0] if qs else {}
            )
        return cache[digest]

    records: list[RecordDiff] = []
    for rec in sorted(set(left) | set(right)):
        ra, rb = left.get(rec), right.get(rec)
        columns = [_intervals(ra), _intervals(rb)]
        segs: list[SegmentDiff] = []
        for seg in iov.segments(columns, lo, hi):
            ha, hb = (None if k is None else str(k) for k in seg.keys)
            if ha == hb:
                continue
            first, last = seg.first, seg.last
            changes: tuple[ScalarChange, ...] = ()
            same_type = ra is not None and rb is not None and ra.payload_type == rb.payload_type
            if scalars and ha and hb and same_type and ra is not None:
                va, vb = values(ra.payload_type, ha), values(ra.payload_type, hb)
                changes = tuple(_scalar_change(QUANTITIES[n], va[n][0], vb[n][0]) for n in va)
            segs.append(SegmentDiff(first, last, ha, hb, changes))
        records.append(
            RecordDiff(
                rec,
                ra.tag if ra else None,
                rb.tag if rb else None,
                ra.payload_type if ra else None,
                rb.payload_type if rb else None,
                tuple(segs),
            )
        )
    return GlobalTagDiff(a, b, span, tuple(records))


def _scalar_change(q: Quantity, va: float, vb: float) -> ScalarChange:
    if q.relative:
        change = vb / va - 1.0 if va != 0 and math.isfinite(va) and math.isfinite(vb) else None
    else:
        change = vb - va
    return ScalarChange(q.name, va, vb, change, q.relative)
