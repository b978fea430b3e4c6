"""Import: verify an export file, then write it in one transaction (all or nothing).

Objects already present are reused only if their content is identical; an existing tag, global
tag, run, campaign or payload with other content is a :class:`TransferConflict` and nothing is
written.  Locked tags and published / invalid global tags are written open, filled, then set to
their final state with their original ``locked_at`` / ``frozen_at`` / ``snapshot_time`` /
``invalid_reason`` (the database triggers forbid adding rows to them afterwards).  A global tag's
lifecycle (validation reports, approvals, acknowledged drift flags) is written with it; the
queries are :mod:`conditions.store.transfer`'s.
"""

from __future__ import annotations

import datetime as dt
import enum
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from conditions import migrate
from conditions.db import write_session
from conditions.errors import ConddbError, Conflict, InvalidInput, SchemaOutdated, from_db_error
from conditions.services.documents import check_canonical
from conditions.store import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    GlobalTagState,
    TagState,
    TagSync,
    db_now,
    sha256_hex,
)
from conditions.store import transfer as db

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
        stored = db.stored_payload_type(self.s, h)
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
        if not db.payload_type_exists(self.s, type_name):
            raise InvalidInput(
                f"payload type {type_name!r} is in neither the file nor the target",
                "export it with its types",
            )

    def run(self) -> None:
        self.payload_types()
        self.payloads()
        self.tags(self.grouped(codecs.IOV, "tag"))
        lifecycle = {c.table: self.grouped(c, "global_tag") for c in LIFECYCLE_CODECS}
        self.global_tags(self.grouped(codecs.GLOBAL_TAG_MAP, "global_tag"), lifecycle)
        self.runs()
        self.processed_runs()
        self.campaigns(self.grouped(codecs.CAMPAIGN_PAYLOAD, "campaign"))

    def payload_types(self) -> None:
        for row in self.rows(codecs.PAYLOAD_TYPE):
            row.pop("_n")
            if db.payload_type_exists(self.s, row["name"]):
                self.reused["payload_type"] += 1
                continue
            db.insert_payload_type(self.s, row)
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
            self.check_type_known(row["type"])
            version = check_canonical(row["type"], data)  # decodes, re-encodes, compares
            if version != row["schema_version"]:
                raise InvalidInput(
                    f"schema_version {row['schema_version']} but the bytes hold version {version}",
                    "the file was altered: export it again from the source",
                )
            self.payload_types_[h] = row["type"]
            stored = db.stored_payload(self.s, h)
            if stored is not None:
                if stored != (row["type"], data):
                    raise _conflict("payload", h, "other type or bytes under the same hash")
                self.reused["payload"] += 1
                continue
            db.insert_payload(self.s, row, data)
            self.added["payload"] += 1

    def tags(self, iovs: dict[str, list[dict[str, Any]]]) -> None:
        for row in self.rows(codecs.TAG):
            n = row.pop("_n")
            name = row["name"]
            row["state"] = state = _state(TagState, row["state"], "tag")
            row["synchronization"] = _state(TagSync, row["synchronization"], "tag")
            self.check_type_known(row["type"])
            mine = iovs.pop(name, [])
            for i in mine:
                self.check_reference(codecs.IOV, i, name, row["type"])
                if row["locked_at"] is not None and i["insertion_time"] > row["locked_at"]:
                    raise InvalidInput(
                        f"IOV inserted at {codecs.encode_time(i['insertion_time'])}, after its tag "
                        f"was locked ({codecs.encode_time(row['locked_at'])})",
                        "the file was altered: export it again from the source",
                    )
            self.at(codecs.TAG, n, row)
            rows = [(i["since"], i["insertion_time"], i["payload_hash"]) for i in mine]
            existing = db.tag_by_name(self.s, name)
            if existing is not None:
                stored = db.iov_rows_of(self.s, existing.id)
                if (existing.type_name, existing.state, existing.synchronization) != (
                    row["type"], state, row["synchronization"]
                ):
                    raise _conflict("tag", name, "other payload type, state or synchronisation")
                if sorted(stored) != sorted(rows):
                    raise _conflict("tag", name, f"{len(stored)} IOV rows there, {len(rows)} here")
                self.tag_ids[name] = existing.id
                self.tag_types[name] = existing.type_name
                self.reused["tag"] += 1
                self.reused["iov"] += len(rows)
                continue
            self.tag_ids[name] = db.insert_tag(self.s, row, rows)
            self.tag_types[name] = row["type"]
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

    def global_tags(
        self,
        maps: dict[str, list[dict[str, Any]]],
        lifecycle: dict[str, dict[str, list[dict[str, Any]]]],
    ) -> None:
        names: set[str] = set()
        replacements: list[tuple[int, dict[str, Any], str]] = []
        for row in self.rows(codecs.GLOBAL_TAG):
            n = row.pop("_n")
            name = row["name"]
            names.add(name)
            row["state"] = state = _state(GlobalTagState, row["state"], "global_tag")
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
            mine = {table: self._lifecycle_rows(table, groups.pop(name, []))
                    for table, groups in lifecycle.items()}
            self.at(codecs.GLOBAL_TAG, n, row)
            if row["replaced_by"] is not None:
                replacements.append((n, row, row["replaced_by"]))
            existing = db.global_tag_by_name(self.s, name)
            if existing is not None:
                here = (state, row["snapshot_time"], row["invalid_reason"], row["replaced_by"])
                there = (existing.state, existing.snapshot_time, existing.invalid_reason,
                         existing.replaced_by)
                if here != there:
                    raise _conflict("global tag", name, "other state, snapshot time or reason")
                if sorted(db.map_history(self.s, existing.id)) != sorted(history):
                    raise _conflict("global tag", name, "other map history")
                stored = db.lifecycle_rows(self.s, existing.id, name)
                for table, wanted in mine.items():
                    if sorted(stored[table], key=repr) != sorted(wanted, key=repr):
                        raise _conflict("global tag", name, f"other {table.replace('_', ' ')}s")
                self.reused["global_tag"] += 1
                self.reused["global_tag_map"] += len(history)
                for table, wanted in mine.items():
                    self.reused[table] += len(wanted)
                continue
            gt_id = db.insert_global_tag(self.s, row, history)
            for table, wanted in mine.items():
                db.insert_lifecycle_rows(self.s, table, gt_id, name, wanted)
                self.added[table] += len(wanted)
            self.added["global_tag"] += 1
            self.added["global_tag_map"] += len(history)
        if maps:
            raise TransferError(f"map rows of unknown global tag {next(iter(maps))!r}", "damaged")
        for table, groups in lifecycle.items():
            if groups:
                raise TransferError(
                    f"{table.replace('_', ' ')} rows of unknown global tag {next(iter(groups))!r}",
                    "damaged file",
                )
        for n, row, other in replacements:  # the replacement exists, here or in the target
            self.at(codecs.GLOBAL_TAG, n, row)
            if other not in names and db.global_tag_by_name(self.s, other) is None:
                raise InvalidInput(
                    f"global tag {row['name']!r} is replaced by {other!r}, which is in neither "
                    "the file nor the target", "export the replacement too",
                )

    def _lifecycle_rows(self, table: str, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        """Rows of a lifecycle table as tuples of :data:`conditions.store.transfer.
        LIFECYCLE_COLUMNS` (what is compared with the target and written)."""
        columns = db.LIFECYCLE_COLUMNS[table][1]
        return [tuple(r[c] for c in columns) for r in rows]

    def runs(self) -> None:
        for row in self.rows(codecs.RUN):
            row.pop("_n")
            values = (row["start_time"], row["end_time"], row["run_type"])
            existing = db.stored_run(self.s, row["run"])
            if existing is not None:
                if (existing.start_time, existing.end_time, existing.run_type) != values:
                    raise _conflict("run", str(row["run"]), "other start/end time or type")
                self.reused["run"] += 1
                continue
            db.insert_run(self.s, row)
            self.added["run"] += 1

    def processed_runs(self) -> None:
        for row in self.rows(codecs.PROCESSED_RUN):
            row.pop("_n")
            existing = db.stored_processed_run(self.s, row["run"])
            if existing is not None:  # processed once is processed: who and when may differ
                self.reused["processed_run"] += 1
                continue
            db.insert_processed_run(self.s, row)  # the trigger raises the FCSR
            self.added["processed_run"] += 1

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
            existing = db.campaign_by_name(self.s, name)
            if existing is not None:
                stored = db.campaign_links(self.s, existing.id)
                if existing.manifest_sha256 != row["manifest_sha256"] or stored != wanted:
                    raise _conflict("campaign", name, "other inputs or constants")
                self.reused["campaign"] += 1
                self.reused["campaign_payload"] += len(wanted)
                continue
            db.insert_campaign(self.s, row, wanted)
            self.added["campaign"] += 1
            self.added["campaign_payload"] += len(wanted)
        if links:
            raise TransferError(f"links of unknown campaign {next(iter(links))!r}", "damaged file")


#: The lifecycle tables that belong to a global tag (written with it).
LIFECYCLE_CODECS = (codecs.VALIDATION_REPORT, codecs.GLOBAL_TAG_APPROVAL, codecs.DRIFT_ACK)


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
