"""Series of tracked quantities read from the database, through the repository and the IOV rules.

The IOVs in force come from :func:`conditions.store.list_iovs` (whose rules are
:mod:`conditions.iov`); a global tag's snapshot time and ``as_of`` combine by
:func:`conditions.iov.visible_until`, as in :func:`conditions.resolve.resolve`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from .. import iov, store
from ..errors import InvalidInput, RecordNotFound
from ..payloads import PAYLOAD_TYPES, LpmtNonlinearityV1, decode_payload, upgrade
from ..store.reader import payload_metas
from .quantities import (
    QUANTITIES,
    ChannelCorrections,
    Measurement,
    Quantity,
    channel_corrections,
    extract,
    quantities_for,
    quantity,
)


# ------------------------------------------------------------------------------------------------
# Reading series from the database
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SeriesSource:
    """Where a series comes from: a tag, or one record of a global tag."""

    tag: str | None = None
    global_tag: str | None = None
    record: str | None = None

    def __post_init__(self) -> None:
        if (self.tag is None) == (self.global_tag is None):
            raise InvalidInput("give a tag or a global tag", "e.g. --tag NAME or --gt NAME")
        if self.tag is not None and self.record is not None:
            raise InvalidInput("a record belongs to a global tag", "give --gt with --record")

    def describe(self) -> str:
        if self.tag is not None:
            return f"tag {self.tag}"
        return f"global tag {self.global_tag}" + (f" record {self.record}" if self.record else "")


@dataclass(frozen=True)
class IOVPoint:
    """One IOV in force: bounds (inclusive runs, ``until`` None = open-ended) and its payload."""

    since: int
    until: int | None
    payload_hash: str
    insertion_time: dt.datetime
    created_at: dt.datetime
    provenance: Mapping[str, str]


@dataclass(frozen=True)
class RecordIOVs:
    """The IOVs in force of one tag (reached directly or through a global-tag record)."""

    record: str | None
    tag: str
    payload_type: str
    iovs: tuple[IOVPoint, ...]


def summarise_provenance(provenance: Mapping[str, Any], max_len: int = 80) -> dict[str, str]:
    """A short, flat, printable summary of a payload's provenance: scalars as text (cut at
    ``max_len`` characters), lists and objects as counts ("3 items")."""
    out: dict[str, str] = {}
    for key in sorted(provenance):
        value = provenance[key]
        if isinstance(value, list | tuple):
            text = f"{len(value)} items"
        elif isinstance(value, dict):
            text = f"{len(value)} entries"
        else:
            text = str(value)
        out[str(key)] = text if len(text) <= max_len else text[: max_len - 3] + "..."
    return out


def _record_iovs(
    s: Session, record: str | None, tag: Any, as_of: dt.datetime | None
) -> RecordIOVs:
    rows = store.list_iovs(s, tag.name, as_of=as_of)
    meta = payload_metas(s, (r.payload_hash for r in rows))
    points = tuple(
        IOVPoint(
            r.since,
            r.until,
            r.payload_hash,
            r.insertion_time,
            meta[r.payload_hash].created_at,
            summarise_provenance(meta[r.payload_hash].provenance),
        )
        for r in rows
    )
    return RecordIOVs(record, tag.name, tag.type_name, points)


def read_iovs(
    s: Session, source: SeriesSource | str, *, as_of: dt.datetime | None = None
) -> list[RecordIOVs]:
    """The IOVs in force, in run order, of a tag or of the records of a global tag.

    A global tag gives every record (or the one named in ``source.record``); its snapshot time,
    if any, hides IOVs inserted later (the same semantics as :func:`conditions.resolve.resolve`).
    ``as_of`` replays the database as it was then.  A plain string is a tag name.
    """
    if isinstance(source, str):
        source = SeriesSource(tag=source)
    if source.tag is not None:
        return [_record_iovs(s, None, store.get_tag(s, source.tag), as_of)]
    assert source.global_tag is not None
    gt = store.get_global_tag(s, source.global_tag)
    frozen = gt.state.value == "published"
    mapping = store.global_tag_map(s, gt, as_of=None if frozen else as_of)
    if source.record is not None:
        if source.record not in mapping:
            raise RecordNotFound(
                f"global tag {gt.name!r} has no record {source.record!r}",
                f"records: {', '.join(sorted(mapping)) or 'none'}",
            )
        mapping = {source.record: mapping[source.record]}
    when = iov.visible_until(as_of, gt.snapshot_time)
    return [_record_iovs(s, rec, tag, when) for rec, tag in sorted(mapping.items())]


@dataclass(frozen=True)
class SeriesPoint:
    """One point of a series: the IOV bounds, the value and its 1 sigma (None: not recorded)."""

    since: int
    until: int | None
    value: float
    error: float | None
    payload_hash: str
    insertion_time: dt.datetime
    created_at: dt.datetime
    provenance: Mapping[str, str]


@dataclass(frozen=True)
class Series:
    """A tracked quantity across the IOVs of one tag (maybe reached through a global tag)."""

    quantity: Quantity
    tag: str
    record: str | None
    points: tuple[SeriesPoint, ...]

    @property
    def key(self) -> str:
        """``record/quantity`` (or ``tag/quantity``): unique within one report."""
        return f"{self.record or self.tag}/{self.quantity.name}"

    def values(self) -> list[float]:
        return [p.value for p in self.points]

    def errors(self) -> list[float | None]:
        return [p.error for p in self.points]


@dataclass
class _Decoded:
    values: dict[str, Measurement]
    channels: ChannelCorrections | None


def decode_quantities(
    payload_type: str, data: bytes, quantities: Sequence[Quantity]
) -> tuple[dict[str, Measurement], ChannelCorrections | None]:
    """Decode a payload once and extract the given quantities (+ the LPMT channel summary)."""
    model = upgrade(decode_payload(payload_type, data))
    values = {q.name: extract(q, model) for q in quantities}
    channels = channel_corrections(model) if isinstance(model, LpmtNonlinearityV1) else None
    return values, channels


@dataclass(frozen=True)
class RecordSeries:
    """All tracked series of one record/tag plus, for LPMT curves, the per-channel summaries."""

    iovs: RecordIOVs
    series: tuple[Series, ...]
    channels: tuple[ChannelCorrections, ...] | None


def extract_series(
    s: Session,
    iovs: RecordIOVs,
    quantities: Sequence[Quantity] | None = None,
    *,
    progress: Callable[[int], None] | None = None,
) -> RecordSeries:
    """Decode each distinct payload of ``iovs`` once and build the series of ``quantities``
    (default: every quantity of the payload type).  ``progress(1)`` is called per IOV."""
    if quantities is None:
        quantities = quantities_for(iovs.payload_type)
    wrong = [q.name for q in quantities if q.payload_type != iovs.payload_type]
    if wrong:
        raise InvalidInput(
            f"{', '.join(wrong)} not tracked for payload type {iovs.payload_type!r}",
            f"quantities of {iovs.payload_type}: "
            + (", ".join(q.name for q in quantities_for(iovs.payload_type)) or "none"),
        )
    if iovs.payload_type not in PAYLOAD_TYPES or not quantities:
        raise InvalidInput(
            f"no tracked quantity for payload type {iovs.payload_type!r} (tag {iovs.tag})",
            f"tracked types: {', '.join(sorted({q.payload_type for q in QUANTITIES.values()}))}",
        )
    cache: dict[str, _Decoded] = {}
    decoded: list[_Decoded] = []
    pairwise = [q for q in quantities if q.versus_previous is not None]
    models: dict[str, Any] = {}  # decoded models, only for quantities versus the previous IOV
    for point in iovs.iovs:
        got = cache.get(point.payload_hash)
        if got is None:
            data = store.payload_bytes(s, point.payload_hash)
            got = _Decoded(*decode_quantities(iovs.payload_type, data, quantities))
            cache[point.payload_hash] = got
            if pairwise:
                models[point.payload_hash] = decode_payload(iovs.payload_type, data)
        decoded.append(got)
        if progress is not None:
            progress(1)
    for i in range(1, len(decoded)) if pairwise else ():
        now, before = (models[iovs.iovs[k].payload_hash] for k in (i, i - 1))
        decoded[i] = _Decoded(decoded[i].values | {q.name: extract(q, now, before)
                                                   for q in pairwise}, decoded[i].channels)
    series = tuple(
        Series(
            q,
            iovs.tag,
            iovs.record,
            tuple(
                SeriesPoint(
                    p.since,
                    p.until,
                    d.values[q.name][0],
                    d.values[q.name][1],
                    p.payload_hash,
                    p.insertion_time,
                    p.created_at,
                    p.provenance,
                )
                for p, d in zip(iovs.iovs, decoded, strict=True)
            ),
        )
        for q in quantities
    )
    channels = (
        tuple(d.channels for d in decoded if d.channels is not None)
        if iovs.payload_type == LpmtNonlinearityV1.TYPE_NAME
        else None
    )
    return RecordSeries(iovs, series, channels)


@dataclass(frozen=True)
class RunContext:
    """What the report shows beside run numbers: a date and a campaign name per ``since``.

    ``dates``: start time of the run from the run registry, else the ``start_time`` of the
    campaign whose first run it is (UTC).  ``campaigns``: the campaign whose first run it is.
    """

    dates: Mapping[int, dt.datetime]
    campaigns: Mapping[int, str]


def _utc(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, str):
        try:
            return _utc(dt.datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def run_context(s: Session, sinces: Sequence[int]) -> RunContext:
    """Dates and campaign names of the runs ``sinces`` (see :class:`RunContext`)."""
    wanted = set(sinces)
    campaigns = {c.first_run: c for c in store.list_campaigns(s) if c.first_run in wanted}
    dates: dict[int, dt.datetime] = {}
    for run, c in campaigns.items():
        when = _utc(c.info.get("start_time"))
        if when is not None:
            dates[run] = when
    dates.update(store.run_start_times(s, wanted))
    return RunContext(dates, {run: c.name for run, c in campaigns.items()})


def _only_record_of_type(records: list[RecordIOVs], q: Quantity, where: str) -> RecordIOVs:
    matching = [r for r in records if r.payload_type == q.payload_type]
    if len(matching) != 1:
        found = ", ".join(str(r.record) for r in matching) or "none"
        raise RecordNotFound(
            f"{where} has {len(matching)} records of type {q.payload_type} ({found})",
            "name the record with --record" if matching else "track another quantity",
        )
    return matching[0]


def series(
    s: Session,
    source: SeriesSource | str,
    quantity_name: str,
    *,
    as_of: dt.datetime | None = None,
) -> Series:
    """The series of one quantity for a tag (``source`` a tag name) or for a record of a global
    tag (``SeriesSource(global_tag=..., record=...)``; without a record, the only record of the
    quantity's payload type), points in run order."""
    q = quantity(quantity_name)
    if isinstance(source, str):
        source = SeriesSource(tag=source)
    records = read_iovs(s, source, as_of=as_of)
    chosen = _only_record_of_type(records, q, source.describe())
    return extract_series(s, chosen, [q]).series[0]
