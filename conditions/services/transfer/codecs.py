"""One codec per table: the columns of its JSON lines, declared once for export and import.

Rows refer to each other by *name* (tag, global tag, campaign) or payload hash, never by the
database's surrogate ids, so a file made on SQLite imports into PostgreSQL and back.  A
:class:`Codec` turns a row into its JSON object (:meth:`Codec.encode`) and a JSON object from a
file back into checked Python values (:meth:`Codec.decode`) from the same column list; times are
ISO 8601 UTC with microseconds (the resolution of both backends), and a time without a zone is a
damaged file.  The table-specific parts (which rows an export takes, how an import reuses or
refuses what the target holds) live in :mod:`.export` and :mod:`.importer`.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .archive import TransferError

Kind = Literal["str", "int", "dict", "enum", "time", "time?"]
_TYPES: dict[str, type] = {"str": str, "int": int, "dict": dict, "enum": str}


@dataclass(frozen=True)
class Column:
    """One key of a table's JSON objects: ``kind`` says how it is written and checked."""

    key: str
    kind: Kind = "str"


def encode_time(value: dt.datetime | None) -> str | None:
    """Aware UTC datetime -> ISO 8601 with microseconds."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def decode_time(value: Any, what: str, *, required: bool) -> dt.datetime | None:
    if value is None:
        if required:
            raise TransferError(f"missing time in {what}", "the export file is damaged")
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise TransferError(f"bad time {value!r} in {what}", "the export file is damaged") from None
    if parsed.tzinfo is None:
        raise TransferError(f"time {value!r} in {what} has no zone", "the file is damaged")
    return parsed.astimezone(dt.UTC)


@dataclass(frozen=True)
class Codec:
    """The JSON form of the rows of one table."""

    table: str
    columns: tuple[Column, ...]

    def encode(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Python values by key (times, enums, plain values) -> the row's JSON object."""
        row: dict[str, Any] = {}
        for c in self.columns:
            value = values[c.key]
            if c.kind in ("time", "time?"):
                value = encode_time(value)
            elif c.kind == "enum" and isinstance(value, enum.Enum):
                value = value.value
            row[c.key] = value
        return row

    def encode_object(self, obj: Any, **references: Any) -> dict[str, Any]:
        """An ORM object's attributes of the same names (``references`` give the names of the
        rows it points to, in place of their ids)."""
        return self.encode(
            {c.key: references[c.key] if c.key in references else getattr(obj, c.key)
             for c in self.columns}
        )

    def decode(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """A JSON object from a file -> checked Python values by key (:class:`TransferError`)."""
        out: dict[str, Any] = {}
        for c in self.columns:
            value = row.get(c.key)
            if c.kind in ("time", "time?"):
                out[c.key] = decode_time(value, self.table, required=c.kind == "time")
                continue
            kind = _TYPES[c.kind]
            if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
                raise TransferError(
                    f"{self.table} row has a bad {c.key!r}: {value!r}", "the file is damaged"
                )
            out[c.key] = value
        return out


def _codec(table: str, *columns: tuple[str, Kind] | str) -> Codec:
    return Codec(
        table,
        tuple(Column(c) if isinstance(c, str) else Column(c[0], c[1]) for c in columns),
    )


PAYLOAD_TYPE = _codec("payload_type", "name", "description", ("created_at", "time"))
PAYLOAD = _codec(
    "payload",
    "hash",
    "type_name",
    ("schema_version", "int"),
    ("size", "int"),
    ("provenance", "dict"),
    ("created_at", "time"),
)
TAG = _codec(
    "tag",
    "name",
    "type_name",
    ("state", "enum"),
    "description",
    ("created_at", "time"),
    ("locked_at", "time?"),
)
IOV = _codec("iov", "tag", ("since", "int"), ("insertion_time", "time"), "payload_hash")
GLOBAL_TAG = _codec(
    "global_tag",
    "name",
    ("state", "enum"),
    ("snapshot_time", "time?"),
    "description",
    ("created_at", "time"),
    ("frozen_at", "time?"),
)
GLOBAL_TAG_MAP = _codec(
    "global_tag_map", "global_tag", "record", "tag", ("insertion_time", "time")
)
RUN = _codec("run", ("run", "int"), ("start_time", "time?"), ("end_time", "time?"), "run_type")
CAMPAIGN = _codec(
    "campaign",
    "name",
    "kind",
    ("first_run", "int"),
    ("last_run", "int"),
    "manifest_sha256",
    ("info", "dict"),
    ("created_at", "time"),
)
CAMPAIGN_PAYLOAD = _codec(
    "campaign_payload", "campaign", "record", "payload_hash", "tag", ("since", "int")
)

#: Every table, in the order it is written and imported (references point backwards).
CODECS: tuple[Codec, ...] = (
    PAYLOAD_TYPE,
    PAYLOAD,
    TAG,
    IOV,
    GLOBAL_TAG,
    GLOBAL_TAG_MAP,
    RUN,
    CAMPAIGN,
    CAMPAIGN_PAYLOAD,
)
TABLES: tuple[str, ...] = tuple(c.table for c in CODECS)
