"""The queries of export and import (:mod:`conditions.services.transfer`): the rows of every
exported table as plain values keyed by column name, and the reads and raw inserts an import
needs.  The checks (names, hashes, states, conflicts) are the importer's; this module stores.

Rows refer to each other by name (tag, global tag, campaign) or payload hash, never by surrogate
id: :func:`export_rows` replaces every id by the name it points at, and the import functions take
names or the ids they returned themselves.  Import writes with Core statements in the caller's
transaction (the database triggers still hold); a locked tag and a published or invalid global
tag are written open, filled, then moved to their final state with their original times.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, inspect, select, update
from sqlalchemy.orm import Session

from ..db.model import (
    IOV,
    Campaign,
    CampaignPayload,
    DriftAck,
    GlobalTag,
    GlobalTagApproval,
    GlobalTagMap,
    GlobalTagState,
    Payload,
    PayloadType,
    ProcessedRun,
    Run,
    Tag,
    TagState,
    ValidationReport,
)
from .global_tags import get_global_tag


# --- export ---------------------------------------------------------------------------------------
@dataclass
class Selection:
    """Surrogate ids of the rows to export (None: every row of the table)."""

    tag_ids: set[int] | None = None
    gt_ids: set[int] | None = None
    campaign_ids: set[int] | None = None
    payload_hashes: set[str] | None = None

    @property
    def whole(self) -> bool:
        return self.tag_ids is None


def select_global_tag(s: Session, name: str) -> Selection:
    """One global tag's closure: map history -> tags -> IOV payloads; campaigns linking to those
    tags bring their other tags too (to a fixed point), so every campaign record stays whole."""
    gt = get_global_tag(s, name)
    tag_ids = set(s.scalars(select(GlobalTagMap.tag_id).where(GlobalTagMap.global_tag_id == gt.id)))
    campaign_ids: set[int] = set()
    while True:
        found = set(
            s.scalars(
                select(CampaignPayload.campaign_id).where(CampaignPayload.tag_id.in_(tag_ids))
            )
        )
        more_tags = set(
            s.scalars(select(CampaignPayload.tag_id).where(CampaignPayload.campaign_id.in_(found)))
        )
        if found <= campaign_ids and more_tags <= tag_ids:
            break
        campaign_ids |= found
        tag_ids |= more_tags
    hashes = set(s.scalars(select(IOV.payload_hash).where(IOV.tag_id.in_(tag_ids))))
    hashes |= set(
        s.scalars(
            select(CampaignPayload.payload_hash).where(
                CampaignPayload.campaign_id.in_(campaign_ids)
            )
        )
    )
    return Selection(tag_ids, {gt.id}, campaign_ids, hashes)


def _in(column: Any, ids: set[Any] | None) -> list[Any]:
    """WHERE clause list restricting ``column`` to ``ids`` (nothing when ids is None)."""
    return [] if ids is None else [column.in_(sorted(ids))]


def _values(obj: Any, **references: Any) -> dict[str, Any]:
    """Every column of an ORM row by attribute name, plus the names it refers to."""
    return {**{a.key: getattr(obj, a.key) for a in inspect(obj).mapper.column_attrs}, **references}


class ExportRows:
    """The selected rows of each table, in a canonical order (names, never ids, decide it):
    column values by attribute name, references to other rows by their names."""

    TABLES = ("payload_type", "payload", "tag", "iov", "global_tag", "global_tag_map",
              "validation_report", "global_tag_approval", "drift_ack", "run", "processed_run",
              "campaign", "campaign_payload")

    def __init__(self, s: Session, sel: Selection) -> None:
        self.s = s
        self.sel = sel
        self.tag_names = dict(s.execute(select(Tag.id, Tag.name)).tuples().all())
        self.gt_names = dict(s.execute(select(GlobalTag.id, GlobalTag.name)).tuples().all())

    def of(self, table: str) -> Iterator[dict[str, Any]]:
        if table not in self.TABLES:
            raise KeyError(table)
        rows: Iterator[dict[str, Any]] = getattr(self, table)()
        return rows

    def payload_type(self) -> Iterator[dict[str, Any]]:
        s, sel = self.s, self.sel
        types = None
        if sel.tag_ids is not None:
            assert sel.payload_hashes is not None
            types = set(s.scalars(select(Tag.type_name).where(Tag.id.in_(sel.tag_ids))))
            types |= set(
                s.scalars(select(Payload.type_name).where(Payload.hash.in_(sel.payload_hashes)))
            )
        stmt = select(PayloadType).where(*_in(PayloadType.name, types))
        for pt in s.scalars(stmt.order_by(PayloadType.name)):
            yield _values(pt)

    def payload(self) -> Iterator[dict[str, Any]]:
        stmt = select(Payload).where(*_in(Payload.hash, self.sel.payload_hashes))
        for p in self.s.scalars(stmt.order_by(Payload.hash)):
            yield _values(p, type=p.type_name)

    def tag(self) -> Iterator[dict[str, Any]]:
        stmt = select(Tag).where(*_in(Tag.id, self.sel.tag_ids)).order_by(Tag.name)
        for t in self.s.scalars(stmt):
            yield _values(t, type=t.type_name)

    def iov(self) -> Iterator[dict[str, Any]]:
        stmt = select(IOV.tag_id, IOV.since, IOV.insertion_time, IOV.payload_hash).where(
            *_in(IOV.tag_id, self.sel.tag_ids)
        )
        stmt = stmt.join(Tag, Tag.id == IOV.tag_id).order_by(Tag.name, IOV.id)  # canonical
        for tag_id, since, inserted, h in self.s.execute(stmt):
            yield {"tag": self.tag_names[tag_id], "since": since, "insertion_time": inserted,
                   "payload_hash": h}

    def global_tag(self) -> Iterator[dict[str, Any]]:
        stmt = select(GlobalTag).where(*_in(GlobalTag.id, self.sel.gt_ids))
        for g in self.s.scalars(stmt.order_by(GlobalTag.name)):
            yield _values(g)

    def global_tag_map(self) -> Iterator[dict[str, Any]]:
        stmt = select(GlobalTagMap).where(*_in(GlobalTagMap.global_tag_id, self.sel.gt_ids))
        stmt = stmt.join(GlobalTag, GlobalTag.id == GlobalTagMap.global_tag_id)
        for m in self.s.scalars(stmt.order_by(GlobalTag.name, GlobalTagMap.id)):
            gt, tag = self.gt_names[m.global_tag_id], self.tag_names[m.tag_id]
            yield _values(m, global_tag=gt, tag=tag)

    def _of_global_tags(self, model: Any, time_column: Any) -> Iterator[dict[str, Any]]:
        """Rows of a child table of global tags (by id), by global tag name then id."""
        stmt = select(model).where(*_in(model.global_tag_id, self.sel.gt_ids))
        stmt = stmt.join(GlobalTag, GlobalTag.id == model.global_tag_id)
        for r in self.s.scalars(stmt.order_by(GlobalTag.name, time_column, model.id)):
            yield _values(r, global_tag=self.gt_names[r.global_tag_id])

    def validation_report(self) -> Iterator[dict[str, Any]]:
        return self._of_global_tags(ValidationReport, ValidationReport.created_at)

    def global_tag_approval(self) -> Iterator[dict[str, Any]]:
        return self._of_global_tags(GlobalTagApproval, GlobalTagApproval.approved_at)

    def drift_ack(self) -> Iterator[dict[str, Any]]:
        names = None if self.sel.gt_ids is None else {self.gt_names[i] for i in self.sel.gt_ids}
        stmt = select(DriftAck).where(*_in(DriftAck.global_tag, names))
        for a in self.s.scalars(stmt.order_by(DriftAck.global_tag, DriftAck.flag)):
            yield _values(a)

    def run(self) -> Iterator[dict[str, Any]]:
        if self.sel.whole:  # the run registry belongs to whole-database exports only
            for r in self.s.scalars(select(Run).order_by(Run.run)):
                yield _values(r)

    def processed_run(self) -> Iterator[dict[str, Any]]:
        if self.sel.whole:  # prompt processing (the FCSR) too
            for r in self.s.scalars(select(ProcessedRun).order_by(ProcessedRun.run)):
                yield _values(r)

    def campaign(self) -> Iterator[dict[str, Any]]:
        stmt = select(Campaign).where(*_in(Campaign.id, self.sel.campaign_ids))
        for c in self.s.scalars(stmt.order_by(Campaign.name)):
            yield _values(c)

    def campaign_payload(self) -> Iterator[dict[str, Any]]:
        names = dict(self.s.execute(select(Campaign.id, Campaign.name)).tuples().all())
        stmt = select(CampaignPayload).where(
            *_in(CampaignPayload.campaign_id, self.sel.campaign_ids)
        )
        stmt = stmt.join(Campaign, Campaign.id == CampaignPayload.campaign_id)
        for link in self.s.scalars(stmt.order_by(Campaign.name, CampaignPayload.record)):
            yield _values(link, campaign=names[link.campaign_id], tag=self.tag_names[link.tag_id])


def export_rows(s: Session, sel: Selection) -> ExportRows:
    """The selected rows of every table: ``export_rows(s, sel).of("tag")`` (lazy, per table)."""
    return ExportRows(s, sel)


def payload_data(s: Session, payload_hash: str) -> bytes:
    data = s.scalar(select(Payload.data).where(Payload.hash == payload_hash))
    assert data is not None
    return bytes(data)


# --- import: reads ------------------------------------------------------------------------------
def payload_type_exists(s: Session, name: str) -> bool:
    return s.get(PayloadType, name) is not None


def stored_payload_type(s: Session, payload_hash: str) -> str | None:
    return s.scalar(select(Payload.type_name).where(Payload.hash == payload_hash))


def stored_payload(s: Session, payload_hash: str) -> tuple[str, bytes] | None:
    """(type, bytes) of a stored payload, or None."""
    row = s.execute(select(Payload.type_name, Payload.data).where(Payload.hash == payload_hash))
    found = row.first()
    return None if found is None else (found[0], bytes(found[1]))


def tag_by_name(s: Session, name: str) -> Tag | None:
    return s.scalar(select(Tag).where(Tag.name == name))


def iov_rows_of(s: Session, tag_id: int) -> list[tuple[int, dt.datetime, str]]:
    """(since, insertion time, payload hash) of every IOV row of a tag, in insertion order."""
    stmt = select(IOV.since, IOV.insertion_time, IOV.payload_hash).where(IOV.tag_id == tag_id)
    return [(since, t, h) for since, t, h in s.execute(stmt.order_by(IOV.id))]


def global_tag_by_name(s: Session, name: str) -> GlobalTag | None:
    return s.scalar(select(GlobalTag).where(GlobalTag.name == name))


def map_history(s: Session, gt_id: int) -> list[tuple[str, int, dt.datetime]]:
    """(record, tag id, insertion time) of every map row of a global tag, in insertion order."""
    stmt = select(GlobalTagMap.record, GlobalTagMap.tag_id, GlobalTagMap.insertion_time).where(
        GlobalTagMap.global_tag_id == gt_id
    )
    return [tuple(r) for r in s.execute(stmt.order_by(GlobalTagMap.id))]


def lifecycle_rows(s: Session, gt_id: int, gt_name: str) -> dict[str, list[tuple[Any, ...]]]:
    """The validation reports, approvals and drift acks of a global tag, as comparable tuples
    (the columns the export file holds, see :data:`LIFECYCLE_COLUMNS`)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table, (model, columns) in LIFECYCLE_COLUMNS.items():
        drift = table == "drift_ack"  # drift acks name their global tag
        where = model.global_tag == gt_name if drift else model.global_tag_id == gt_id
        stmt = select(*(getattr(model, c) for c in columns)).where(where).order_by(model.id)
        out[table] = [tuple(r) for r in s.execute(stmt)]
    return out


#: table -> (model, the columns of a row apart from its global tag), for comparing and writing.
LIFECYCLE_COLUMNS: dict[str, tuple[Any, tuple[str, ...]]] = {
    "validation_report": (
        ValidationReport,
        ("map_hash", "first_run", "last_run", "who", "code_version", "created_at", "passed",
         "checks"),
    ),
    "global_tag_approval": (GlobalTagApproval, ("map_hash", "who", "approved_at")),
    "drift_ack": (DriftAck, ("flag", "who", "note", "acked_at")),
}


def stored_run(s: Session, run: int) -> Run | None:
    return s.get(Run, run)


def stored_processed_run(s: Session, run: int) -> ProcessedRun | None:
    return s.get(ProcessedRun, run)


def campaign_by_name(s: Session, name: str) -> Campaign | None:
    return s.scalar(select(Campaign).where(Campaign.name == name))


def campaign_links(s: Session, campaign_id: int) -> list[tuple[str, str, int, int]]:
    """(record, payload hash, tag id, since) of a campaign's links, sorted."""
    stmt = select(
        CampaignPayload.record, CampaignPayload.payload_hash, CampaignPayload.tag_id,
        CampaignPayload.since,
    ).where(CampaignPayload.campaign_id == campaign_id)
    return sorted(tuple(r) for r in s.execute(stmt))


# --- import: writes -------------------------------------------------------------------------------
def insert_payload_type(s: Session, row: Mapping[str, Any]) -> None:
    s.execute(insert(PayloadType), dict(row))


def _typed(row: Mapping[str, Any]) -> dict[str, Any]:
    """A file row's values by column: the file says ``type`` (the library's JSON shape), the
    payload and tag tables ``type_name``."""
    values = dict(row)
    values["type_name"] = values.pop("type")
    return values


def insert_payload(s: Session, row: Mapping[str, Any], data: bytes) -> None:
    s.execute(insert(Payload), {**_typed(row), "data": data})


def insert_tag(
    s: Session, row: Mapping[str, Any], iovs: Sequence[tuple[int, dt.datetime, str]]
) -> int:
    """Write a tag open with its IOV rows, then lock it when the row says locked; its id."""
    locked = row["state"] is TagState.LOCKED
    tag_id: int = s.execute(
        insert(Tag).returning(Tag.id), {**_typed(row), "state": TagState.OPEN, "locked_at": None}
    ).scalar_one()
    if iovs:
        s.execute(
            insert(IOV),
            [{"tag_id": tag_id, "since": since, "insertion_time": t, "payload_hash": h}
             for since, t, h in iovs],
        )
    if locked:
        _update(s, Tag, tag_id, state=TagState.LOCKED, locked_at=row["locked_at"])
    return tag_id


def _update(s: Session, model: Any, row_id: int, **values: Any) -> None:
    s.execute(
        update(model).where(model.id == row_id).values(**values)
        .execution_options(synchronize_session=False)
    )


def insert_global_tag(
    s: Session, row: Mapping[str, Any], history: Sequence[tuple[str, int, dt.datetime]]
) -> int:
    """Write a global tag open with its map history, then move it to its state (published: its
    snapshot; invalid: published first, then invalid with its reason), the way the lifecycle
    does (the triggers allow nothing else); its id."""
    state: GlobalTagState = row["state"]
    fresh = {**row, "state": GlobalTagState.OPEN, "snapshot_time": None, "frozen_at": None,
             "invalid_reason": None, "replaced_by": None}
    gt_id: int = s.execute(insert(GlobalTag).returning(GlobalTag.id), fresh).scalar_one()
    if history:
        s.execute(
            insert(GlobalTagMap),
            [{"global_tag_id": gt_id, "record": r, "tag_id": t, "insertion_time": when}
             for r, t, when in history],
        )
    if state is GlobalTagState.INVALID and row["snapshot_time"] is not None:
        _update(s, GlobalTag, gt_id, state=GlobalTagState.PUBLISHED,
                snapshot_time=row["snapshot_time"], frozen_at=row["frozen_at"])
        _update(s, GlobalTag, gt_id, state=state, invalid_reason=row["invalid_reason"],
                replaced_by=row["replaced_by"])
    elif state is not GlobalTagState.OPEN:
        _update(s, GlobalTag, gt_id, state=state, snapshot_time=row["snapshot_time"],
                frozen_at=row["frozen_at"], invalid_reason=row["invalid_reason"],
                replaced_by=row["replaced_by"])
    return gt_id


def insert_lifecycle_rows(
    s: Session, table: str, gt_id: int, gt_name: str, rows: Sequence[tuple[Any, ...]]
) -> None:
    """Append rows (tuples of :data:`LIFECYCLE_COLUMNS`) of one global tag to ``table``."""
    if not rows:
        return
    model, columns = LIFECYCLE_COLUMNS[table]
    owner = {"global_tag": gt_name} if table == "drift_ack" else {"global_tag_id": gt_id}
    s.execute(insert(model), [{**owner, **dict(zip(columns, r, strict=True))} for r in rows])


def insert_run(s: Session, row: Mapping[str, Any]) -> None:
    s.execute(insert(Run), dict(row))


def insert_processed_run(s: Session, row: Mapping[str, Any]) -> None:
    s.execute(insert(ProcessedRun), dict(row))


def insert_campaign(
    s: Session, row: Mapping[str, Any], links: Sequence[tuple[str, str, int, int]]
) -> None:
    campaign_id = s.execute(insert(Campaign).returning(Campaign.id), dict(row)).scalar_one()
    if links:
        s.execute(
            insert(CampaignPayload),
            [{"campaign_id": campaign_id, "record": record, "payload_hash": h, "tag_id": tag_id,
              "since": since} for record, h, tag_id, since in links],
        )
