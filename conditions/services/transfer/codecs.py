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
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from conditions.errors import InvalidInput
from conditions.store import check_name, check_run, check_text

from .archive import TransferError

Kind = Literal[
    "str", "name", "text", "hash", "int", "run", "dict", "list", "bool", "enum", "time", "time?",
    "name?", "text?",
]
_TYPES: dict[str, type] = {
    "str": str,
    "name": str,
    "text": str,
    "hash": str,
    "int": int,
    "run": int,
    "dict": dict,
    "list": list,
    "bool": bool,
    "enum": str,
}
_HASH = re.compile(r"[0-9a-f]{64}")


def _check_value(kind: Kind, key: str, value: Any) -> None:
    """The library's rule for one value of ``kind`` (raises a domain error naming ``key``)."""
    if kind == "name":
        check_name(key.replace("_", " "), value)
    elif kind in ("text", "str", "enum"):
        check_text(key, value)
    elif kind == "run":
        check_run(value, key)
    elif kind == "hash" and not _HASH.fullmatch(value):
        raise InvalidInput(f"{key} {value!r} is not a SHA-256", "64 lowercase hex digits")
    elif kind in ("dict", "list"):
        _check_json_text(key, value)


def _check_json_text(key: str, value: Any) -> None:
    """No NUL in any key or string of a JSON value (PostgreSQL's jsonb refuses them)."""
    if isinstance(value, str):
        check_text(key, value)
    elif isinstance(value, dict):
        for k, v in value.items():
            check_text(key, k)
            _check_json_text(key, v)
    elif isinstance(value, list):
        for v in value:
            _check_json_text(key, v)


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


def decode_time(
    value: Any, what: str, *, required: bool, now: dt.datetime | None = None
) -> dt.datetime | None:
    """ISO 8601 with a zone -> aware UTC datetime; refused if later than ``now`` (when given)."""
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
    try:
        parsed = parsed.astimezone(dt.UTC)
    except OverflowError:
        raise TransferError(f"time {value!r} in {what} is out of range", "damaged file") from None
    if now is not None and parsed > now:
        raise InvalidInput(
            f"{what} {value} is in the future (now {encode_time(now)})",
            "times in an export are never later than the import",
        )
    return parsed


@dataclass(frozen=True)
class Codec:
    """The JSON form of the rows of one table."""

    table: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()

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

    def decode(self, row: Mapping[str, Any], now: dt.datetime | None = None) -> dict[str, Any]:
        """A JSON object from a file -> checked Python values by key.

        Every value passes the library's rule for its kind (names, text without NUL, run numbers
        0..2**63-1, SHA-256s, times with a zone and not after ``now``), then the table's row rule
        (:data:`ROW_RULES`).  Raises :class:`TransferError` or another domain error naming the
        column; the importer adds the row's place."""
        unknown = sorted(set(row) - {c.key for c in self.columns})
        if unknown:
            raise TransferError(f"unknown column {unknown[0]!r}", "the file is damaged")
        out: dict[str, Any] = {}
        for c in self.columns:
            value = row.get(c.key)
            if c.kind in ("time", "time?"):
                out[c.key] = decode_time(value, c.key, required=c.kind == "time", now=now)
                continue
            base: Any = c.kind.rstrip("?")
            if c.kind.endswith("?") and value is None:  # an optional value (name?, text?)
                out[c.key] = None
                continue
            kind = _TYPES[base]
            if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
                raise TransferError(f"bad {c.key!r}: {value!r}", "the file is damaged")
            _check_value(base, self.table if c.key == "name" else c.key, value)
            out[c.key] = value
        rule = ROW_RULES.get(self.table)
        if rule is not None:
            rule(out)
        return out

    def key_of(self, row: Mapping[str, Any]) -> str:
        """What names the row in an error: the values of its key columns, as given."""
        return ", ".join(f"{k}={row.get(k)!r}" for k in self.key)


def _codec(table: str, *columns: tuple[str, Kind] | str, key: tuple[str, ...] = ()) -> Codec:
    cols = tuple(Column(c) if isinstance(c, str) else Column(c[0], c[1]) for c in columns)
    return Codec(table, cols, key or (cols[0].key,))


# --- row rules: the library's rules that tie several columns of one row -------------------------
RowRule = Callable[[dict[str, Any]], None]

#: table -> its row rule (a plain registry filled by :func:`row_rule`).
ROW_RULES: dict[str, RowRule] = {}


def row_rule(table: str) -> Callable[[RowRule], RowRule]:
    def register(rule: RowRule) -> RowRule:
        ROW_RULES[table] = rule
        return rule

    return register


#: Longest campaign kind [characters] (the column's width).
KIND_LENGTH = 32

#: state -> the time column that must be set exactly in that state, per table.  A new state is
#: one entry here (and one in the model's enum).
STATE_TIMES: dict[str, dict[str, tuple[str, ...]]] = {
    "tag": {"open": (), "locked": ("locked_at",)},
    "global_tag": {
        "open": (),
        "testing": (),
        "validated": (),
        "published": ("frozen_at", "snapshot_time"),
        "frozen": ("frozen_at", "snapshot_time"),  # files written before issue 18
        "invalid": ("frozen_at", "snapshot_time"),  # optional: it may have been published
    },
}
#: States whose times are optional (present exactly when the object was published before).
OPTIONAL_TIMES = {("global_tag", "invalid")}


def _check_state(table: str, row: dict[str, Any]) -> None:
    states = STATE_TIMES[table]
    state = row["state"]
    if state not in states:
        raise TransferError(f"unknown state {state!r}", f"states of a {table}: {sorted(states)}")
    if (table, state) in OPTIONAL_TIMES:
        return
    for times_ in states.values():
        for column in times_:
            wanted = column in states[state]
            if (row[column] is not None) != wanted:
                article = "an" if state[0] in "aeiou" else "a"
                raise InvalidInput(
                    f"{article} {state} {table.replace('_', ' ')} "
                    + (f"needs a {column}" if wanted else f"has a {column}"),
                    "the file was altered: export it again from the source",
                )


@row_rule("tag")
def _tag_rule(row: dict[str, Any]) -> None:
    _check_state("tag", row)


@row_rule("global_tag")
def _global_tag_rule(row: dict[str, Any]) -> None:
    _check_state("global_tag", row)
    invalid = row["state"] == "invalid"
    if invalid and not (row["invalid_reason"] or "").strip():
        raise InvalidInput("an invalid global tag needs an invalid_reason",
                           "the file was altered: export it again from the source")
    if not invalid and (row["invalid_reason"] is not None or row["replaced_by"] is not None):
        raise InvalidInput(f"a {row['state']} global tag has an invalid_reason or replaced_by",
                           "the file was altered: export it again from the source")
    if row["replaced_by"] == row["name"]:
        raise InvalidInput("a global tag cannot replace itself", "the file was altered")


@row_rule("validation_report")
def _validation_report_rule(row: dict[str, Any]) -> None:
    if row["last_run"] < row["first_run"]:
        raise InvalidInput("a validation report ends before it starts", "check its runs")


@row_rule("run")
def _run_rule(row: dict[str, Any]) -> None:
    start, end = row["start_time"], row["end_time"]
    if start is not None and end is not None and end < start:
        raise InvalidInput(f"run {row['run']} ends before it starts", "check its start and end")


@row_rule("campaign")
def _campaign_rule(row: dict[str, Any]) -> None:
    if len(row["kind"]) > KIND_LENGTH:
        raise InvalidInput(f"campaign kind {row['kind']!r} is too long", f"at most {KIND_LENGTH}")
    if row["last_run"] < row["first_run"]:
        raise InvalidInput(f"campaign {row['name']!r} ends before it starts", "check its runs")


PAYLOAD_TYPE = _codec(
    "payload_type", ("name", "name"), ("description", "text"), ("created_at", "time")
)
PAYLOAD = _codec(
    "payload",
    ("hash", "hash"),
    ("type", "name"),  # the payload type: the key of the library's JSON shape (serializers)
    ("schema_version", "int"),
    ("size", "int"),
    ("provenance", "dict"),
    ("created_at", "time"),
)
TAG = _codec(
    "tag",
    ("name", "name"),
    ("type", "name"),  # the payload type (serializers.tag_json's key)
    ("state", "enum"),
    ("description", "text"),
    ("created_at", "time"),
    ("locked_at", "time?"),
    ("synchronization", "enum"),
)
IOV = _codec(
    "iov",
    ("tag", "name"),
    ("since", "run"),
    ("insertion_time", "time"),
    ("payload_hash", "hash"),
    key=("tag", "since"),
)
GLOBAL_TAG = _codec(
    "global_tag",
    ("name", "name"),
    ("state", "enum"),
    ("snapshot_time", "time?"),
    ("description", "text"),
    ("created_at", "time"),
    ("frozen_at", "time?"),
    ("invalid_reason", "text?"),
    ("replaced_by", "name?"),
)
GLOBAL_TAG_MAP = _codec(
    "global_tag_map",
    ("global_tag", "name"),
    ("record", "name"),
    ("tag", "name"),
    ("insertion_time", "time"),
    key=("global_tag", "record"),
)
# The lifecycle of a global tag (issue 18): its validation reports, approvals and reviewed drift
# flags travel with it; the prompt-processing record with the run registry.
VALIDATION_REPORT = _codec(
    "validation_report",
    ("global_tag", "name"),
    ("map_hash", "hash"),
    ("first_run", "run"),
    ("last_run", "run"),
    ("who", "text"),
    ("code_version", "text"),
    ("created_at", "time"),
    ("passed", "bool"),
    ("checks", "list"),
    key=("global_tag", "created_at"),
)
GLOBAL_TAG_APPROVAL = _codec(
    "global_tag_approval",
    ("global_tag", "name"),
    ("map_hash", "hash"),
    ("who", "text"),
    ("approved_at", "time"),
    key=("global_tag", "who"),
)
DRIFT_ACK = _codec(
    "drift_ack",
    ("global_tag", "name"),
    ("flag", "text"),
    ("who", "text"),
    ("note", "text"),
    ("acked_at", "time"),
    key=("global_tag", "flag"),
)
RUN = _codec(
    "run", ("run", "run"), ("start_time", "time?"), ("end_time", "time?"), ("run_type", "name")
)
PROCESSED_RUN = _codec("processed_run", ("run", "run"), ("processed_at", "time"), ("who", "text"))
CAMPAIGN = _codec(
    "campaign",
    ("name", "name"),
    ("kind", "name"),
    ("first_run", "run"),
    ("last_run", "run"),
    ("manifest_sha256", "hash"),
    ("info", "dict"),
    ("created_at", "time"),
)
CAMPAIGN_PAYLOAD = _codec(
    "campaign_payload",
    ("campaign", "name"),
    ("record", "name"),
    ("payload_hash", "hash"),
    ("tag", "name"),
    ("since", "run"),
    key=("campaign", "record"),
)

#: Every table, in the order it is written and imported (references point backwards).
CODECS: tuple[Codec, ...] = (
    PAYLOAD_TYPE,
    PAYLOAD,
    TAG,
    IOV,
    GLOBAL_TAG,
    GLOBAL_TAG_MAP,
    VALIDATION_REPORT,
    GLOBAL_TAG_APPROVAL,
    DRIFT_ACK,
    RUN,
    PROCESSED_RUN,
    CAMPAIGN,
    CAMPAIGN_PAYLOAD,
)
TABLES: tuple[str, ...] = tuple(c.table for c in CODECS)
