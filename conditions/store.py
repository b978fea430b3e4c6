"""Write path: payloads, tags, IOVs, global tags, runs.

Every function takes an open :class:`~sqlalchemy.orm.Session` inside a write transaction (see
:func:`conditions.db.write_session`), so several calls compose into one atomic unit: a campaign
upload either lands whole or not at all.  The functions check the domain rules themselves and raise
typed errors from :mod:`conditions.errors`; database triggers (migration 0001) and the ORM guard
(:mod:`conditions.guards`) refuse the same changes on paths that bypass this module.

Concurrency: appends to one tag serialise on the tag row (``SELECT ... FOR UPDATE`` on
PostgreSQL; on SQLite the write transaction already holds the database lock from
``BEGIN IMMEDIATE``), so concurrent writers neither lose nor duplicate IOVs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from .errors import (
    AlreadyExists,
    GlobalTagFrozen,
    GlobalTagNotFound,
    HashCollision,
    InvalidInput,
    InvalidIOV,
    InvalidName,
    PayloadNotFound,
    PayloadTooLarge,
    PayloadTypeNotFound,
    RunNotFound,
    TagLocked,
    TagNotFound,
)
from .model import (
    IOV,
    NAME_LENGTH,
    GlobalTag,
    GlobalTagMap,
    GlobalTagState,
    Payload,
    PayloadType,
    Run,
    Tag,
    TagState,
    utcnow,
)

#: Names of tags, global tags, records and payload types: a letter or digit, then letters,
#: digits, ``_ . -``; at most 100 characters.  No spaces, quotes or slashes (names appear in URLs).
NAME_PATTERN = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9_.\-]{{0,{NAME_LENGTH - 1}}}$")

#: Default upper limit of one payload's size [bytes]; configurable per call.
DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024 * 1024

#: Largest run number accepted (signed 63-bit, the BIGINT range).
MAX_RUN = 2**63 - 1


def db_now(s: Session) -> dt.datetime:
    """The time of the database server (PostgreSQL ``clock_timestamp()``; SQLite: this host).

    IOV insertion times, map rows and snapshot times all come from this one clock, never from
    the clocks of the many hosts that write: a writer whose clock runs late could otherwise slip
    an IOV under the snapshot of an already frozen global tag, or insert a superseding row that
    sorts before the row it supersedes.  Call it after the row locks are held.
    """
    if s.get_bind().dialect.name == "postgresql":
        now = s.scalar(select(func.clock_timestamp()))
        assert isinstance(now, dt.datetime)
        return now.astimezone(dt.UTC)
    return utcnow()


def check_name(kind: str, name: str) -> str:
    """Return ``name`` if it is a valid name for ``kind``, else raise :class:`InvalidName`."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise InvalidName(
            f"invalid {kind} name {name!r}",
            f"use 1-{NAME_LENGTH} characters of A-Z a-z 0-9 _ . - starting with a letter or digit",
        )
    return name


def check_run(run: int, what: str = "run") -> int:
    """Return ``run`` if it is a valid run number (0 <= run < 2**63)."""
    if isinstance(run, bool) or not isinstance(run, int) or not 0 <= run <= MAX_RUN:
        raise InvalidIOV(f"invalid {what} {run!r}", "run numbers are integers from 0 to 2**63-1")
    return run


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data``: the payload's identity."""
    return hashlib.sha256(data).hexdigest()


# --- payload types -------------------------------------------------------------------------------
def register_payload_type(s: Session, name: str, description: str = "") -> PayloadType:
    """Register a payload type; registering an existing one is a no-op."""
    check_name("payload type", name)
    existing = s.get(PayloadType, name)
    if existing is not None:
        return existing
    ptype = PayloadType(name=name, description=description, created_at=utcnow())
    s.add(ptype)
    s.flush()
    return ptype


def _valid_name(name: object) -> bool:
    """Whether ``name`` could name anything: names are checked when created, so a lookup of an
    invalid one (e.g. with a NUL byte, which PostgreSQL refuses in text) finds nothing."""
    return isinstance(name, str) and NAME_PATTERN.match(name) is not None


def get_payload_type(s: Session, name: str) -> PayloadType:
    ptype = s.get(PayloadType, name) if _valid_name(name) else None
    if ptype is None:
        known = ", ".join(s.scalars(select(PayloadType.name).order_by(PayloadType.name))) or "none"
        raise PayloadTypeNotFound(
            f"unknown payload type {name!r}", f"known types: {known}; register new ones first"
        )
    return ptype


def list_payload_types(s: Session) -> Sequence[PayloadType]:
    """Every registered payload type, by name."""
    return s.scalars(select(PayloadType).order_by(PayloadType.name)).all()


# --- payloads ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PutResult:
    """Outcome of :func:`put_payload`: the hash and whether new bytes were stored."""

    hash: str
    created: bool


def put_payload(
    s: Session,
    type_name: str,
    data: bytes,
    *,
    schema_version: int = 1,
    provenance: dict[str, Any] | None = None,
    max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
) -> PutResult:
    """Store ``data`` as a payload of ``type_name`` unless the same bytes are already stored.

    The hash is the SHA-256 of ``data`` (which must already be canonical bytes).  Putting the same
    content twice returns the same hash and stores nothing; the first provenance is kept.
    Raises :class:`HashCollision` if a stored payload has this hash but different bytes or type.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidInput("payload data must be bytes", "encode the payload first")
    data = bytes(data)
    if len(data) > max_bytes:
        raise PayloadTooLarge(
            f"payload of {len(data)} bytes exceeds the limit of {max_bytes} bytes",
            "split the payload or raise the limit (CONDDB_MAX_PAYLOAD_BYTES)",
        )
    get_payload_type(s, type_name)
    digest = sha256_hex(data)
    row = {
        "hash": digest,
        "type_name": type_name,
        "schema_version": int(schema_version),
        "data": data,
        "size": len(data),
        "provenance": provenance or {},
        "created_at": utcnow(),
    }
    dialect = s.get_bind().dialect.name
    insert_row = (pg_insert if dialect == "postgresql" else sqlite_insert)(Payload).values(**row)
    stmt = insert_row.on_conflict_do_nothing(index_elements=["hash"]).returning(Payload.hash)
    if s.execute(stmt).first() is not None:
        return PutResult(digest, True)
    stored_type, stored_data = s.execute(
        select(Payload.type_name, Payload.data).where(Payload.hash == digest)
    ).one()
    if stored_data != data:
        raise HashCollision(
            f"payload {digest} is stored with different bytes",
            "the database may be corrupt; run `conddb payload show` on it and contact the admins",
        )
    if stored_type != type_name:
        raise HashCollision(
            f"payload {digest} is already stored as type {stored_type!r}, not {type_name!r}",
            f"use type {stored_type!r} or change the content",
        )
    return PutResult(digest, False)


def get_payload(s: Session, payload_hash: str) -> Payload:
    """The payload row (without loading its bytes) for a full hex hash."""
    payload = s.get(Payload, payload_hash) if isinstance(payload_hash, str) else None
    if payload is None:
        raise PayloadNotFound(
            f"no payload with hash {payload_hash!r}",
            "give the full 64-character hash printed by `conddb payload put`",
        )
    return payload


def payload_bytes(s: Session, payload_hash: str) -> bytes:
    """The canonical bytes of a payload."""
    data = s.scalar(select(Payload.data).where(Payload.hash == payload_hash))
    if data is None:
        get_payload(s, payload_hash)  # raises PayloadNotFound
    assert data is not None
    return bytes(data)


def find_payload(s: Session, prefix: str) -> Payload:
    """The payload whose hash starts with ``prefix`` (at least 8 hex digits, unambiguous)."""
    if not isinstance(prefix, str) or not re.fullmatch(r"[0-9a-f]{8,64}", prefix):
        raise PayloadNotFound(
            f"invalid payload hash {prefix!r}", "give at least 8 lowercase hex digits of the hash"
        )
    if len(prefix) == 64:
        return get_payload(s, prefix)
    found = s.scalars(select(Payload).where(Payload.hash.startswith(prefix)).limit(2)).all()
    if not found:
        raise PayloadNotFound(f"no payload hash starts with {prefix!r}", "check the hash")
    if len(found) > 1:
        raise PayloadNotFound(f"hash prefix {prefix!r} is ambiguous", "give more hex digits")
    return found[0]


# --- tags ----------------------------------------------------------------------------------------
def create_tag(s: Session, name: str, type_name: str, description: str = "") -> Tag:
    """Create an open tag holding payloads of ``type_name``."""
    check_name("tag", name)
    get_payload_type(s, type_name)
    if s.scalar(select(Tag.id).where(Tag.name == name)) is not None:
        raise AlreadyExists(f"tag {name!r} already exists", "choose another name")
    tag = Tag(
        name=name,
        type_name=type_name,
        description=description,
        state=TagState.OPEN,
        created_at=utcnow(),
    )
    s.add(tag)
    s.flush()
    return tag


def get_tag(s: Session, name: str, *, for_update: bool = False) -> Tag:
    """The tag called ``name``; ``for_update`` takes the row lock that serialises writers."""
    stmt = select(Tag).where(Tag.name == name)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    tag = s.scalar(stmt) if _valid_name(name) else None
    if tag is None:
        raise TagNotFound(f"no tag named {name!r}", "list tags with `conddb tag list`")
    return tag


def lock_tag(s: Session, name: str) -> Tag:
    """Lock a tag for good: no IOV may be appended to it any more.  Locking twice is a no-op."""
    tag = get_tag(s, name, for_update=True)
    if tag.state is TagState.LOCKED:
        return tag
    tag.state = TagState.LOCKED
    tag.locked_at = utcnow()
    s.flush()
    return tag


@dataclass(frozen=True)
class AppendResult:
    """Outcome of :func:`append_iovs`."""

    tag: str
    added: int
    unchanged: int
    insertion_time: dt.datetime


def _current_hashes(s: Session, tag_id: int, lo: int, hi: int) -> dict[int, str]:
    """since -> payload hash in force now, for the IOVs of a tag with lo <= since <= hi."""
    rows = s.execute(
        select(IOV.since, IOV.payload_hash)
        .where(IOV.tag_id == tag_id, IOV.since >= lo, IOV.since <= hi)
        .order_by(IOV.since, IOV.insertion_time, IOV.id)
    )
    return {since: payload_hash for since, payload_hash in rows}  # the newest row wins


def append_iovs(s: Session, tag_name: str, iovs: Iterable[tuple[int, str]]) -> AppendResult:
    """Append IOVs ``(since, payload_hash)`` to an open tag, all in the caller's transaction.

    An IOV identical to the one in force at that ``since`` changes nothing; a different payload at
    an existing ``since`` supersedes it for lookups (the old row stays for ``as_of`` replays).
    Every row of one call shares one insertion time.  Raises :class:`TagLocked`,
    :class:`TagNotFound`, :class:`PayloadNotFound`, :class:`InvalidIOV` (bad run, two payloads for
    one since, payload of another type).
    """
    wanted: dict[int, str] = {}
    for since, payload_hash in iovs:
        check_run(since, "since")
        if wanted.get(since, payload_hash) != payload_hash:
            raise InvalidIOV(
                f"since {since} is given twice with different payloads",
                "give each since once per append",
            )
        wanted[since] = payload_hash
    tag = get_tag(s, tag_name, for_update=True)
    if tag.state is TagState.LOCKED:
        raise TagLocked(
            f"tag {tag_name!r} is locked", "append to a new tag and point the global tag to it"
        )
    if not wanted:
        return AppendResult(tag_name, 0, 0, db_now(s))
    hashes = sorted(set(wanted.values()))
    types: dict[str, str] = {}
    for start in range(0, len(hashes), 500):
        chunk = hashes[start : start + 500]
        rows = s.execute(select(Payload.hash, Payload.type_name).where(Payload.hash.in_(chunk)))
        types.update((h, t) for h, t in rows)
    for payload_hash in hashes:
        if payload_hash not in types:
            raise PayloadNotFound(
                f"no payload with hash {payload_hash!r}", "put the payload before appending its IOV"
            )
        if types[payload_hash] != tag.type_name:
            raise InvalidIOV(
                f"payload {payload_hash[:12]} is of type {types[payload_hash]!r}, "
                f"tag {tag_name!r} holds {tag.type_name!r}",
                "append it to a tag of its type",
            )
    current = _current_hashes(s, tag.id, min(wanted), max(wanted))
    new_rows = [(since, h) for since, h in sorted(wanted.items()) if current.get(since) != h]
    now = db_now(s)
    if new_rows:
        s.execute(
            insert(IOV),
            [
                {"tag_id": tag.id, "since": since, "insertion_time": now, "payload_hash": h}
                for since, h in new_rows
            ],
        )
    return AppendResult(tag_name, len(new_rows), len(wanted) - len(new_rows), now)


@dataclass(frozen=True)
class IOVRow:
    """One IOV as listed: bounds are inclusive run numbers; ``until`` None means open-ended."""

    since: int
    until: int | None
    payload_hash: str
    insertion_time: dt.datetime
    superseded: bool


def list_iovs(
    s: Session, tag_name: str, *, as_of: dt.datetime | None = None, history: bool = False
) -> list[IOVRow]:
    """The IOVs of a tag in force at ``as_of`` (default now), optionally with superseded rows."""
    tag = get_tag(s, tag_name)
    stmt = select(IOV.since, IOV.payload_hash, IOV.insertion_time).where(IOV.tag_id == tag.id)
    if as_of is not None:
        stmt = stmt.where(IOV.insertion_time <= as_of)
    rows = s.execute(stmt.order_by(IOV.since, IOV.insertion_time, IOV.id)).all()
    in_force: dict[int, tuple[str, dt.datetime]] = {}
    for since, h, t in rows:
        in_force[since] = (h, t)
    sinces = sorted(in_force)
    until = {a: b - 1 for a, b in itertools.pairwise(sinces)}
    out: list[IOVRow] = []
    for since, h, t in rows:
        latest = in_force[since] == (h, t)
        if latest or history:
            out.append(IOVRow(since, until.get(since), h, t, not latest))
    return out


# --- global tags ---------------------------------------------------------------------------------
def create_global_tag(s: Session, name: str, description: str = "") -> GlobalTag:
    """Create an open, empty global tag."""
    check_name("global tag", name)
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
    gt = s.scalar(stmt) if _valid_name(name) else None
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
        stmt = stmt.where(GlobalTagMap.insertion_time <= as_of)
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
    gt = get_global_tag(s, gt_name, for_update=True)
    _require_open(gt)
    for tag in global_tag_map(s, gt).values():
        get_tag(s, tag.name, for_update=True)
    now = db_now(s)
    if snapshot_time is not None:
        if snapshot_time.tzinfo is None:
            raise InvalidInput("snapshot time has no time zone", "give an ISO time with a zone")
        if snapshot_time > now:
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


def list_tags(s: Session, type_name: str | None = None) -> list[tuple[Tag, int]]:
    """Tags with their number of IOV rows."""
    counts = select(IOV.tag_id, func.count(IOV.id).label("n")).group_by(IOV.tag_id).subquery()
    stmt = select(Tag, func.coalesce(counts.c.n, 0)).outerjoin(counts, counts.c.tag_id == Tag.id)
    if type_name is not None:
        stmt = stmt.where(Tag.type_name == type_name)
    return [(t, int(n)) for t, n in s.execute(stmt.order_by(Tag.name))]


# --- run registry --------------------------------------------------------------------------------
def register_run(
    s: Session,
    run: int,
    *,
    start_time: dt.datetime | None = None,
    end_time: dt.datetime | None = None,
    run_type: str = "physics",
) -> Run:
    """Add a run to the registry (an existing run with the same values is a no-op)."""
    check_run(run)
    check_name("run type", run_type)
    if start_time and end_time and end_time < start_time:
        raise InvalidInput(f"run {run} ends before it starts", "check the start and end times")
    existing = s.get(Run, run)
    if existing is not None:
        if (existing.start_time, existing.end_time, existing.run_type) == (
            start_time,
            end_time,
            run_type,
        ):
            return existing
        raise AlreadyExists(f"run {run} is registered with other values", "runs are immutable")
    row = Run(run=run, start_time=start_time, end_time=end_time, run_type=run_type)
    s.add(row)
    s.flush()
    return row


def run_at(s: Session, when: dt.datetime) -> int:
    """The run that was taking data at ``when`` (from the run registry)."""
    run = s.scalar(
        select(Run.run).where(Run.start_time <= when).order_by(Run.start_time.desc()).limit(1)
    )
    row = s.get(Run, run) if run is not None else None
    if row is None or (row.end_time is not None and row.end_time < when):
        raise RunNotFound(
            f"no registered run was taking data at {when.isoformat()}",
            "register runs with `conddb run add` or look up by run number",
        )
    return row.run
