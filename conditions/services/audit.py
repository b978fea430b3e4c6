"""The audit log of writes: one append-only row of table ``audit_log`` per write attempt.

Who (token name and role, or the OS user of a CLI write), from where (client address or host),
when (UTC), what (action, target, details) and the outcome (HTTP status, error line).

* :func:`record` adds the row to the caller's transaction: the change and its audit row commit
  together or not at all (a failing audit insert rolls the change back);
* :func:`record_alone` writes a refusal or a failure in a small transaction of its own (the
  change itself was rolled back, or never started);
* :func:`record_os_user` is the hook of the CLI: call it inside the command's write session;
* :func:`list_records` and :func:`export` read the table back (export: JSON lines, the format
  of the former audit file).

Every text field is clipped (:data:`LIMITS`) and control characters are escaped, so that a
client cannot inflate the log with a 10 kB path nor smuggle a NUL into it.
"""

from __future__ import annotations

import getpass
import json
import logging
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from conditions.db import read_session, write_session
from conditions.store import audit as audit_table

log = logging.getLogger("conddb.audit")

#: Most characters kept of each text field [characters].
LIMITS = {"who": 100, "client": 100, "action": 100, "target": 300, "error": 1000}
#: Largest ``detail`` kept, as compact JSON [characters]; a larger one is replaced by a summary.
DETAIL_LIMIT = 16_000
#: Where a write came from.
ORIGINS = ("http", "cli")


def clip(text: str, limit: int) -> str:
    """``text`` with control characters escaped, cut to ``limit`` characters (marked ``...``)."""
    head = text[:limit]
    clean = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in head)
    if len(text) <= limit and len(clean) <= limit:
        return clean
    marker = f"...[{len(text)} chars]"
    return clean[: limit - len(marker)] + marker


def _detail(detail: Mapping[str, Any]) -> dict[str, Any]:
    text = json.dumps(dict(detail), sort_keys=True, default=str)
    if len(text) <= DETAIL_LIMIT:
        return dict(json.loads(text))
    return {"truncated": True, "chars": len(text), "keys": sorted(str(k) for k in detail)[:50]}


@dataclass(frozen=True)
class Entry:
    """One audit record before it is written (texts are clipped on the way in)."""

    action: str
    target: str
    status: int
    origin: str = "http"
    who: str | None = None
    role: str | None = None
    client: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None

    def values(self) -> dict[str, Any]:
        """The columns of the record: texts clipped, control characters escaped."""
        if self.origin not in ORIGINS:
            raise ValueError(f"audit origin {self.origin!r} is not one of {ORIGINS}")

        def opt(value: str | None, name: str) -> str | None:
            return None if value is None else clip(value, LIMITS[name])

        return {
            "origin": self.origin,
            "who": opt(self.who, "who"),
            "role": self.role,
            "client": opt(self.client, "client"),
            "action": clip(self.action, LIMITS["action"]),
            "target": clip(self.target, LIMITS["target"]),
            "status": int(self.status),
            "detail": _detail(self.detail),
            "error": opt(self.error, "error"),
        }


def record(session: Session, entry: Entry) -> dict[str, Any]:
    """Add ``entry`` to the caller's transaction (flushed now, committed with the change)."""
    return audit_table.add_audit_record(session, entry.values())


def record_alone(engine: Engine, entry: Entry) -> dict[str, Any] | None:
    """Write ``entry`` in a transaction of its own (refusals, failures).

    Never raises for a database problem: the refusal it documents must still be answered; the
    loss is logged on ``conddb.audit`` (with the entry) and ``None`` returned."""
    try:
        with write_session(engine) as s:
            return record(s, entry)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[:1]
        log.error("audit record lost (%s): %r", reason[0] if reason else type(exc).__name__, entry)
        return None


def os_user() -> str:
    """Name of the operating-system user running this process."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        return "unknown"


def record_os_user(
    session: Session,
    *,
    action: str,
    target: str,
    detail: Mapping[str, Any] | None = None,
    status: int = 200,
    error: str | None = None,
) -> dict[str, Any]:
    """Audit a CLI write in its own write session: who = the OS user, client = this host.

    Call it inside ``with write_session(engine) as s:`` after the change (status 200), so that
    both commit together; a refused CLI write may be recorded with :func:`record_alone`."""
    return record(
        session,
        Entry(
            action=action,
            target=target,
            status=status,
            origin="cli",
            who=os_user(),
            client=socket.gethostname(),
            detail=detail or {},
            error=error,
        ),
    )


def list_records(
    engine: Engine,
    *,
    after_id: int = 0,
    limit: int = 1000,
    who: str | None = None,
    min_status: int | None = None,
) -> list[dict[str, Any]]:
    """Up to ``limit`` records with ``id > after_id``, oldest first (optionally one caller's,
    or only those with ``status >= min_status``)."""
    with read_session(engine) as s:
        return audit_table.audit_records(
            s, after_id=after_id, limit=limit, who=who, min_status=min_status
        )


def iter_records(
    engine: Engine, *, after_id: int = 0, batch: int = 1000
) -> Iterator[dict[str, Any]]:
    """Every record with ``id > after_id``, oldest first, read ``batch`` rows at a time."""
    while True:
        rows = list_records(engine, after_id=after_id, limit=batch)
        yield from rows
        if len(rows) < batch:
            return
        after_id = rows[-1]["id"]


def export(engine: Engine, out: IO[str], *, after_id: int = 0) -> int:
    """Write the records with ``id > after_id`` to ``out`` as JSON lines; returns how many."""
    n = 0
    for entry in iter_records(engine, after_id=after_id):
        out.write(json.dumps(entry, sort_keys=True) + "\n")
        n += 1
    return n
