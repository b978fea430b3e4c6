"""SQLAlchemy 2.0 model of the conditions database.

Vocabulary (as in CMS ``conddblib`` and Belle II):

* **payload type** – the kind of constant (``light_yield``, ``energy_nonlinearity``, ...).
* **payload** – immutable bytes; primary key = hex SHA-256 of the canonical bytes.
* **tag** – an ordered set of IOVs for one payload type; ``open`` -> ``locked``.
* **IOV** – (tag, since run, insertion time) -> payload hash.  Rows are append-only: a newer row for
  the same ``since`` supersedes the older one for lookups, the older one stays for replays.
* **global tag** – record -> tag map; ``open`` -> ``frozen``; a frozen global tag carries a snapshot
  time so that it resolves the same forever.  Map rows are append-only too (history kept).
* **run** – the optional run registry (start/end time, run type).

Every timestamp is stored and returned as timezone-aware UTC.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Maximum length of every user-chosen name (tag, global tag, record, payload type).
NAME_LENGTH = 100


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp that is always timezone-aware UTC in Python.

    PostgreSQL stores ``timestamptz``; SQLite stores naive UTC text (microsecond resolution).
    Naive datetimes are refused on the way in: a time without a zone is ambiguous.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use a timezone-aware UTC time")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class TagState(enum.StrEnum):
    OPEN = "open"
    LOCKED = "locked"


class GlobalTagState(enum.StrEnum):
    """Lifecycle ``open -> testing -> validated -> published (-> invalid)`` (issue 18).

    ``FROZEN`` is an alias of ``PUBLISHED`` (the former name of the immutable state), so
    ``GlobalTagState.FROZEN`` and the word ``frozen`` in CLI/API input keep working.
    """

    OPEN = "open"
    TESTING = "testing"
    VALIDATED = "validated"
    PUBLISHED = "published"
    INVALID = "invalid"
    FROZEN = "published"

    @classmethod
    def _missing_(cls, value: object) -> GlobalTagState | None:
        return cls.PUBLISHED if value == "frozen" else None  # export files before 0006


class TagSync(enum.StrEnum):
    """Synchronisation of a tag: which ``since`` an append may use (issue 18).

    ``offline``: any; ``prompt``: ``since >= FCSR`` (first condition-safe run); ``express``:
    ``since >= `` the next run to be taken (one past the newest registered run).
    """

    OFFLINE = "offline"
    PROMPT = "prompt"
    EXPRESS = "express"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class PayloadType(Base):
    __tablename__ = "payload_type"

    name: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Payload(Base):
    __tablename__ = "payload"

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    type_name: Mapped[str] = mapped_column(ForeignKey("payload_type.name"), index=True)
    schema_version: Mapped[int] = mapped_column(Integer, default=1)
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    size: Mapped[int] = mapped_column(BigInteger)
    provenance: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (CheckConstraint("length(hash) = 64", name="hash_length"),)


class Tag(Base):
    __tablename__ = "tag"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    type_name: Mapped[str] = mapped_column(ForeignKey("payload_type.name"), index=True)
    state: Mapped[TagState] = mapped_column(
        Enum(TagState, name="tag_state", values_callable=lambda e: [m.value for m in e]),
        default=TagState.OPEN,
    )
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    synchronization: Mapped[TagSync] = mapped_column(
        Enum(TagSync, name="tag_sync", values_callable=lambda e: [m.value for m in e]),
        default=TagSync.OFFLINE,
        server_default="offline",
    )

    iovs: Mapped[list[IOV]] = relationship(back_populates="tag", lazy="raise_on_sql", viewonly=True)


class IOV(Base):
    __tablename__ = "iov"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    tag_id: Mapped[int] = mapped_column(ForeignKey("tag.id"))
    since: Mapped[int] = mapped_column(BigInteger)
    insertion_time: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    payload_hash: Mapped[str] = mapped_column(ForeignKey("payload.hash"), index=True)

    tag: Mapped[Tag] = relationship(back_populates="iovs", lazy="raise_on_sql")

    __table_args__ = (
        CheckConstraint("since >= 0", name="since_not_negative"),
        Index("ix_iov_tag_since_time", "tag_id", "since", "insertion_time", "id"),
    )


class GlobalTag(Base):
    __tablename__ = "global_tag"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    state: Mapped[GlobalTagState] = mapped_column(
        Enum(
            GlobalTagState,
            name="global_tag_state",
            values_callable=lambda e: [m.value for m in e],
        ),
        default=GlobalTagState.OPEN,
    )
    snapshot_time: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    frozen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: Why an ``invalid`` global tag must no longer be used, and what replaces it.
    invalid_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    replaced_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH), nullable=True)


class GlobalTagMap(Base):
    """Append-only record -> tag assignments; the newest row per record is in force."""

    __tablename__ = "global_tag_map"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    global_tag_id: Mapped[int] = mapped_column(ForeignKey("global_tag.id"))
    record: Mapped[str] = mapped_column(String(NAME_LENGTH))
    tag_id: Mapped[int] = mapped_column(ForeignKey("tag.id"), index=True)
    insertion_time: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_global_tag_map_gt_record_time", "global_tag_id", "record", "insertion_time"),
    )


class ChangeCounter(Base):
    """Per tag (``scope='tag'``) and per global tag (``scope='gt'``): a counter bumped by the
    triggers of migration 0005 in the transaction of every change a lookup could see (IOV
    append, lock, map change, freeze).  In-memory IOV indexes compare it to invalidate exactly."""

    __tablename__ = "change_counter"

    scope: Mapped[str] = mapped_column(String(8), primary_key=True)
    object_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class Run(Base):
    """The run registry: lets users look constants up by time as well as by run number."""

    __tablename__ = "run"

    run: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    start_time: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    end_time: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    run_type: Mapped[str] = mapped_column(String(NAME_LENGTH), default="physics")

    __table_args__ = (
        CheckConstraint("run >= 0", name="run_not_negative"),
        Index("ix_run_start_time", "start_time"),
    )


class Campaign(Base):
    """A calibration campaign whose constants were uploaded (one transaction per campaign)."""

    __tablename__ = "campaign"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    first_run: Mapped[int] = mapped_column(BigInteger)
    last_run: Mapped[int] = mapped_column(BigInteger)
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    #: runs, input files with their SHA-256, code version, job settings.
    info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CampaignPayload(Base):
    """Which payload a campaign produced for which record, and the IOV it was uploaded with."""

    __tablename__ = "campaign_payload"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), primary_key=True)
    record: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    payload_hash: Mapped[str] = mapped_column(ForeignKey("payload.hash"), index=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tag.id"))
    since: Mapped[int] = mapped_column(BigInteger)


class AuditRecord(Base):
    """One write attempt (HTTP or CLI), committed or refused: who, when, what, outcome.

    Append-only (guard triggers of migration 0004 on both backends).  A change and its audit row
    are written in the same transaction; refusals and failures get a small transaction of their
    own (:mod:`conditions.services.audit`).  ``status`` is the HTTP status of the answer (CLI
    writes: 200 when committed).
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    origin: Mapped[str] = mapped_column(String(16))
    who: Mapped[str | None] = mapped_column(String(NAME_LENGTH), nullable=True)
    role: Mapped[str | None] = mapped_column(String(16), nullable=True)
    client: Mapped[str | None] = mapped_column(String(NAME_LENGTH), nullable=True)
    action: Mapped[str] = mapped_column(String(NAME_LENGTH))
    target: Mapped[str] = mapped_column(String(300))
    status: Mapped[int] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class ValidationReport(Base):
    """An immutable validation report of one global-tag map (issue 18; append-only, 0006 guards).

    ``map_hash`` is the SHA-256 of the record -> tag map checked (and of the tags' IOV
    histories), so a report only counts for the map it checked; ``checks`` is a list of
    ``{name, passed, detail}``.
    """

    __tablename__ = "validation_report"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    global_tag_id: Mapped[int] = mapped_column(ForeignKey("global_tag.id"), index=True)
    map_hash: Mapped[str] = mapped_column(String(64))
    first_run: Mapped[int] = mapped_column(BigInteger)
    last_run: Mapped[int] = mapped_column(BigInteger)
    who: Mapped[str] = mapped_column(String(NAME_LENGTH))
    code_version: Mapped[str] = mapped_column(String(NAME_LENGTH))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    passed: Mapped[bool] = mapped_column(Boolean)
    checks: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class GlobalTagApproval(Base):
    """A person's approval to publish a validated global tag (the second pair of eyes)."""

    __tablename__ = "global_tag_approval"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    global_tag_id: Mapped[int] = mapped_column(ForeignKey("global_tag.id"), index=True)
    map_hash: Mapped[str] = mapped_column(String(64))
    who: Mapped[str] = mapped_column(String(NAME_LENGTH))
    approved_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProcessedRun(Base):
    """Prompt reconstruction has used the conditions of ``run`` (append-only)."""

    __tablename__ = "processed_run"

    run: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    processed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    who: Mapped[str] = mapped_column(String(NAME_LENGTH))


class SyncState(Base):
    """Singleton row: the first condition-safe run (FCSR) = 1 + the newest processed run.

    The guard of prompt appends reads it ``FOR SHARE`` and ``run processed`` updates it, so the
    two serialise on this one row (PostgreSQL); SQLite has one writer at a time.
    """

    __tablename__ = "sync_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    fcsr: Mapped[int] = mapped_column(BigInteger, default=0)


class DriftAck(Base):
    """A reviewed drift flag: (global tag, record, quantity, run) acknowledged by someone."""

    __tablename__ = "drift_ack"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    global_tag: Mapped[str] = mapped_column(String(NAME_LENGTH))
    flag: Mapped[str] = mapped_column(String(300))
    who: Mapped[str] = mapped_column(String(NAME_LENGTH))
    note: Mapped[str] = mapped_column(Text, default="")
    acked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_drift_ack_gt_flag", "global_tag", "flag", unique=True),)
