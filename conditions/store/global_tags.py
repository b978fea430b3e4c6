"""Global tags: record -> tag maps, their lifecycle states (issue 18), validation reports and
approvals; clone them.

States ``open -> testing -> validated -> published (-> invalid)``: the map can change while
``open`` or ``testing``; ``published`` (formerly ``frozen``) and ``invalid`` ones never change
(a published one carries a snapshot time).  Which transition is allowed, and its gates, is the
application layer's rule (:mod:`conditions.services.lifecycle`); this module stores.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from .. import times
from ..db.model import (
    IOV,
    GlobalTag,
    GlobalTagApproval,
    GlobalTagMap,
    GlobalTagState,
    Tag,
    ValidationReport,
    utcnow,
)
from ..errors import (
    AlreadyExists,
    Conflict,
    GlobalTagFrozen,
    GlobalTagNotFound,
    InvalidInput,
    InvalidIOV,
)
from ..states import Deprecation
from .common import check_name, check_text, db_now, valid_name
from .tags import get_tag

#: States whose global tags never change again (the map, the snapshot; invalid: nothing at all).
IMMUTABLE_STATES = frozenset({GlobalTagState.PUBLISHED, GlobalTagState.INVALID})
#: States in which the record -> tag map may change.
EDITABLE_STATES = frozenset({GlobalTagState.OPEN, GlobalTagState.TESTING})


# --- global tags ---------------------------------------------------------------------------------
def create_global_tag(s: Session, name: str, description: str = "") -> GlobalTag:
    """Create an open, empty global tag."""
    check_name("global tag", name)
    check_text("global tag description", description)
    if s.scalar(select(GlobalTag.id).where(GlobalTag.name == name)) is not None:
        raise AlreadyExists(f"global tag {name!r} already exists", "choose another name")
    gt = GlobalTag(
        name=name, description=description, state=GlobalTagState.OPEN, created_at=utcnow()
    )
    s.add(gt)
    s.flush()
    return gt


def get_global_tag(s: Session, name: str, *, for_update: bool = False) -> GlobalTag:
    stmt = select(GlobalTag).where(GlobalTag.name == name)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    gt = s.scalar(stmt) if valid_name(name) else None
    if gt is None:
        raise GlobalTagNotFound(
            f"no global tag named {name!r}", "list global tags with `conddb gt list`"
        )
    return gt


def _require_mutable(gt: GlobalTag) -> None:
    if gt.state in IMMUTABLE_STATES:
        raise GlobalTagFrozen(
            f"global tag {gt.name!r} is frozen ({gt.state.value})",
            "clone it (`conddb gt clone`) and change the clone",
        )


def _require_open(gt: GlobalTag) -> None:
    if gt.state in IMMUTABLE_STATES:
        raise GlobalTagFrozen(
            f"global tag {gt.name!r} is frozen ({gt.state.value})",
            "clone it (`conddb gt clone`) and change the clone",
        )
    if gt.state not in EDITABLE_STATES:
        raise Conflict(
            f"global tag {gt.name!r} is {gt.state.value}: its map is under validation",
            f"reopen it first (`conddb gt reopen {gt.name}`)",
        )


def global_tag_map(
    s: Session, gt: GlobalTag, *, as_of: dt.datetime | None = None
) -> dict[str, Tag]:
    """record -> tag of a global tag, as it is now or as it was at ``as_of``."""
    stmt = (
        select(GlobalTagMap.record, Tag)
        .join(Tag, Tag.id == GlobalTagMap.tag_id)
        .where(GlobalTagMap.global_tag_id == gt.id)
        .order_by(GlobalTagMap.record, GlobalTagMap.insertion_time, GlobalTagMap.id)
    )
    if as_of is not None:
        stmt = stmt.where(GlobalTagMap.insertion_time <= times.as_utc(as_of, "as-of time"))
    return {record: tag for record, tag in s.execute(stmt)}


def set_record(s: Session, gt_name: str, record: str, tag_name: str) -> bool:
    """Point ``record`` of an open global tag at ``tag_name``; returns False if already so."""
    check_name("record", record)
    gt = get_global_tag(s, gt_name, for_update=True)
    _require_open(gt)
    tag = get_tag(s, tag_name)
    current = global_tag_map(s, gt)
    if record in current:
        if current[record].id == tag.id:
            return False
        if current[record].type_name != tag.type_name:
            raise InvalidIOV(
                f"record {record!r} holds {current[record].type_name!r}, "
                f"tag {tag_name!r} holds {tag.type_name!r}",
                "point the record at a tag of the same payload type",
            )
    s.add(GlobalTagMap(global_tag_id=gt.id, record=record, tag_id=tag.id, insertion_time=db_now(s)))
    s.flush()
    return True


def publish_global_tag(
    s: Session, gt_name: str, *, snapshot_time: dt.datetime | None = None
) -> GlobalTag:
    """Store the publication of a VALIDATED global tag: its map never changes again, it resolves
    as of ``snapshot_time``.  The repository step of :func:`conditions.services.lifecycle.publish`
    (alias ``freeze``), which checks the gates (passing report of the current map, approvals)
    first; no other writer calls it.  Any state but ``validated`` is refused here too.

    The snapshot defaults to the time of publishing.  The tags of the map are row-locked first, so
    no append that is in flight can later appear with an insertion time before the snapshot.
    """
    snapshot_time = times.as_utc(snapshot_time, "snapshot time")
    gt = get_global_tag(s, gt_name, for_update=True)
    _require_mutable(gt)
    if gt.state is not GlobalTagState.VALIDATED:
        raise Conflict(
            f"cannot publish global tag {gt_name!r} ({gt.state.value}): only validated global "
            "tags are published",
            f"validate it first (`conddb gt validate {gt_name} --runs A-B`)",
        )
    for tag in global_tag_map(s, gt).values():
        get_tag(s, tag.name, for_update=True)
    now = db_now(s)
    if snapshot_time is not None and snapshot_time > now:
        raise InvalidInput("snapshot time is in the future", "give a past time or none")
    gt.state = GlobalTagState.PUBLISHED
    gt.frozen_at = now
    gt.snapshot_time = snapshot_time or now
    s.flush()
    return gt


def clone_global_tag(s: Session, src: str, dst: str, description: str = "") -> GlobalTag:
    """A new open global tag with the current map of ``src``."""
    source = get_global_tag(s, src)
    clone = create_global_tag(s, dst, description or f"clone of {src}")
    now = db_now(s)
    for record, tag in global_tag_map(s, source).items():
        s.add(
            GlobalTagMap(global_tag_id=clone.id, record=record, tag_id=tag.id, insertion_time=now)
        )
    s.flush()
    return clone


def list_global_tags(s: Session) -> Sequence[GlobalTag]:
    return s.scalars(select(GlobalTag).order_by(GlobalTag.name)).all()




# --- lifecycle -----------------------------------------------------------------------------------
def set_global_tag_state(s: Session, gt: GlobalTag, state: GlobalTagState) -> GlobalTag:
    """Store a (checked) state change that is not publishing nor invalidating."""
    if gt.state in IMMUTABLE_STATES or state in IMMUTABLE_STATES:
        raise GlobalTagFrozen(
            f"global tag {gt.name!r} is {gt.state.value}", "use publish / invalidate"
        )
    gt.state = state
    s.flush()
    return gt


def invalidate_global_tag(
    s: Session, gt_name: str, reason: str, replaced_by: str | None = None
) -> GlobalTag:
    """``published -> invalid``: still resolvable, every answer marked deprecated."""
    check_text("reason", reason)
    if not reason.strip():
        raise InvalidInput("an invalid global tag needs a reason", "give --reason TEXT")
    gt = get_global_tag(s, gt_name, for_update=True)
    if gt.state is not GlobalTagState.PUBLISHED:
        raise Conflict(
            f"global tag {gt_name!r} is {gt.state.value}: only a published one can be invalidated",
            "publish it first, or keep changing it while it is open",
        )
    if replaced_by is not None:
        if replaced_by == gt_name:
            raise InvalidInput("a global tag cannot replace itself", "name another global tag")
        get_global_tag(s, replaced_by)
    gt.state = GlobalTagState.INVALID
    gt.invalid_reason = reason
    gt.replaced_by = replaced_by
    s.flush()
    return gt


def deprecation_of(conn: Connection | Session, gt_name: str) -> Deprecation | None:
    """The deprecation of ``gt_name`` when it is invalid (reason, replacement), else None."""
    row = conn.execute(
        select(GlobalTag.state, GlobalTag.invalid_reason, GlobalTag.replaced_by).where(
            GlobalTag.name == gt_name
        )
    ).first()
    if row is None or row[0] != GlobalTagState.INVALID:
        return None
    return Deprecation(gt_name, row[1] or "", row[2])


def map_hash(s: Session, gt: GlobalTag) -> str:
    """SHA-256 of the current map and of the IOVs in force of its tags (hex).

    A validation report counts only for the hash it checked: pointing a record elsewhere, or
    appending an IOV to one of the tags, changes the hash.
    """
    mapping = global_tag_map(s, gt)
    doc: dict[str, Any] = {}
    for record, tag in sorted(mapping.items()):
        rows = s.execute(
            select(IOV.since, IOV.payload_hash)
            .where(IOV.tag_id == tag.id)
            .order_by(IOV.since, IOV.insertion_time, IOV.id)
        ).all()
        in_force = {since: h for since, h in rows}  # newest row per since wins
        doc[record] = [tag.name, sorted(in_force.items())]
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def add_validation_report(
    s: Session,
    gt: GlobalTag,
    *,
    digest: str,
    runs: tuple[int, int],
    who: str,
    code_version: str,
    passed: bool,
    checks: list[dict[str, Any]],
) -> ValidationReport:
    row = ValidationReport(
        global_tag_id=gt.id,
        map_hash=digest,
        first_run=runs[0],
        last_run=runs[1],
        who=who,
        code_version=code_version,
        created_at=db_now(s),
        passed=passed,
        checks=checks,
    )
    s.add(row)
    s.flush()
    return row


def validation_reports(s: Session, gt: GlobalTag) -> Sequence[ValidationReport]:
    """Reports of a global tag, newest first."""
    return s.scalars(
        select(ValidationReport)
        .where(ValidationReport.global_tag_id == gt.id)
        .order_by(ValidationReport.id.desc())
    ).all()


def add_approval(s: Session, gt: GlobalTag, digest: str, who: str) -> GlobalTagApproval:
    row = GlobalTagApproval(global_tag_id=gt.id, map_hash=digest, who=who, approved_at=db_now(s))
    s.add(row)
    s.flush()
    return row


def approvers(s: Session, gt: GlobalTag, digest: str) -> set[str]:
    """Who approved the map ``digest`` of ``gt``."""
    return set(
        s.scalars(
            select(GlobalTagApproval.who).where(
                GlobalTagApproval.global_tag_id == gt.id, GlobalTagApproval.map_hash == digest
            )
        )
    )
