"""Campaign records: which constants a calibration campaign uploaded, from which inputs.

A campaign row and its links (record, payload, tag, since) are written once, in the transaction
of the upload (:func:`conditions.services.campaigns.upload`), and never changed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ..db.model import Campaign, CampaignPayload, Tag, utcnow
from ..errors import CampaignNotFound
from .common import valid_name


@dataclass(frozen=True)
class CampaignLink:
    """One constant of a campaign: its record, tag, since and payload."""

    record: str
    tag: str
    since: int
    payload_hash: str


@dataclass(frozen=True)
class CampaignRecord:
    """A stored campaign (``links`` empty in listings)."""

    name: str
    kind: str
    first_run: int
    last_run: int
    manifest_sha256: str
    created_at: dt.datetime
    info: dict[str, Any]
    links: tuple[CampaignLink, ...] = ()


def _record(c: Campaign, links: Sequence[CampaignLink] = ()) -> CampaignRecord:
    return CampaignRecord(
        c.name,
        c.kind,
        c.first_run,
        c.last_run,
        c.manifest_sha256,
        c.created_at,
        dict(c.info or {}),
        tuple(links),
    )


def lock_campaign(s: Session, name: str) -> None:
    """Serialise uploads of one campaign: a transaction-scoped advisory lock on PostgreSQL
    (SQLite: the write transaction's ``BEGIN IMMEDIATE`` already holds the database lock)."""
    if s.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def _links(s: Session, campaign_id: int) -> list[CampaignLink]:
    rows = s.execute(
        select(
            CampaignPayload.record, Tag.name, CampaignPayload.since, CampaignPayload.payload_hash
        )
        .join(Tag, Tag.id == CampaignPayload.tag_id)
        .where(CampaignPayload.campaign_id == campaign_id)
        .order_by(CampaignPayload.record)
    )
    return [CampaignLink(r, t, int(since), h) for r, t, since, h in rows]


def find_campaign(s: Session, name: str) -> CampaignRecord | None:
    """The campaign called ``name`` with its links, or None."""
    c = s.scalar(select(Campaign).where(Campaign.name == name)) if valid_name(name) else None
    return None if c is None else _record(c, _links(s, c.id))


def get_campaign(s: Session, name: str) -> CampaignRecord:
    """The campaign called ``name`` with its links; :class:`CampaignNotFound` if none."""
    found = find_campaign(s, name)
    if found is None:
        raise CampaignNotFound(f"no campaign named {name!r}", "see `conddb campaign list`")
    return found


def list_campaigns(s: Session) -> list[CampaignRecord]:
    """Every campaign (without links), by first run then name."""
    rows = s.scalars(select(Campaign).order_by(Campaign.first_run, Campaign.name))
    return [_record(c) for c in rows]


def add_campaign(
    s: Session,
    *,
    name: str,
    kind: str,
    first_run: int,
    last_run: int,
    manifest_sha256: str,
    info: dict[str, Any],
    links: Sequence[tuple[str, str, int, int]],
) -> None:
    """Write a campaign row and its links ``(record, payload_hash, tag_id, since)``."""
    campaign = Campaign(
        name=name,
        kind=kind,
        first_run=first_run,
        last_run=last_run,
        manifest_sha256=manifest_sha256,
        info=info,
        created_at=utcnow(),
    )
    s.add(campaign)
    s.flush()
    for record, payload_hash, tag_id, since in links:
        s.add(
            CampaignPayload(
                campaign_id=campaign.id,
                record=record,
                payload_hash=payload_hash,
                tag_id=tag_id,
                since=since,
            )
        )
    s.flush()
