"""The ``audit_log`` table: append one record, read records back (:mod:`conditions.services.audit`
clips and shapes the entries; this module stores).  Records are append-only (migration 0004)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.model import AuditRecord


def as_json(row: AuditRecord) -> dict[str, Any]:
    """One record as the JSON object of the export (and of the former audit file)."""
    return {
        "id": row.id,
        "time": row.recorded_at.isoformat(timespec="microseconds"),
        "origin": row.origin,
        "who": row.who,
        "role": row.role,
        "client": row.client,
        "action": row.action,
        "target": row.target,
        "status": row.status,
        "detail": row.detail,
        "error": row.error,
    }


def add_audit_record(s: Session, values: Mapping[str, Any]) -> dict[str, Any]:
    """Add one record (``origin, who, role, client, action, target, status, detail, error``) to
    the caller's transaction, flushed now; returns it as JSON (with its id and time)."""
    row = AuditRecord(**values)
    s.add(row)
    s.flush()
    return as_json(row)


def audit_records(
    s: Session, *, after_id: int, limit: int, who: str | None, min_status: int | None
) -> list[dict[str, Any]]:
    """Up to ``limit`` records with ``id > after_id``, oldest first, as JSON."""
    query = select(AuditRecord).where(AuditRecord.id > after_id).order_by(AuditRecord.id)
    if who is not None:
        query = query.where(AuditRecord.who == who)
    if min_status is not None:
        query = query.where(AuditRecord.status >= min_status)
    return [as_json(r) for r in s.scalars(query.limit(limit))]
