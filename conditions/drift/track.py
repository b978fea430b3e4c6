"""Tracking: series + analysis + outliers, as used by ``conddb trend`` and the HTML report."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from .. import iov
from ..errors import InvalidInput
from .analysis import Analysis, ChannelOutliers, DriftConfig, Flag, analyse, channel_outliers
from .quantities import Quantity, quantities_for, quantity
from .series import (
    RecordIOVs,
    RunContext,
    Series,
    SeriesPoint,
    SeriesSource,
    extract_series,
    read_iovs,
    run_context,
)


# ------------------------------------------------------------------------------------------------
# Tracking: series + analysis + outliers, as used by `conddb trend` and the report
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Trend:
    """One series with its analysis."""

    series: Series
    analysis: Analysis

    @property
    def latest(self) -> SeriesPoint | None:
        return self.series.points[-1] if self.series.points else None


@dataclass(frozen=True)
class OutlierStep:
    """Per-channel outliers between LPMT payloads at points ``index - 1`` and ``index``."""

    record: str | None
    tag: str
    index: int
    since: int
    outliers: ChannelOutliers


@dataclass(frozen=True)
class TrackReport:
    """Everything `conddb trend` shows: trends, flags, LPMT channel outliers."""

    source: SeriesSource
    config: DriftConfig
    trends: tuple[Trend, ...]
    outliers: tuple[OutlierStep, ...]
    created_at: dt.datetime
    context: RunContext = field(default_factory=lambda: RunContext({}, {}))

    def flags(self) -> list[tuple[Trend, Flag]]:
        return [(t, f) for t in self.trends for f in t.analysis.flags]


def reference_index(points: Sequence[SeriesPoint], run: int | None) -> int:
    """Index of the point whose IOV covers ``run`` (None: the first point)."""
    if run is None or not points:
        return 0
    sinces = [p.since for p in points]
    k = iov.index_of(sinces, run)
    if k < 0:
        raise InvalidInput(
            f"reference run {run} lies before the first IOV (since {sinces[0]})",
            "choose a later reference run",
        )
    return k


def analyse_series(ser: Series, config: DriftConfig) -> Trend:
    """Run :func:`analyse` on a series with the configured thresholds and reference."""
    q = ser.quantity
    return Trend(
        ser,
        analyse(
            ser.values(),
            ser.errors(),
            relative=q.relative,
            thresholds=config.thresholds_for(q),
            n_sigma=config.n_sigma,
            reference=reference_index(ser.points, config.reference_run),
            method=config.method,
        ),
    )


def plan(
    s: Session,
    source: SeriesSource | str,
    quantity_names: Sequence[str] = (),
    *,
    as_of: dt.datetime | None = None,
) -> list[tuple[RecordIOVs, list[Quantity]]]:
    """Which records to read and which quantities of each (all tracked ones by default; with
    names, only the records holding those quantities).  Untracked records are skipped."""
    if isinstance(source, str):
        source = SeriesSource(tag=source)
    records = read_iovs(s, source, as_of=as_of)
    wanted = [quantity(n) for n in quantity_names]
    out: list[tuple[RecordIOVs, list[Quantity]]] = []
    for rec in records:
        qs = [q for q in wanted if q.payload_type == rec.payload_type] if wanted else (
            quantities_for(rec.payload_type)
        )
        if qs and rec.iovs:
            out.append((rec, qs))
    missing = [q.name for q in wanted if not any(q in qs for _, qs in out)]
    if missing or not out:
        types = ", ".join(sorted({r.payload_type for r in records})) or "none"
        raise InvalidInput(
            f"nothing to track for {', '.join(missing) or 'the tracked quantities'} in "
            f"{source.describe()} (payload types with IOVs: {types})",
            "check --quantity against the record types, or append IOVs first",
        )
    return out


def track(
    s: Session,
    source: SeriesSource | str,
    quantity_names: Sequence[str] = (),
    config: DriftConfig | None = None,
    *,
    as_of: dt.datetime | None = None,
    progress: Callable[[int], None] | None = None,
    planned: list[tuple[RecordIOVs, list[Quantity]]] | None = None,
) -> TrackReport:
    """Series, drift flags and LPMT channel outliers of a tag or global tag.

    ``planned`` (from :func:`plan`) lets a caller size a progress bar first; ``progress(1)`` is
    called once per IOV decoded.
    """
    config = config or DriftConfig()
    if isinstance(source, str):
        source = SeriesSource(tag=source)
    todo = planned if planned is not None else plan(s, source, quantity_names, as_of=as_of)
    trends: list[Trend] = []
    outliers: list[OutlierStep] = []
    for rec, qs in todo:
        rs = extract_series(s, rec, qs, progress=progress)
        trends.extend(analyse_series(ser, config) for ser in rs.series)
        if rs.channels is not None:
            for i in range(1, len(rs.channels)):
                if rec.iovs[i].payload_hash == rec.iovs[i - 1].payload_hash:
                    continue
                found = channel_outliers(
                    rs.channels[i - 1],
                    rs.channels[i],
                    n_sigma=config.outlier_sigma,
                    min_change=config.outlier_min_change,
                )
                outliers.append(OutlierStep(rec.record, rec.tag, i, rec.iovs[i].since, found))
    sinces = [p.since for t in trends for p in t.series.points]
    return TrackReport(
        source,
        config,
        tuple(trends),
        tuple(outliers),
        dt.datetime.now(dt.UTC),
        run_context(s, sinces),
    )
