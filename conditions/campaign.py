"""Campaign uploads: every constant of a calibration campaign lands in one transaction, or none.

A :class:`CampaignConstants` holds what the fitting jobs of one campaign produced (one typed
payload per record, with provenance) plus the campaign's identity and inputs.
:func:`upload_campaign` stores the payloads, appends one IOV per record (since = the campaign's
first valid run) to the tag ``<prefix><record>`` (created if missing), and writes the campaign
record linking them, all inside the caller's write transaction.

Re-running the same campaign is idempotent: same inputs -> same payload hashes -> nothing new.
Two uploads of one campaign at the same time serialise (advisory lock on PostgreSQL, the database
lock on SQLite): one writes, the other finds the campaign and does nothing.  The same campaign name
with other constants is a :class:`Conflict`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from . import store
from .errors import Conflict, InvalidInput
from .model import Campaign, CampaignPayload, Tag
from .payloads import encode_payload, type_of

DEFAULT_TAG_PREFIX = "juno-"


@dataclass(frozen=True)
class CampaignConstants:
    """The output of a campaign's fitting jobs, ready to upload."""

    name: str
    kind: str
    first_run: int
    last_run: int
    manifest_sha256: str
    #: record -> (typed payload, provenance)
    payloads: dict[str, tuple[BaseModel, dict[str, Any]]]
    #: runs, input files and their SHA-256, code version, settings
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordUpload:
    record: str
    tag: str
    payload_hash: str
    since: int
    new_payload: bool
    new_iov: bool


@dataclass(frozen=True)
class UploadReport:
    campaign: str
    created: bool
    records: list[RecordUpload]

    @property
    def iovs_added(self) -> int:
        return sum(r.new_iov for r in self.records)

    @property
    def payloads_added(self) -> int:
        return sum(r.new_payload for r in self.records)


def tag_for(record: str, prefix: str = DEFAULT_TAG_PREFIX) -> str:
    return f"{prefix}{record}"


def _serialise(s: Session, name: str) -> None:
    """Serialise uploads of one campaign (PostgreSQL advisory lock; SQLite: BEGIN IMMEDIATE)."""
    if s.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def plan_upload(
    constants: CampaignConstants, prefix: str = DEFAULT_TAG_PREFIX
) -> list[tuple[str, str, str, int, bytes, int]]:
    """(record, tag, type, since, canonical bytes, schema version) of each payload to write."""
    rows = []
    for record, (model, _prov) in sorted(constants.payloads.items()):
        store.check_name("record", record)
        type_name, version = type_of(model)
        rows.append(
            (
                record,
                tag_for(record, prefix),
                type_name,
                constants.first_run,
                encode_payload(model),
                version,
            )
        )
    return rows


def _existing(s: Session, constants: CampaignConstants, plan: list[Any]) -> UploadReport | None:
    """The no-op report if this campaign is already stored with the same constants."""
    row = s.scalar(select(Campaign).where(Campaign.name == constants.name))
    if row is None:
        return None
    stored = {
        r.record: (r.payload_hash, r.since, r.tag_id)
        for r in s.scalars(select(CampaignPayload).where(CampaignPayload.campaign_id == row.id))
    }
    wanted = {record: (store.sha256_hex(data), since) for record, _t, _ty, since, data, _v in plan}
    if (
        row.manifest_sha256 != constants.manifest_sha256
        or {k: v[:2] for k, v in stored.items()} != wanted
    ):
        raise Conflict(
            f"campaign {constants.name!r} is already stored with other inputs or constants",
            "give the re-processed campaign a new name (e.g. a -v2 suffix)",
        )
    tags = dict(s.execute(select(Tag.id, Tag.name)).tuples().all())
    return UploadReport(
        constants.name,
        False,
        [
            RecordUpload(rec, tags[tid], h, since, False, False)
            for rec, (h, since, tid) in sorted(stored.items())
        ],
    )


def upload_campaign(
    s: Session,
    constants: CampaignConstants,
    *,
    tag_prefix: str = DEFAULT_TAG_PREFIX,
    max_payload_bytes: int = store.DEFAULT_MAX_PAYLOAD_BYTES,
) -> UploadReport:
    """Store every payload of a campaign with its IOV and the campaign record, in ``s``'s
    transaction (the caller commits; any error leaves nothing behind)."""
    store.check_name("campaign", constants.name)
    store.check_run(constants.first_run, "first run")
    store.check_run(constants.last_run, "last run")
    if constants.last_run < constants.first_run:
        raise InvalidInput(f"campaign {constants.name!r} ends before it starts", "check its runs")
    if not constants.payloads:
        raise InvalidInput(f"campaign {constants.name!r} produced no constants", "check its jobs")
    plan = plan_upload(constants, tag_prefix)
    _serialise(s, constants.name)
    done = _existing(s, constants, plan)
    if done is not None:
        return done
    records: list[RecordUpload] = []
    links: list[CampaignPayload] = []
    for record, tag_name, type_name, since, data, version in plan:
        store.register_payload_type(s, type_name)
        put = store.put_payload(
            s,
            type_name,
            data,
            schema_version=version,
            provenance={**constants.payloads[record][1], "campaign": constants.name},
            max_bytes=max_payload_bytes,
        )
        tag_id = store.create_tag(
            s, tag_name, type_name, f"{record} from calibration campaigns", exist_ok=True
        ).id
        appended = store.append_iovs(s, tag_name, [(since, put.hash)])
        records.append(
            RecordUpload(record, tag_name, put.hash, since, put.created, appended.added > 0)
        )
        links.append(
            CampaignPayload(record=record, payload_hash=put.hash, tag_id=tag_id, since=since)
        )
    campaign = Campaign(
        name=constants.name,
        kind=constants.kind,
        first_run=constants.first_run,
        last_run=constants.last_run,
        manifest_sha256=constants.manifest_sha256,
        info=constants.info,
        created_at=store.utcnow(),
    )
    s.add(campaign)
    s.flush()
    for link in links:
        link.campaign_id = campaign.id
        s.add(link)
    s.flush()
    return UploadReport(constants.name, True, records)
