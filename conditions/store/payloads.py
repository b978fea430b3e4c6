"""Payload types and payloads: immutable bytes keyed by their SHA-256.

Putting the same content twice returns the same hash and stores nothing new; the first
provenance is kept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.model import Payload, PayloadType, utcnow
from ..errors import (
    HashCollision,
    InvalidInput,
    PayloadNotFound,
    PayloadTooLarge,
    PayloadTypeNotFound,
)
from .common import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    among_hashes,
    check_name,
    check_text,
    insert_if_missing,
    sha256_hex,
    valid_name,
)


# --- payload types -------------------------------------------------------------------------------
def ensure_payload_type(s: Session, name: str, description: str = "") -> tuple[PayloadType, bool]:
    """The payload type ``name``, registered if missing (race-free); ``(type, created)``."""
    check_name("payload type", name)
    check_text("payload type description", description)
    created = False
    if s.get(PayloadType, name) is None:
        row = {"name": name, "description": description, "created_at": utcnow()}
        created = insert_if_missing(s, PayloadType, row, "name")
    ptype = s.get(PayloadType, name)
    assert ptype is not None
    return ptype, created


def register_payload_type(s: Session, name: str, description: str = "") -> PayloadType:
    """Register a payload type; registering an existing one is a no-op."""
    return ensure_payload_type(s, name, description)[0]


def get_payload_type(s: Session, name: str) -> PayloadType:
    ptype = s.get(PayloadType, name) if valid_name(name) else None
    if ptype is None:
        known = ", ".join(s.scalars(select(PayloadType.name).order_by(PayloadType.name))) or "none"
        raise PayloadTypeNotFound(
            f"unknown payload type {name!r}", f"known types: {known}; register new ones first"
        )
    return ptype


# --- payloads ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PutResult:
    """Outcome of :func:`put_payload`: the hash and whether new bytes were stored."""

    hash: str
    created: bool


def _checked_bytes(data: object, max_bytes: int) -> bytes:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidInput("payload data must be bytes", "encode the payload first")
    data = bytes(data)
    if len(data) > max_bytes:
        raise PayloadTooLarge(
            f"payload of {len(data)} bytes exceeds the limit of {max_bytes} bytes",
            "split the payload or raise the limit (CONDDB_MAX_PAYLOAD_BYTES)",
        )
    return data


def _check_stored(s: Session, type_name: str, given: dict[str, bytes]) -> None:
    """Raise :class:`HashCollision` unless the stored rows of ``given`` (hash -> bytes) hold the
    same bytes and type."""
    for part in _by_size(sorted(given), given):  # at most ~64 MB of stored data read at once
        sql = "SELECT hash, type_name, data FROM payload WHERE {among}"
        for digest, stored_type, stored_data in among_hashes(s, sql, part):
            if stored_data != given[digest]:
                raise HashCollision(
                    f"payload {digest} is stored with different bytes",
                    "the database may be corrupt; run `conddb payload show` on it and contact "
                    "the admins",
                )
            if stored_type != type_name:
                raise HashCollision(
                    f"payload {digest} is already stored as type {stored_type!r}, "
                    f"not {type_name!r}",
                    f"use type {stored_type!r} or change the content",
                )


#: PostgreSQL: the missing payloads of a part in one statement over two arrays, sent as binary
#: parameters (``%(name)b``: psycopg's text format quotes every element through a regular
#: expression, ~8 us per element; binary ~1 us).
_PG_INSERT = (
    "INSERT INTO payload (hash, type_name, schema_version, data, size, provenance, created_at) "
    "SELECT h, %(type_name)s, %(schema_version)s, d, length(d), CAST(%(provenance)s AS json), "
    "%(created_at)s FROM unnest(%(hashes)b::text[], %(datas)b::bytea[]) AS u(h, d) "
    "ON CONFLICT (hash) DO NOTHING RETURNING hash"
)
#: SQLite: one row per execution of a prepared statement (``executemany`` over tuples).
_SQLITE_INSERT = (
    "INSERT INTO payload (hash, type_name, schema_version, data, size, provenance, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


#: Bytes of payload data per PostgreSQL insert statement.
_MAX_STATEMENT_BYTES = 64 * 1024 * 1024


def _by_size(hashes: list[str], data: dict[str, bytes]) -> list[list[str]]:
    """``hashes`` cut into runs whose payloads hold at most :data:`_MAX_STATEMENT_BYTES`
    (a payload larger than that goes alone)."""
    parts: list[list[str]] = [[]]
    size = 0
    for h in hashes:
        if parts[-1] and size + len(data[h]) > _MAX_STATEMENT_BYTES:
            parts.append([])
            size = 0
        parts[-1].append(h)
        size += len(data[h])
    return parts


def stored_among(s: Session, hashes: list[str]) -> set[str]:
    """The hashes among ``hashes`` whose payloads are stored: one statement whatever their number
    (:func:`~.common.among_hashes`)."""
    if not hashes:
        return set()
    return {h for (h,) in among_hashes(s, "SELECT hash FROM payload WHERE {among}", hashes)}


def bind_value(s: Session, column: Any, value: Any) -> Any:
    """``value`` as the driver receives it for ``column`` (its type's bind processing, e.g. a UTC
    time as SQLite text, a dict as JSON): for driver-level statements that bind one constant
    for many rows."""
    dialect = s.get_bind().dialect
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return process(value) if process is not None else value


def put_payloads(
    s: Session,
    type_name: str,
    blobs: Sequence[bytes],
    *,
    schema_version: int = 1,
    provenance: dict[str, Any] | None = None,
    max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
) -> list[PutResult]:
    """:func:`put_payload` for many payloads of one type: one SELECT for those already stored,
    then the missing ones in one INSERT per 64 MB of data (PostgreSQL, arrays) or one prepared
    INSERT executed per row (SQLite ``executemany``); each payload is hashed once.

    Returns one :class:`PutResult` per input, in order (a repeated input is ``created`` once).
    """
    checked = [_checked_bytes(b, max_bytes) for b in blobs]
    get_payload_type(s, type_name)
    s.flush()  # the statements below go to the driver: no autoflush of pending ORM rows
    digests = [sha256_hex(b) for b in checked]
    by_hash = dict(zip(digests, checked, strict=True))
    now = utcnow()
    # Only the missing ones are inserted: on SQLite the REPLACE guards (migration 0003) refuse
    # any INSERT whose key collides with a stored payload, even ON CONFLICT DO NOTHING.
    stored = stored_among(s, list(by_hash))
    missing = [h for h in by_hash if h not in stored]
    created: set[str] = set()
    conn = s.connection()
    if missing and conn.dialect.name == "postgresql":
        common = {
            "type_name": type_name,
            "schema_version": int(schema_version),
            "provenance": json.dumps(provenance or {}),
            "created_at": now,
        }
        for part in _by_size(missing, by_hash):
            params = {**common, "hashes": part, "datas": [by_hash[h] for h in part]}
            created.update(conn.exec_driver_sql(_PG_INSERT, params).scalars())
    elif missing:
        # The write transaction holds the database lock (BEGIN IMMEDIATE): no other writer can
        # store one of ``missing`` between the SELECT above and this INSERT.
        columns = Payload.__table__.c
        info = (
            type_name,
            int(schema_version),
            bind_value(s, columns.provenance, provenance or {}),
            bind_value(s, columns.created_at, now),
        )
        rows = [(h, info[0], info[1], by_hash[h], len(by_hash[h]), *info[2:]) for h in missing]
        conn.exec_driver_sql(_SQLITE_INSERT, rows)
        created.update(missing)
    _check_stored(s, type_name, {h: b for h, b in by_hash.items() if h not in created})
    out: list[PutResult] = []
    for h in digests:
        out.append(PutResult(h, h in created))
        created.discard(h)
    return out


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
    (result,) = put_payloads(
        s,
        type_name,
        [_checked_bytes(data, max_bytes)],
        schema_version=schema_version,
        provenance=provenance,
        max_bytes=max_bytes,
    )
    return result


def list_payload_types(s: Session) -> list[PayloadType]:
    """Every registered payload type, by name."""
    return list(s.scalars(select(PayloadType).order_by(PayloadType.name)))


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
