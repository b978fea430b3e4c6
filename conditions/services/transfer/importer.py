"""Import: verify an export file, then write it in one transaction (all or nothing).

Objects already present are reused only if their content is identical; an existing tag, global
tag, run, campaign or payload with other content is a :class:`TransferConflict` and nothing is
written.  Locked tags and frozen global tags are written open, filled, then set to their final
state with their original ``locked_at`` / ``frozen_at`` / ``snapshot_time`` (the database
triggers forbid adding rows to them afterwards).
"""

from __future__ import annotations

import datetime as dt
import enum
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from conditions import migrate
from conditions.db import write_session
from conditions.errors import ConddbError, Conflict, InvalidInput, SchemaOutdated, from_db_error
from conditions.model import (
    IOV,
    Campaign,
    CampaignPayload,
    GlobalTag,
    GlobalTagMap,
    GlobalTagState,
    Payload,
    PayloadType,
    Run,
    Tag,
    TagState,
)
from conditions.services.documents import check_canonical
from conditions.store import DEFAULT_MAX_PAYLOAD_BYTES, db_now, sha256_hex

from . import codecs
from .archive import (
    TransferError,
    check_signature,
    manifest_of,
    member_rows,
    open_archive,
    payload_member,
    table_member,
    verify,
)
from .codecs import Codec
from .export import TransferReport, scope_text

E = TypeVar("E", bound=enum.Enum)


class TransferConflict(Conflict):
    """The target database already holds an object of the same name with other content."""


def _conflict(what: str, name: str, detail: str) -> TransferConflict:
    return TransferConflict(
        f"{what} {name!r} already exists in the target with other content ({detail})",
        "import into another database, or rename / remove it there first; nothing was written",
    )


def _state(kind: type[E], value: str, table: str) -> E:
    try:
        return kind(value)
    except ValueError:
        raise TransferError(f"{table} row has a bad 'state': {value!r}", "damaged file") from None


def verify_file(path: str | Path) -> dict[str, Any]:
    """Check the manifest, every member's SHA-256 and size, and that each payload member's name is
    the SHA-256 of its bytes.  Returns the manifest; raises :class:`TransferError`."""
    path = Path(path)
    with open_archive(path) as zf:
        manifest = manifest_of(zf, path)
        verify(zf, path, manifest, codecs.TABLES)
    return manifest


class _Importer:
    """Checks the rows of one verified archive by the library's rules and writes them into the
    session's transaction.

    ``where`` names the row being checked or written (table, row number, key): any domain error
    raised meanwhile becomes one :class:`TransferError` that names it (:func:`import_file`)."""

    def __init__(self, s: Session, zf: zipfile.ZipFile, max_payload_bytes: int) -> None:
        self.s = s
        self.zf = zf
        self.max_payload_bytes = max_payload_bytes
        self.now = db_now(s)
        self.added: dict[str, int] = defaultdict(int)
        self.reused: dict[str, int] = defaultdict(int)
        self.tag_ids: dict[str, int] = {}
        self.tag_types: dict[str, str] = {}
        self.payload_types_: dict[str, str] = {}  # hash -> type of the file's payloads
        self.where = ""

    def at(self, codec: Codec, n: int, row: dict[str, Any]) -> None:
        self.where = f"{table_member(codec.table)} row {n} ({codec.key_of(row)})"

    def rows(self, codec: Codec) -> Iterator[dict[str, Any]]:
        for n, raw in enumerate(member_rows(self.zf, codec.table), 1):
            self.at(codec, n, raw)
            row = codec.decode(raw, self.now)
            row["_n"] = n
            yield row

    def grouped(self, codec: Codec, key: str) -> dict[str, list[dict[str, Any]]]:
        """The rows of a child table by the name of the row they belong to."""
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in self.rows(codec):
            groups[row[key]].append(row)
        return groups

    def type_of_payload(self, h: str) -> str:
        """The type of payload ``h``, from the file or the target; refused if neither has it."""
        if h in self.payload_types_:
            return self.payload_types_[h]
        stored = self.s.scalar(select(Payload.type_name).where(Payload.hash == h))
        if stored is None:
            raise InvalidInput(
                f"payload {h} is in neither the file nor the target", "export it with its payloads"
            )
        return stored

    def check_reference(self, codec: Codec, row: dict[str, Any], tag: str, tag_type: str) -> None:
        """The row points at an existing payload of its tag's type."""
        self.at(codec, row["_n"], row)
        got = self.type_of_payload(row["payload_hash"])
        if got != tag_type:
            raise InvalidInput(
                f"payload {row['payload_hash'][:12]} is of type {got!r}, tag {tag!r} holds "
                f"{tag_type!r}",
                "an IOV points at a payload of its tag's type",
            )

    def check_type_known(self, type_name: str) -> None:
        if self.s.get(PayloadType, type_name) is None:
            raise InvalidInput(
                f"payload type {type_name!r} is in neither the file nor the target",
                "export it with its types",
            )

    def run(self) -> None:
        self.payload_types()
        self.payloads()
        self.tags(self.grouped(codecs.IOV, "tag"))
        self.global_tags(self.grouped(codecs.GLOBAL_TAG_MAP, "global_tag"))
        self.runs()
        self.campaigns(self.grouped(codecs.CAMPAIGN_PAYLOAD, "campaign"))

    def payload_types(self) -> None:
        for row in self.rows(codecs.PAYLOAD_TYPE):
            row.pop("_n")
            if self.s.get(PayloadType, row["name"]) is not None:
                self.reused["payload_type"] += 1
                continue
            self.s.execute(insert(PayloadType), row)
            self.added["payload_type"] += 1

    def payloads(self) -> None:
        for row in self.rows(codecs.PAYLOAD):
            row.pop("_n")
            h = row["hash"]
            try:
                info = self.zf.getinfo(payload_member(h))
            except KeyError:
                raise TransferError(f"payload {h} has no bytes in the file", "damaged") from None
            if info.file_size > self.max_payload_bytes:
                raise TransferError(
                    f"payload of {info.file_size} bytes exceeds the limit of "
                    f"{self.max_payload_bytes} bytes",
                    "split the payload at the source",
                )
            data = self.zf.read(info)
            if sha256_hex(data) != h or row["size"] != len(data):
                raise TransferError(f"payload {h} fails its SHA-256 / size check", "damaged file")
            self.check_type_known(row["type_name"])
            version = check_canonical(row["type_name"], data)  # decodes, re-encodes, compares
            if version != row["schema_version"]:
                raise InvalidInput(
                    f"schema_version {row['schema_version']} but the bytes hold version {version}",
                    "the file was altered: export it again from the source",
                )
            self.payload_types_[h] = row["type_name"]
            stored = self.s.execute(
                select(Payload.type_name, Payload.data).where(Payload.hash == h)
            ).first()
            if stored is not None:
                if stored[0] != row["type_name"] or bytes(stored[1]) != data:
                    raise _conflict("payload", h, "other type or bytes under the same hash")
                self.reused["payload"] += 1
                continue
            self.s.execute(insert(Payload), {**row, "data": data})
            self.added["payload"] += 1

    def tags(self, iovs: dict[str, list[dict[str, Any]]]) -> None:
        for row in self.rows(codecs.TAG):
            n = row.pop("_n")
            name = row["name"]
            state = _state(TagState, row["state"], "tag")
            self.check_type_known(row["type_name"])
            mine = iovs.pop(name, [])
            for i in mine:
                self.check_reference(codecs.IOV, i, name, row["type_name"])
                if row["locked_at"] is not None and i["insertion_time"] > row["locked_at"]:
                    raise InvalidInput(
                        f"IOV inserted at {codecs.encode_time(i['insertion_time'])}, after its tag "
                        f"was locked ({codecs.encode_time(row['locked_at'])})",
                        "the file was altered: export it again from the source",
                    )
            self.at(codecs.TAG, n, row)
            rows = [(i["since"], i["insertion_time"], i["payload_hash"]) for i in mine]
            existing = self.s.scalar(select(Tag).where(Tag.name == name))
            if existing is not None:
                stored = [
                    (since, t, h)
                    for since, t, h in self.s.execute(
                        select(IOV.since, IOV.insertion_time, IOV.payload_hash)
                        .where(IOV.tag_id == existing.id)
                        .order_by(IOV.id)
                    )
                ]
                if existing.type_name != row["type_name"] or existing.state is not state:
                    raise _conflict("tag", name, "other payload type or state")
                if sorted(stored) != sorted(rows):
                    raise _conflict("tag", name, f"{len(stored)} IOV rows there, {len(rows)} here")
                self.tag_ids[name] = existing.id
                self.tag_types[name] = existing.type_name
                self.reused["tag"] += 1
                self.reused["iov"] += len(rows)
                continue
            tag_id = self.s.execute(
                insert(Tag).returning(Tag.id),
                {**row, "state": TagState.OPEN, "locked_at": None},
            ).scalar_one()
            if rows:
                self.s.execute(
                    insert(IOV),
                    [
                        {"tag_id": tag_id, "since": since, "insertion_time": t, "payload_hash": h}
                        for since, t, h in rows
                    ],
                )
            if state is TagState.LOCKED:
                self.s.execute(
                    update(Tag)
                    .where(Tag.id == tag_id)
                    .values(state=TagState.LOCKED, locked_at=row["locked_at"])
                    .execution_options(synchronize_session=False)
                )
            self.tag_ids[name] = tag_id
            self.tag_types[name] = row["type_name"]
            self.added["tag"] += 1
            self.added["iov"] += len(rows)
        if iovs:
            first = next(iter(iovs.values()))[0]
            self.at(codecs.IOV, first["_n"], first)
            raise TransferError(f"IOVs of unknown tag {first['tag']!r} in the file", "damaged")

    def _tag_id(self, name: str, where: str) -> int:
        if name not in self.tag_ids:
            raise TransferError(f"{where} refers to tag {name!r} not in the file", "damaged file")
        return self.tag_ids[name]

    def global_tags(self, maps: dict[str, list[dict[str, Any]]]) -> None:
        for row in self.rows(codecs.GLOBAL_TAG):
            n = row.pop("_n")
            name = row["name"]
            state = _state(GlobalTagState, row["state"], "global_tag")
            history: list[tuple[str, int, dt.datetime]] = []
            for m in maps.pop(name, []):
                self.at(codecs.GLOBAL_TAG_MAP, m["_n"], m)
                history.append(
                    (
                        m["record"],
                        self._tag_id(m["tag"], f"global tag {name!r}"),
                        m["insertion_time"],
                    )
                )
            self.at(codecs.GLOBAL_TAG, n, row)
            existing = self.s.scalar(select(GlobalTag).where(GlobalTag.name == name))
            if existing is not None:
                stored = list(
                    self.s.execute(
                        select(
                            GlobalTagMap.record, GlobalTagMap.tag_id, GlobalTagMap.insertion_time
                        )
                        .where(GlobalTagMap.global_tag_id == existing.id)
                        .order_by(GlobalTagMap.id)
                    ).tuples()
                )
                if (existing.state, existing.snapshot_time) != (state, row["snapshot_time"]):
                    raise _conflict("global tag", name, "other state or snapshot time")
                if sorted(stored) != sorted(history):
                    raise _conflict("global tag", name, "other map history")
                self.reused["global_tag"] += 1
                self.reused["global_tag_map"] += len(history)
                continue
            gt_id = self.s.execute(
                insert(GlobalTag).returning(GlobalTag.id),
                {
                    **row,
                    "state": GlobalTagState.OPEN,
                    "snapshot_time": None,
                    "frozen_at": None,
                },
            ).scalar_one()
            for record, tag_id, t in history:
                self.s.execute(
                    insert(GlobalTagMap),
                    {
                        "global_tag_id": gt_id,
                        "record": record,
                        "tag_id": tag_id,
                        "insertion_time": t,
                    },
                )
            if state is not GlobalTagState.OPEN:  # filled open, then set to its final state
                self.s.execute(
                    update(GlobalTag)
                    .where(GlobalTag.id == gt_id)
                    .values(
                        state=state,
                        snapshot_time=row["snapshot_time"],
                        frozen_at=row["frozen_at"],
                    )
                    .execution_options(synchronize_session=False)
                )
            self.added["global_tag"] += 1
            self.added["global_tag_map"] += len(history)
        if maps:
            raise TransferError(f"map rows of unknown global tag {next(iter(maps))!r}", "damaged")

    def runs(self) -> None:
        for row in self.rows(codecs.RUN):
            row.pop("_n")
            values = (row["start_time"], row["end_time"], row["run_type"])
            existing = self.s.get(Run, row["run"])
            if existing is not None:
                if (existing.start_time, existing.end_time, existing.run_type) != values:
                    raise _conflict("run", str(row["run"]), "other start/end time or type")
                self.reused["run"] += 1
                continue
            self.s.execute(insert(Run), row)
            self.added["run"] += 1

    def campaigns(self, links: dict[str, list[dict[str, Any]]]) -> None:
        for row in self.rows(codecs.CAMPAIGN):
            n = row.pop("_n")
            name = row["name"]
            mine = links.pop(name, [])
            for k in mine:
                self.at(codecs.CAMPAIGN_PAYLOAD, k["_n"], k)
                self._tag_id(k["tag"], f"campaign {name!r}")
                self.check_reference(codecs.CAMPAIGN_PAYLOAD, k, k["tag"], self.tag_types[k["tag"]])
            self.at(codecs.CAMPAIGN, n, row)
            wanted = sorted(
                (k["record"], k["payload_hash"], self.tag_ids[k["tag"]], k["since"]) for k in mine
            )
            existing = self.s.scalar(select(Campaign).where(Campaign.name == name))
            if existing is not None:
                stored = sorted(
                    self.s.execute(
                        select(
                            CampaignPayload.record,
                            CampaignPayload.payload_hash,
                            CampaignPayload.tag_id,
                            CampaignPayload.since,
                        ).where(CampaignPayload.campaign_id == existing.id)
                    ).tuples()
                )
                if existing.manifest_sha256 != row["manifest_sha256"] or stored != wanted:
                    raise _conflict("campaign", name, "other inputs or constants")
                self.reused["campaign"] += 1
                self.reused["campaign_payload"] += len(wanted)
                continue
            campaign_id = self.s.execute(insert(Campaign).returning(Campaign.id), row).scalar_one()
            if wanted:
                self.s.execute(
                    insert(CampaignPayload),
                    [
                        {
                            "campaign_id": campaign_id,
                            "record": record,
                            "payload_hash": h,
                            "tag_id": tag_id,
                            "since": since,
                        }
                        for record, h, tag_id, since in wanted
                    ],
                )
            self.added["campaign"] += 1
            self.added["campaign_payload"] += len(wanted)
        if links:
            raise TransferError(f"links of unknown campaign {next(iter(links))!r}", "damaged file")


def import_file(
    engine: Engine,
    path: str | Path,
    *,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    key: bytes | None = None,
) -> TransferReport:
    """Import an export file into ``engine``'s database in one transaction (all or nothing).

    With ``key``, the manifest's HMAC-SHA256 is checked first (an unsigned file is refused).
    Then every member's declared size (payloads within ``max_payload_bytes``, before inflating
    any) and SHA-256; then every row passes the library's rules (:mod:`.codecs`, and here: type
    agreement and existing payloads, typed payloads that decode and re-encode to the same bytes,
    canonical JSON otherwise).  Raises :class:`TransferError` (one line naming the first bad row)
    for a damaged, forged or foreign file, :class:`TransferConflict` when the target holds an
    object of the same name with other content, :class:`~conditions.errors.SchemaOutdated` when
    the target's schema is not at the revision this code needs.  Identical objects already
    present are reused.  A refusal writes nothing (one transaction).
    """
    path = Path(path)
    migrate.require_head(engine)
    with open_archive(path) as zf:
        manifest = manifest_of(zf, path)
        if key is not None:
            check_signature(manifest, key, path)
        verify(zf, path, manifest, codecs.TABLES, max_payload_bytes)
        if manifest.get("schema_revision") != migrate.current_revision(engine):
            raise TransferError(
                f"{path} was written at schema revision {manifest.get('schema_revision')!r}, the "
                f"target is at {migrate.current_revision(engine)!r}",
                "upgrade the older side with `conddb db upgrade` and export again",
            )
        with write_session(engine) as s:
            importer = _Importer(s, zf, max_payload_bytes)
            try:
                importer.run()
                s.flush()
            except (TransferConflict, SchemaOutdated):
                raise
            except ConddbError as exc:  # the first bad row; the transaction rolls back
                raise TransferError(
                    f"{path}: {importer.where}: {exc.message}", exc.hint or "damaged file"
                ) from None
            except DBAPIError as exc:  # a rule the checks above missed: still one line
                raise TransferError(
                    f"{path}: {importer.where}: {from_db_error(exc).message}",
                    "the file breaks a rule of the database; nothing was written",
                ) from None
    listed = manifest["members"]
    rows = {t: int(listed[table_member(t)].get("rows", 0)) for t in codecs.TABLES}
    scope = (
        manifest.get("scope", {}).get("global_tag")
        if isinstance(manifest.get("scope"), dict)
        else None
    )
    return TransferReport(
        path, scope_text(scope), rows, dict(importer.added), dict(importer.reused)
    )


def table_counts(report: TransferReport) -> Iterable[tuple[str, int, int, int]]:
    """(table, rows in file, added, reused) for printing."""
    for t in codecs.TABLES:
        yield t, report.rows.get(t, 0), report.added.get(t, 0), report.reused.get(t, 0)
