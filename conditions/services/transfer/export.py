"""Export: the whole database, or one global tag with all it references, to one zip file."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from conditions import migrate
from conditions.db import read_session
from conditions.model import (
    IOV,
    Campaign,
    CampaignPayload,
    GlobalTag,
    GlobalTagMap,
    Payload,
    PayloadType,
    Run,
    Tag,
)
from conditions.store import get_global_tag, sha256_hex

from . import codecs
from .archive import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    MemberWriter,
    payload_member,
    sign,
    table_member,
)
from .codecs import encode_time


@dataclass(frozen=True)
class TransferReport:
    """What an export wrote or an import found.

    ``rows``: rows per table in the file.  ``added`` / ``reused`` (import only): rows per table
    that were written / found already identical in the target.
    """

    path: Path
    scope: str
    rows: dict[str, int]
    added: dict[str, int] = field(default_factory=dict)
    reused: dict[str, int] = field(default_factory=dict)


def scope_text(global_tag: str | None) -> str:
    return "database" if global_tag is None else f"global tag {global_tag}"


@dataclass
class Selection:
    """Surrogate ids of the rows to export (None: every row of the table)."""

    tag_ids: set[int] | None = None
    gt_ids: set[int] | None = None
    campaign_ids: set[int] | None = None
    payload_hashes: set[str] | None = None


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


class _Rows:
    """The selected rows of each table as JSON objects, in a canonical order."""

    def __init__(self, s: Session, sel: Selection) -> None:
        self.s = s
        self.sel = sel

    @cached_property
    def tag_names(self) -> dict[int, str]:
        return dict(self.s.execute(select(Tag.id, Tag.name)).tuples().all())

    def of(self, table: str) -> Iterator[dict[str, Any]]:
        by_table = {
            "payload_type": self.payload_type,
            "payload": self.payload,
            "tag": self.tag,
            "iov": self.iov,
            "global_tag": self.global_tag,
            "global_tag_map": self.global_tag_map,
            "run": self.run,
            "campaign": self.campaign,
            "campaign_payload": self.campaign_payload,
        }
        return by_table[table]()

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
            yield codecs.PAYLOAD_TYPE.encode_object(pt)

    def payload(self) -> Iterator[dict[str, Any]]:
        stmt = select(Payload).where(*_in(Payload.hash, self.sel.payload_hashes))
        for p in self.s.scalars(stmt.order_by(Payload.hash)):
            yield codecs.PAYLOAD.encode_object(p)

    def tag(self) -> Iterator[dict[str, Any]]:
        stmt = select(Tag).where(*_in(Tag.id, self.sel.tag_ids)).order_by(Tag.name)
        for t in self.s.scalars(stmt):
            yield codecs.TAG.encode_object(t)

    def iov(self) -> Iterator[dict[str, Any]]:
        stmt = select(IOV.tag_id, IOV.since, IOV.insertion_time, IOV.payload_hash).where(
            *_in(IOV.tag_id, self.sel.tag_ids)
        )
        stmt = stmt.join(Tag, Tag.id == IOV.tag_id).order_by(Tag.name, IOV.id)  # canonical
        for tag_id, since, inserted, h in self.s.execute(stmt):
            yield codecs.IOV.encode(
                {
                    "tag": self.tag_names[tag_id],
                    "since": since,
                    "insertion_time": inserted,
                    "payload_hash": h,
                }
            )

    def global_tag(self) -> Iterator[dict[str, Any]]:
        stmt = select(GlobalTag).where(*_in(GlobalTag.id, self.sel.gt_ids))
        for g in self.s.scalars(stmt.order_by(GlobalTag.name)):
            yield codecs.GLOBAL_TAG.encode_object(g)

    def global_tag_map(self) -> Iterator[dict[str, Any]]:
        gt_names = dict(self.s.execute(select(GlobalTag.id, GlobalTag.name)).tuples().all())
        stmt = select(GlobalTagMap).where(*_in(GlobalTagMap.global_tag_id, self.sel.gt_ids))
        stmt = stmt.join(GlobalTag, GlobalTag.id == GlobalTagMap.global_tag_id)
        for m in self.s.scalars(stmt.order_by(GlobalTag.name, GlobalTagMap.id)):
            yield codecs.GLOBAL_TAG_MAP.encode_object(
                m, global_tag=gt_names[m.global_tag_id], tag=self.tag_names[m.tag_id]
            )

    def run(self) -> Iterator[dict[str, Any]]:
        if self.sel.tag_ids is None:  # the run registry belongs to whole-database exports only
            for r in self.s.scalars(select(Run).order_by(Run.run)):
                yield codecs.RUN.encode_object(r)

    def campaign(self) -> Iterator[dict[str, Any]]:
        stmt = select(Campaign).where(*_in(Campaign.id, self.sel.campaign_ids))
        for c in self.s.scalars(stmt.order_by(Campaign.name)):
            yield codecs.CAMPAIGN.encode_object(c)

    def campaign_payload(self) -> Iterator[dict[str, Any]]:
        names = dict(self.s.execute(select(Campaign.id, Campaign.name)).tuples().all())
        stmt = select(CampaignPayload).where(
            *_in(CampaignPayload.campaign_id, self.sel.campaign_ids)
        )
        stmt = stmt.join(Campaign, Campaign.id == CampaignPayload.campaign_id)
        for link in self.s.scalars(stmt.order_by(Campaign.name, CampaignPayload.record)):
            yield codecs.CAMPAIGN_PAYLOAD.encode_object(
                link, campaign=names[link.campaign_id], tag=self.tag_names[link.tag_id]
            )


def export_file(
    engine: Engine, path: str | Path, *, global_tag: str | None = None, key: bytes | None = None
) -> TransferReport:
    """Write the whole database, or ``global_tag`` with all it references, to the zip ``path``.

    The export reads in one transaction (a consistent snapshot on PostgreSQL; on SQLite the read
    transaction holds its WAL snapshot).  An existing file is overwritten only once the new one is
    complete (written to ``path.part`` first, then renamed).  With ``key`` the manifest is
    signed (HMAC-SHA256, :func:`.archive.sign`).
    """
    path = Path(path)
    part = path.with_name(path.name + ".part")
    members: dict[str, dict[str, Any]] = {}
    revision = migrate.current_revision(engine)
    snapshot = engine
    if engine.dialect.name == "postgresql":  # one consistent snapshot for every table
        snapshot = engine.execution_options(isolation_level="REPEATABLE READ")
    with read_session(snapshot) as s, s.begin():
        sel = Selection() if global_tag is None else select_global_tag(s, global_tag)
        rows = _Rows(s, sel)
        with zipfile.ZipFile(part, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
            for table in codecs.TABLES:
                writer = MemberWriter(zf, table_member(table))
                hashes: list[str] = []
                for row in rows.of(table):
                    writer.write(row)
                    if table == "payload":
                        hashes.append(row["hash"])
                members[writer.name] = writer.close()
                for h in hashes:
                    data = s.scalar(select(Payload.data).where(Payload.hash == h))
                    assert data is not None
                    data = bytes(data)
                    zf.writestr(payload_member(h), data)
                    members[payload_member(h)] = {
                        "sha256": sha256_hex(data),
                        "bytes": len(data),
                        "rows": 1,
                    }
            manifest = {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "schema_revision": revision,
                "scope": {"global_tag": global_tag},
                "created_at": encode_time(dt.datetime.now(dt.UTC)),
                "members": members,
            }
            if key is not None:
                manifest = sign(manifest, key)
            zf.writestr(MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
    part.replace(path)
    counts = {t: members[table_member(t)]["rows"] for t in codecs.TABLES}
    return TransferReport(path, scope_text(global_tag), counts)
