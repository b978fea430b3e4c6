"""Global tags: record -> tag maps, ``open`` -> ``frozen`` (with a snapshot time); clone them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import times
from ..db.model import GlobalTag, GlobalTagMap, GlobalTagState, Tag, utcnow
from ..errors import AlreadyExists, GlobalTagFrozen, GlobalTagNotFound, InvalidInput, InvalidIOV
from .common import check_name, check_text, db_now, valid_name
from .tags import get_tag


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


def _require_open(gt: GlobalTag) -> None:
    if gt.state is GlobalTagState.FROZEN:
        raise GlobalTagFrozen(
            f"global tag {gt.name!r} is frozen", "clone it (`conddb gt clone`) and change the clone"
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


def freeze_global_tag(
    s: Session, gt_name: str, *, snapshot_time: dt.datetime | None = None
) -> GlobalTag:
    """Freeze a global tag: its map never changes again and it resolves as of ``snapshot_time``.

    The snapshot defaults to the time of freezing.  The tags of the map are row-locked first, so no
    append that is in flight can later appear with an insertion time before the snapshot.
    """
    snapshot_time = times.as_utc(snapshot_time, "snapshot time")
    gt = get_global_tag(s, gt_name, for_update=True)
    _require_open(gt)
    for tag in global_tag_map(s, gt).values():
        get_tag(s, tag.name, for_update=True)
    now = db_now(s)
    if snapshot_time is not None and snapshot_time > now:
        raise InvalidInput("snapshot time is in the future", "give a past time or none")
    gt.state = GlobalTagState.FROZEN
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


