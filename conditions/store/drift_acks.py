"""Acknowledged drift flags of global tags (issue 18, table ``drift_ack``, append-only): which
flags someone reviewed, who, when and why.  Which flags exist is :mod:`conditions.drift`'s."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.model import DriftAck
from .common import check_text, db_now


def acknowledged_flags(s: Session, gt_name: str) -> set[str]:
    """The flags of ``gt_name`` someone acknowledged."""
    return set(s.scalars(select(DriftAck.flag).where(DriftAck.global_tag == gt_name)))


def add_drift_ack(s: Session, gt_name: str, flag: str, who: str, note: str = "") -> None:
    """Record that ``who`` reviewed drift ``flag`` of ``gt_name`` (``note``: why it is fine)."""
    check_text("note", note)
    s.add(DriftAck(global_tag=gt_name, flag=flag, who=who, note=note, acked_at=db_now(s)))
    s.flush()
