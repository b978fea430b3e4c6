"""Rules shared by the repository modules: names, run numbers, hashes, the database clock.

Every repository function takes an open :class:`~sqlalchemy.orm.Session` inside a write
transaction (see :func:`conditions.db.write_session`), so several calls compose into one atomic
unit; the functions check the domain rules themselves and raise typed errors from
:mod:`conditions.errors`.  Database triggers (migrations) and the ORM guard
(:mod:`conditions.db.guards`) refuse the same changes on paths that bypass the repository.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ..db.model import NAME_LENGTH, utcnow
from ..errors import InvalidInput, InvalidIOV, InvalidName

__all__ = ["utcnow"]

#: Names of tags, global tags, records and payload types: a letter or digit, then letters,
#: digits, ``_ . -``; at most 100 characters.  No spaces, quotes or slashes (names appear in URLs).
#: Anchored with ``\A``/``\Z`` (``$`` would let a trailing newline through), so ``match`` and
#: ``fullmatch`` agree.
NAME_PATTERN = re.compile(rf"\A[A-Za-z0-9][A-Za-z0-9_.\-]{{0,{NAME_LENGTH - 1}}}\Z")

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
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
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


def check_text(kind: str, text: str) -> str:
    """Return ``text`` (a description) if both backends can store it: a string without NUL."""
    if not isinstance(text, str) or "\0" in text:
        raise InvalidInput(
            f"invalid {kind}: it must be text without NUL characters", "remove the NUL bytes"
        )
    return text


def insert_if_missing(s: Session, table: Any, row: dict[str, Any], key: str) -> bool:
    """``INSERT ... ON CONFLICT (key) DO NOTHING``; True if the row was inserted.

    Idempotent creation without a check-then-insert race: on PostgreSQL a concurrent insert of
    the same key waits for the other transaction and then does nothing (no unique violation).
    Callers look the row up first, so on SQLite (one writer at a time) no conflict reaches the
    database's REPLACE guards (migration 0003), which refuse any colliding key.
    """
    stmt = insert_for(s)(table).values(**row)
    column = getattr(table, key)
    done = s.execute(stmt.on_conflict_do_nothing(index_elements=[key]).returning(column))
    return done.first() is not None


def insert_for(s: Session) -> Any:
    """The dialect's ``insert`` construct (both have ``on_conflict_do_nothing``)."""
    if s.get_bind().dialect.name == "postgresql":
        return pg_insert
    return sqlite_insert


#: Per dialect: the placeholder of one parameter, and the condition "``hash`` is among an
#: array" with the array bound as ONE parameter: PostgreSQL a binary ``text[]`` (psycopg's text
#: format quotes every element through a regular expression, ~8 us each; binary ~1 us), SQLite
#: a JSON array read by ``json_each`` (no limit of 32766 parameters, no query text per count).
_AMONG = {
    "postgresql": ("%s", "hash = ANY(%b::text[])"),
    "sqlite": ("?", "hash IN (SELECT value FROM json_each(?))"),
}


def among_hashes(s: Session, sql: str, hashes: Sequence[str], *params: Any) -> Any:
    """Run the driver-level statement ``sql`` over the rows whose ``hash`` is among ``hashes``,
    in one statement whatever their number; returns the result.

    In ``sql``, ``{p}`` stands for the placeholder of each of ``params`` (in order) and
    ``{among}`` for the condition, whose one array parameter follows them.  It runs in the
    session's transaction, without autoflush: flush pending ORM rows first.
    """
    conn = s.connection()
    dialect = conn.dialect.name
    placeholder, among = _AMONG[dialect]
    array: Any = list(hashes) if dialect == "postgresql" else json.dumps(list(hashes))
    return conn.exec_driver_sql(sql.format(p=placeholder, among=among), (*params, array))


def valid_name(name: object) -> bool:
    """Whether ``name`` could name anything: names are checked when created, so a lookup of an
    invalid one (e.g. with a NUL byte, which PostgreSQL refuses in text) finds nothing."""
    return isinstance(name, str) and NAME_PATTERN.fullmatch(name) is not None
