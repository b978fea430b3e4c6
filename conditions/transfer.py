"""Export and import of a conditions database (whole, or one global tag with all it references).

The export file is one zip archive:

* ``manifest.json`` – format name and version, schema revision, scope, creation time, and for every
  other member its SHA-256, size [bytes] and number of rows;
* ``tables/<table>.jsonl`` – one JSON object per row; rows refer to each other by *name* (tag,
  global tag, campaign) or payload hash, never by the database's surrogate ids, so a file made on
  SQLite imports into PostgreSQL and back;
* ``payloads/<sha256>`` – the canonical payload bytes; the member name is their SHA-256.

What is kept: payload types; payloads (bytes, type, schema version, size, provenance, created
time); tags with *every* IOV row (since, insertion time, payload) – superseded rows included, so
``as_of`` replays answer the same after a round trip; global tags with their whole map history and
states (a frozen global tag keeps its snapshot time); the run registry (whole-database exports);
campaign records and their links.

Import (:func:`import_file`) verifies the manifest and every SHA-256 before it writes anything, then
writes everything in one transaction (all or nothing).  Objects already present are reused only if
their content is identical; an existing tag, global tag, run, campaign or payload with other content
is a :class:`TransferConflict` and nothing is written.  Locked tags and frozen global tags are
written open, filled, then set to their final state with their original ``locked_at`` /
``frozen_at`` / ``snapshot_time`` (the database triggers forbid adding rows to them afterwards).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from . import migrate
from .db import read_session, write_session
from .errors import Conflict, InvalidInput
from .model import (
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
from .store import check_name, get_global_tag, sha256_hex

#: Name and version of the file format written by :func:`export_file`.
FORMAT = "juno-conddb-export"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"

#: Table members in the order they are written and imported (references point backwards).
TABLES = (
    "payload_type",
    "payload",
    "tag",
    "iov",
    "global_tag",
    "global_tag_map",
    "run",
    "campaign",
    "campaign_payload",
)

_CHUNK = 1 << 20  # bytes read at a time when hashing a member


class TransferError(InvalidInput):
    """The export file is unreadable, of another format, or fails its SHA-256 checks."""


class TransferConflict(Conflict):
    """The target database already holds an object of the same name with other content."""


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


# --- row encoding --------------------------------------------------------------------------------
def _time(value: dt.datetime | None) -> str | None:
    """Aware UTC datetime -> ISO 8601 with microseconds (the resolution of both backends)."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _parse_time(value: Any, what: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise TransferError(f"bad time {value!r} in {what}", "the export file is damaged") from None
    if parsed.tzinfo is None:
        raise TransferError(f"time {value!r} in {what} has no zone", "the file is damaged")
    return parsed.astimezone(dt.UTC)


def _need_time(value: Any, what: str) -> dt.datetime:
    parsed = _parse_time(value, what)
    if parsed is None:
        raise TransferError(f"missing time in {what}", "the export file is damaged")
    return parsed


# --- export --------------------------------------------------------------------------------------
@dataclass
class _Selection:
    """Surrogate ids of the rows to export (None: every row of the table)."""

    tag_ids: set[int] | None = None
    gt_ids: set[int] | None = None
    campaign_ids: set[int] | None = None
    payload_hashes: set[str] | None = None


def _select_global_tag(s: Session, name: str) -> _Selection:
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
    return _Selection(tag_ids, {gt.id}, campaign_ids, hashes)


class _MemberWriter:
    """Writes JSON lines into one zip member while hashing them."""

    def __init__(self, archive: zipfile.ZipFile, name: str) -> None:
        self.name = name
        self._out: IO[bytes] = archive.open(name, "w", force_zip64=True)
        self._sha = hashlib.sha256()
        self.size = 0
        self.rows = 0

    def write(self, row: dict[str, Any]) -> None:
        line = (json.dumps(row, sort_keys=True, separators=(",", ":")) + "\n").encode()
        self._out.write(line)
        self._sha.update(line)
        self.size += len(line)
        self.rows += 1

    def close(self) -> dict[str, Any]:
        self._out.close()
        return {"sha256": self._sha.hexdigest(), "bytes": self.size, "rows": self.rows}


def _in(column: Any, ids: set[Any] | None) -> list[Any]:
    """WHERE clause list restricting ``column`` to ``ids`` (nothing when ids is None)."""
    return [] if ids is None else [column.in_(sorted(ids))]


def _table_rows(s: Session, table: str, sel: _Selection) -> Iterator[dict[str, Any]]:
    """The rows of ``table`` selected by ``sel``, as JSON-ready dicts (names instead of ids)."""
    tag_names = dict(s.execute(select(Tag.id, Tag.name)).tuples().all())
    if table == "payload_type":
        types = None
        if sel.tag_ids is not None:
            assert sel.payload_hashes is not None
            types = set(s.scalars(select(Tag.type_name).where(Tag.id.in_(sel.tag_ids))))
            types |= set(
                s.scalars(select(Payload.type_name).where(Payload.hash.in_(sel.payload_hashes)))
            )
        stmt = select(PayloadType).where(*_in(PayloadType.name, types))
        for pt in s.scalars(stmt.order_by(PayloadType.name)):
            yield {
                "name": pt.name,
                "description": pt.description,
                "created_at": _time(pt.created_at),
            }
    elif table == "payload":
        stmt2 = select(Payload).where(*_in(Payload.hash, sel.payload_hashes))
        for p in s.scalars(stmt2.order_by(Payload.hash)):
            yield {
                "hash": p.hash,
                "type_name": p.type_name,
                "schema_version": p.schema_version,
                "size": p.size,
                "provenance": p.provenance,
                "created_at": _time(p.created_at),
            }
    elif table == "tag":
        for t in s.scalars(select(Tag).where(*_in(Tag.id, sel.tag_ids)).order_by(Tag.name)):
            yield {
                "name": t.name,
                "type_name": t.type_name,
                "state": t.state.value,
                "description": t.description,
                "created_at": _time(t.created_at),
                "locked_at": _time(t.locked_at),
            }
    elif table == "iov":
        stmt3 = select(IOV.tag_id, IOV.since, IOV.insertion_time, IOV.payload_hash).where(
            *_in(IOV.tag_id, sel.tag_ids)
        )
        stmt3 = stmt3.join(Tag, Tag.id == IOV.tag_id).order_by(Tag.name, IOV.id)  # canonical
        for tag_id, since, inserted, h in s.execute(stmt3):
            yield {
                "tag": tag_names[tag_id],
                "since": since,
                "insertion_time": _time(inserted),
                "payload_hash": h,
            }
    elif table == "global_tag":
        stmt4 = select(GlobalTag).where(*_in(GlobalTag.id, sel.gt_ids)).order_by(GlobalTag.name)
        for g in s.scalars(stmt4):
            yield {
                "name": g.name,
                "state": g.state.value,
                "snapshot_time": _time(g.snapshot_time),
                "description": g.description,
                "created_at": _time(g.created_at),
                "frozen_at": _time(g.frozen_at),
            }
    elif table == "global_tag_map":
        gt_names = dict(s.execute(select(GlobalTag.id, GlobalTag.name)).tuples().all())
        stmt5 = select(GlobalTagMap).where(*_in(GlobalTagMap.global_tag_id, sel.gt_ids))
        stmt5 = stmt5.join(GlobalTag, GlobalTag.id == GlobalTagMap.global_tag_id)
        for m in s.scalars(stmt5.order_by(GlobalTag.name, GlobalTagMap.id)):
            yield {
                "global_tag": gt_names[m.global_tag_id],
                "record": m.record,
                "tag": tag_names[m.tag_id],
                "insertion_time": _time(m.insertion_time),
            }
    elif table == "run":
        if sel.tag_ids is None:  # the run registry belongs to whole-database exports only
            for r in s.scalars(select(Run).order_by(Run.run)):
                yield {
                    "run": r.run,
                    "start_time": _time(r.start_time),
                    "end_time": _time(r.end_time),
                    "run_type": r.run_type,
                }
    elif table == "campaign":
        stmt6 = select(Campaign).where(*_in(Campaign.id, sel.campaign_ids))
        for c in s.scalars(stmt6.order_by(Campaign.name)):
            yield {
                "name": c.name,
                "kind": c.kind,
                "first_run": c.first_run,
                "last_run": c.last_run,
                "manifest_sha256": c.manifest_sha256,
                "info": c.info,
                "created_at": _time(c.created_at),
            }
    elif table == "campaign_payload":
        names = dict(s.execute(select(Campaign.id, Campaign.name)).tuples().all())
        stmt7 = select(CampaignPayload).where(*_in(CampaignPayload.campaign_id, sel.campaign_ids))
        for link in s.scalars(
            stmt7.join(Campaign, Campaign.id == CampaignPayload.campaign_id).order_by(
                Campaign.name, CampaignPayload.record
            )
        ):
            yield {
                "campaign": names[link.campaign_id],
                "record": link.record,
                "payload_hash": link.payload_hash,
                "tag": tag_names[link.tag_id],
                "since": link.since,
            }
    else:  # pragma: no cover - TABLES is closed
        raise AssertionError(table)


def export_file(
    engine: Engine, path: str | Path, *, global_tag: str | None = None
) -> TransferReport:
    """Write the whole database, or ``global_tag`` with all it references, to the zip ``path``.

    The export reads in one transaction (a consistent snapshot on PostgreSQL; on SQLite the read
    transaction holds its WAL snapshot).  An existing file is overwritten only once the new one is
    complete (written to ``path.part`` first, then renamed).
    """
    path = Path(path)
    part = path.with_name(path.name + ".part")
    members: dict[str, dict[str, Any]] = {}
    revision = migrate.current_revision(engine)
    snapshot = engine
    if engine.dialect.name == "postgresql":  # one consistent snapshot for every table
        snapshot = engine.execution_options(isolation_level="REPEATABLE READ")
    with read_session(snapshot) as s, s.begin():
        sel = _Selection() if global_tag is None else _select_global_tag(s, global_tag)
        with zipfile.ZipFile(part, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
            for table in TABLES:
                writer = _MemberWriter(zf, f"tables/{table}.jsonl")
                hashes: list[str] = []
                for row in _table_rows(s, table, sel):
                    writer.write(row)
                    if table == "payload":
                        hashes.append(row["hash"])
                members[writer.name] = writer.close()
                for h in hashes:
                    data = s.scalar(select(Payload.data).where(Payload.hash == h))
                    assert data is not None
                    data = bytes(data)
                    name = f"payloads/{h}"
                    zf.writestr(name, data)
                    members[name] = {"sha256": sha256_hex(data), "bytes": len(data), "rows": 1}
            manifest = {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "schema_revision": revision,
                "scope": {"global_tag": global_tag},
                "created_at": _time(dt.datetime.now(dt.UTC)),
                "members": members,
            }
            zf.writestr(MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
    part.replace(path)
    rows = {t: members[f"tables/{t}.jsonl"]["rows"] for t in TABLES}
    return TransferReport(path, _scope(global_tag), rows)


def _scope(global_tag: str | None) -> str:
    return "database" if global_tag is None else f"global tag {global_tag}"


# --- reading and verifying a file ----------------------------------------------------------------
def _open_archive(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise TransferError(
            f"{path} is not a conddb export (not a zip file)", "check the file"
        ) from None


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of an export file (checked for format and version, not yet for hashes)."""
    path = Path(path)
    with _open_archive(path) as zf:
        return _manifest(zf, path)


def _manifest(zf: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(zf.read(MANIFEST))
    except KeyError:
        raise TransferError(f"{path} has no {MANIFEST}", "it is not a conddb export") from None
    except (ValueError, zipfile.BadZipFile) as exc:
        raise TransferError(f"{path}: unreadable manifest ({exc})", "the file is damaged") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise TransferError(f"{path} is not a {FORMAT} file", "give a file made by `conddb export`")
    if manifest.get("version") != FORMAT_VERSION:
        raise TransferError(
            f"{path} has format version {manifest.get('version')!r}, this conddb reads "
            f"{FORMAT_VERSION}",
            "use the conddb version that wrote it",
        )
    members = manifest.get("members")
    if not isinstance(members, dict):
        raise TransferError(f"{path}: manifest lists no members", "the file is damaged")
    return manifest


def _member_sha256(zf: zipfile.ZipFile, name: str) -> tuple[str, int]:
    sha = hashlib.sha256()
    size = 0
    with zf.open(name) as member:
        while chunk := member.read(_CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), size


def verify_file(path: str | Path) -> dict[str, Any]:
    """Check the manifest, every member's SHA-256 and size, and that each payload member's name is
    the SHA-256 of its bytes.  Returns the manifest; raises :class:`TransferError`."""
    path = Path(path)
    with _open_archive(path) as zf:
        manifest = _manifest(zf, path)
        _verify(zf, path, manifest)
    return manifest


def _verify(zf: zipfile.ZipFile, path: Path, manifest: dict[str, Any]) -> None:
    listed: dict[str, Any] = manifest["members"]
    present = set(zf.namelist()) - {MANIFEST}
    unlisted = sorted(present - set(listed))
    if unlisted:
        raise TransferError(f"{path}: member {unlisted[0]} is not in the manifest", "damaged file")
    for table in TABLES:
        if f"tables/{table}.jsonl" not in listed:
            raise TransferError(f"{path}: table {table} missing from the manifest", "damaged file")
    for name, entry in sorted(listed.items()):
        if name not in present:
            raise TransferError(f"{path}: member {name} is missing", "the file is damaged")
        try:
            digest, size = _member_sha256(zf, name)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise TransferError(
                f"{path}: member {name} unreadable ({exc})", "damaged file"
            ) from None
        if (
            not isinstance(entry, dict)
            or entry.get("sha256") != digest
            or entry.get("bytes") != size
        ):
            raise TransferError(
                f"{path}: SHA-256 check of {name} failed", "the file is damaged or was altered"
            )
        if name.startswith("payloads/") and name != f"payloads/{digest}":
            raise TransferError(
                f"{path}: payload member {name} does not hold the bytes of its hash",
                "the file is damaged or was altered",
            )


def _rows(zf: zipfile.ZipFile, table: str) -> Iterator[dict[str, Any]]:
    with zf.open(f"tables/{table}.jsonl") as member:
        for n, line in enumerate(io.TextIOWrapper(member, encoding="utf-8"), 1):
            try:
                row = json.loads(line)
            except ValueError:
                raise TransferError(
                    f"tables/{table}.jsonl line {n} is not JSON", "damaged file"
                ) from None
            if not isinstance(row, dict):
                raise TransferError(f"tables/{table}.jsonl line {n} is not an object", "damaged")
            yield row


# --- import --------------------------------------------------------------------------------------
def _field(row: dict[str, Any], key: str, kind: type | tuple[type, ...], table: str) -> Any:
    value = row.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise TransferError(f"{table} row has a bad {key!r}: {value!r}", "the file is damaged")
    return value


def _conflict(what: str, name: str, detail: str) -> TransferConflict:
    return TransferConflict(
        f"{what} {name!r} already exists in the target with other content ({detail})",
        "import into another database, or rename / remove it there first; nothing was written",
    )


class _Importer:
    """Writes the rows of one verified archive into the session's transaction."""

    def __init__(self, s: Session, zf: zipfile.ZipFile) -> None:
        self.s = s
        self.zf = zf
        self.added: dict[str, int] = defaultdict(int)
        self.reused: dict[str, int] = defaultdict(int)
        self.tag_ids: dict[str, int] = {}
        self.gt_ids: dict[str, int] = {}
        self.campaign_ids: dict[str, int] = {}

    def run(self) -> None:
        self.payload_types()
        self.payloads()
        iovs: dict[str, list[tuple[int, dt.datetime, str]]] = defaultdict(list)
        for row in _rows(self.zf, "iov"):
            iovs[_field(row, "tag", str, "iov")].append(
                (
                    _field(row, "since", int, "iov"),
                    _need_time(row.get("insertion_time"), "iov"),
                    _field(row, "payload_hash", str, "iov"),
                )
            )
        self.tags(iovs)
        maps: dict[str, list[tuple[str, str, dt.datetime]]] = defaultdict(list)
        for row in _rows(self.zf, "global_tag_map"):
            maps[_field(row, "global_tag", str, "global_tag_map")].append(
                (
                    _field(row, "record", str, "global_tag_map"),
                    _field(row, "tag", str, "global_tag_map"),
                    _need_time(row.get("insertion_time"), "global_tag_map"),
                )
            )
        self.global_tags(maps)
        self.runs()
        self.campaigns()

    def payload_types(self) -> None:
        for row in _rows(self.zf, "payload_type"):
            name = check_name("payload type", _field(row, "name", str, "payload_type"))
            if self.s.get(PayloadType, name) is not None:
                self.reused["payload_type"] += 1
                continue
            self.s.execute(
                insert(PayloadType),
                {
                    "name": name,
                    "description": _field(row, "description", str, "payload_type"),
                    "created_at": _need_time(row.get("created_at"), "payload_type"),
                },
            )
            self.added["payload_type"] += 1

    def payloads(self) -> None:
        for row in _rows(self.zf, "payload"):
            h = _field(row, "hash", str, "payload")
            type_name = _field(row, "type_name", str, "payload")
            try:
                data = self.zf.read(f"payloads/{h}")
            except KeyError:
                raise TransferError(f"payload {h} has no bytes in the file", "damaged") from None
            if sha256_hex(data) != h or row.get("size") != len(data):
                raise TransferError(f"payload {h} fails its SHA-256 / size check", "damaged file")
            stored = self.s.execute(
                select(Payload.type_name, Payload.data).where(Payload.hash == h)
            ).first()
            if stored is not None:
                if stored[0] != type_name or bytes(stored[1]) != data:
                    raise _conflict("payload", h, "other type or bytes under the same hash")
                self.reused["payload"] += 1
                continue
            self.s.execute(
                insert(Payload),
                {
                    "hash": h,
                    "type_name": type_name,
                    "schema_version": _field(row, "schema_version", int, "payload"),
                    "data": data,
                    "size": len(data),
                    "provenance": _field(row, "provenance", dict, "payload"),
                    "created_at": _need_time(row.get("created_at"), "payload"),
                },
            )
            self.added["payload"] += 1

    def tags(self, iovs: dict[str, list[tuple[int, dt.datetime, str]]]) -> None:
        for row in _rows(self.zf, "tag"):
            name = check_name("tag", _field(row, "name", str, "tag"))
            type_name = _field(row, "type_name", str, "tag")
            state = TagState(_field(row, "state", str, "tag"))
            locked_at = _parse_time(row.get("locked_at"), "tag")
            rows = iovs.pop(name, [])
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
                if existing.type_name != type_name or existing.state is not state:
                    raise _conflict("tag", name, "other payload type or state")
                if sorted(stored) != sorted(rows):
                    raise _conflict("tag", name, f"{len(stored)} IOV rows there, {len(rows)} here")
                self.tag_ids[name] = existing.id
                self.reused["tag"] += 1
                self.reused["iov"] += len(rows)
                continue
            tag_id = self.s.execute(
                insert(Tag).returning(Tag.id),
                {
                    "name": name,
                    "type_name": type_name,
                    "state": TagState.OPEN,
                    "description": _field(row, "description", str, "tag"),
                    "created_at": _need_time(row.get("created_at"), "tag"),
                    "locked_at": None,
                },
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
                    .values(state=TagState.LOCKED, locked_at=locked_at)
                    .execution_options(synchronize_session=False)
                )
            self.tag_ids[name] = tag_id
            self.added["tag"] += 1
            self.added["iov"] += len(rows)
        if iovs:
            raise TransferError(f"IOVs of unknown tag {next(iter(iovs))!r} in the file", "damaged")

    def _tag_id(self, name: str, where: str) -> int:
        if name not in self.tag_ids:
            raise TransferError(f"{where} refers to tag {name!r} not in the file", "damaged file")
        return self.tag_ids[name]

    def global_tags(self, maps: dict[str, list[tuple[str, str, dt.datetime]]]) -> None:
        for row in _rows(self.zf, "global_tag"):
            name = check_name("global tag", _field(row, "name", str, "global_tag"))
            state = GlobalTagState(_field(row, "state", str, "global_tag"))
            snapshot = _parse_time(row.get("snapshot_time"), "global_tag")
            history = [
                (record, self._tag_id(tag, f"global tag {name!r}"), t)
                for record, tag, t in maps.pop(name, [])
            ]
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
                if (existing.state, existing.snapshot_time) != (state, snapshot):
                    raise _conflict("global tag", name, "other state or snapshot time")
                if sorted(stored) != sorted(history):
                    raise _conflict("global tag", name, "other map history")
                self.gt_ids[name] = existing.id
                self.reused["global_tag"] += 1
                self.reused["global_tag_map"] += len(history)
                continue
            gt_id = self.s.execute(
                insert(GlobalTag).returning(GlobalTag.id),
                {
                    "name": name,
                    "state": GlobalTagState.OPEN,
                    "snapshot_time": None,
                    "description": _field(row, "description", str, "global_tag"),
                    "created_at": _need_time(row.get("created_at"), "global_tag"),
                    "frozen_at": None,
                },
            ).scalar_one()
            for record, tag_id, t in history:
                check_name("record", record)
                self.s.execute(
                    insert(GlobalTagMap),
                    {
                        "global_tag_id": gt_id,
                        "record": record,
                        "tag_id": tag_id,
                        "insertion_time": t,
                    },
                )
            if state is GlobalTagState.FROZEN:
                self.s.execute(
                    update(GlobalTag)
                    .where(GlobalTag.id == gt_id)
                    .values(
                        state=GlobalTagState.FROZEN,
                        snapshot_time=snapshot,
                        frozen_at=_parse_time(row.get("frozen_at"), "global_tag"),
                    )
                    .execution_options(synchronize_session=False)
                )
            self.gt_ids[name] = gt_id
            self.added["global_tag"] += 1
            self.added["global_tag_map"] += len(history)
        if maps:
            raise TransferError(f"map rows of unknown global tag {next(iter(maps))!r}", "damaged")

    def runs(self) -> None:
        for row in _rows(self.zf, "run"):
            run = _field(row, "run", int, "run")
            values = (
                _parse_time(row.get("start_time"), "run"),
                _parse_time(row.get("end_time"), "run"),
                _field(row, "run_type", str, "run"),
            )
            existing = self.s.get(Run, run)
            if existing is not None:
                if (existing.start_time, existing.end_time, existing.run_type) != values:
                    raise _conflict("run", str(run), "other start/end time or type")
                self.reused["run"] += 1
                continue
            self.s.execute(
                insert(Run),
                {"run": run, "start_time": values[0], "end_time": values[1], "run_type": values[2]},
            )
            self.added["run"] += 1

    def campaigns(self) -> None:
        links: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in _rows(self.zf, "campaign_payload"):
            links[_field(row, "campaign", str, "campaign_payload")].append(row)
        for row in _rows(self.zf, "campaign"):
            name = _field(row, "name", str, "campaign")
            wanted = sorted(
                (
                    _field(link, "record", str, "campaign_payload"),
                    _field(link, "payload_hash", str, "campaign_payload"),
                    self._tag_id(
                        _field(link, "tag", str, "campaign_payload"), f"campaign {name!r}"
                    ),
                    _field(link, "since", int, "campaign_payload"),
                )
                for link in links.pop(name, [])
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
                if existing.manifest_sha256 != row.get("manifest_sha256") or stored != wanted:
                    raise _conflict("campaign", name, "other inputs or constants")
                self.reused["campaign"] += 1
                self.reused["campaign_payload"] += len(wanted)
                continue
            campaign_id = self.s.execute(
                insert(Campaign).returning(Campaign.id),
                {
                    "name": name,
                    "kind": _field(row, "kind", str, "campaign"),
                    "first_run": _field(row, "first_run", int, "campaign"),
                    "last_run": _field(row, "last_run", int, "campaign"),
                    "manifest_sha256": _field(row, "manifest_sha256", str, "campaign"),
                    "info": _field(row, "info", dict, "campaign"),
                    "created_at": _need_time(row.get("created_at"), "campaign"),
                },
            ).scalar_one()
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


def import_file(engine: Engine, path: str | Path) -> TransferReport:
    """Import an export file into ``engine``'s database in one transaction (all or nothing).

    Verifies the manifest and every SHA-256 first; raises :class:`TransferError` for a damaged or
    foreign file, :class:`TransferConflict` when the target holds an object of the same name with
    other content, :class:`~conditions.errors.SchemaOutdated` when the target's schema is not at
    the revision this code needs.  Identical objects already present are reused.
    """
    path = Path(path)
    migrate.require_head(engine)
    with _open_archive(path) as zf:
        manifest = _manifest(zf, path)
        _verify(zf, path, manifest)
        if manifest.get("schema_revision") != migrate.current_revision(engine):
            raise TransferError(
                f"{path} was written at schema revision {manifest.get('schema_revision')!r}, the "
                f"target is at {migrate.current_revision(engine)!r}",
                "upgrade the older side with `conddb db upgrade` and export again",
            )
        with write_session(engine) as s:
            importer = _Importer(s, zf)
            importer.run()
    listed = manifest["members"]
    rows = {t: int(listed[f"tables/{t}.jsonl"].get("rows", 0)) for t in TABLES}
    scope = (
        manifest.get("scope", {}).get("global_tag")
        if isinstance(manifest.get("scope"), dict)
        else None
    )
    return TransferReport(path, _scope(scope), rows, dict(importer.added), dict(importer.reused))


def table_counts(report: TransferReport) -> Iterable[tuple[str, int, int, int]]:
    """(table, rows in file, added, reused) for printing."""
    for t in TABLES:
        yield t, report.rows.get(t, 0), report.added.get(t, 0), report.reused.get(t, 0)
