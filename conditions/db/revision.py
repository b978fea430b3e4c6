"""The schema revision this code needs, and the revision a database is at — without Alembic.

Every command that opens the database checks its schema first (:func:`require_head`).  Asking
Alembic costs ~120 ms (it imports itself and reads every script of ``migrations/``) for what is
one row of one table, so the head revision is a constant here, :data:`HEAD`, and the database's
revision is read with one plain query, on a SQLAlchemy connection or a bare DB-API one
(``sqlite3``, ``psycopg``: ``conddb get``).  ``tests/unit/test_revision.py``
asserts that :data:`HEAD` is Alembic's head of ``migrations/``, so the constant cannot rot: a new
migration fails that test until :data:`HEAD` names it.

No SQLAlchemy and no Alembic here: ``conddb get`` imports this module alone to check the schema.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..errors import SchemaOutdated

#: The newest revision of ``migrations/versions`` (checked against Alembic by a unit test).
HEAD = "0007"

#: Is there an ``alembic_version`` table?  (None/no row: an empty database, never migrated.)
_HAS_TABLE = {
    "sqlite": "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'",
    "postgresql": "SELECT 1 WHERE to_regclass('alembic_version') IS NOT NULL",
}
_VERSION = "SELECT version_num FROM alembic_version"


def current_revision(fetch: Callable[[str], Sequence[Any]], dialect: str) -> str | None:
    """The revision the database is at (None for an empty database), read with plain SQL:
    ``fetch(sql)`` runs one statement and returns its rows (a SQLAlchemy connection's
    ``exec_driver_sql(sql).all()``, or :func:`fetch_all` on a DB-API connection); ``dialect`` is
    ``"sqlite"`` or ``"postgresql"``."""
    if not fetch(_HAS_TABLE[dialect]):
        return None
    rows = fetch(_VERSION)
    if len(rows) > 1:  # pragma: no cover - migrations/ has one branch
        raise SchemaOutdated(
            f"database has several schema heads ({', '.join(sorted(r[0] for r in rows))})",
            "merge them with alembic",
        )
    return str(rows[0][0]) if rows else None


def fetch_all(dbapi_connection: Any) -> Callable[..., list[Any]]:
    """``fetch(sql, params=None)`` -> all rows, on a DB-API connection (``sqlite3``,
    ``psycopg``): the ``fetch`` of :func:`current_revision`."""

    def fetch(sql: str, params: Any = None) -> list[Any]:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(sql, params or ())
            return list(cursor.fetchall())
        finally:
            cursor.close()

    return fetch


def check_head(current: str | None) -> None:
    """Raise :class:`SchemaOutdated` unless ``current`` is :data:`HEAD`."""
    if current != HEAD:
        state = "empty" if current is None else f"at revision {current}"
        raise SchemaOutdated(
            f"database schema is {state}, this conddb needs {HEAD}",
            "run `conddb db upgrade`",
        )
