"""The SQL reader's lookup over a plain DB-API connection (``sqlite3`` or ``psycopg``), without
importing SQLAlchemy.

``conddb get`` makes one lookup and exits, so its start-up is its cost; importing SQLAlchemy
alone is ~3x ``python -c "import click"`` (``benchmarks/bench_cli.py``).  :func:`resolve_plain`
opens the database with the driver alone, read-only (SQLite ``mode=ro``: never creating a file),
checks the schema revision (:mod:`conditions.db.revision`) and runs the reader's own lookup
statement (``conditions.store.reader._resolve_statement``), compiled by SQLAlchemy for each
backend ahead of time into :mod:`conditions.db._lookup_sql`.  One statement source: that module
is the compiled ORM statement, and ``tests/unit/test_plain_lookup.py`` fails when it differs
from a fresh compile (regenerate with ``python -m conditions.db.plain``).  The rows become a
:class:`~conditions.iov.Resolution` by :func:`records_of`, which the SQL reader uses too.

Only the plain successful case is answered here (every record covered, no ``as_of``, schema at
head, a plain file or server URL).  Anything else (no row, an uncovered record, another schema
revision, a driver error, ``:memory:`` or URI options) gives None, and the caller takes the
ordinary path (:func:`conditions.store.reader.resolve`), which raises the usual error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..iov import Resolution, ResolvedIOV
from . import normalise_url


@dataclass
class Plain:
    """An open DB-API connection, its dialect (``sqlite``/``postgresql``) and the driver's
    error classes (a failure there means: take the ordinary path)."""

    connection: Any
    dialect: str
    errors: tuple[type[BaseException], ...]

    def close(self) -> None:
        self.connection.close()


def open_plain(url: str) -> Plain | None:
    """A read-only connection to ``url``, or None when the URL is not a plain file or server or
    the driver cannot connect (then use :func:`conditions.db.make_engine`, which says why)."""
    url = normalise_url(url)
    scheme, _, rest = url.partition("://")
    if scheme == "sqlite" and rest.startswith("/") and "?" not in rest:
        import sqlite3
        from urllib.parse import quote

        path = Path(rest[1:]).expanduser()
        if str(path) in ("", ":memory:") or str(path).startswith("file:") or not path.is_file():
            return None
        try:
            conn = sqlite3.connect(
                f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, timeout=60
            )
        except sqlite3.Error:
            return None
        return Plain(conn, "sqlite", (sqlite3.Error,))
    if scheme == "postgresql+psycopg":
        import psycopg

        try:
            server = psycopg.connect("postgresql://" + rest, autocommit=True)
        except psycopg.Error:
            return None
        return Plain(server, "postgresql", (psycopg.Error,))
    return None


#: ``global_tag.state`` of an immutable global tag, as stored (``store.IMMUTABLE_STATES``):
#: published, or invalid (still answered, with its deprecation: only the ordinary path adds it)
_PUBLISHED = "published"
_INVALID = "invalid"


def records_of(
    rows: Iterable[Any], utc: Callable[[Any], dt.datetime] = lambda t: t
) -> tuple[bool, dict[str, ResolvedIOV], list[tuple[str, str]]]:
    """(frozen, record -> IOV in force, uncovered (record, tag) pairs) from the rows of the
    lookup statement ``(state, record, tag, type, since, hash, inserted, next since)``;
    ``utc`` turns the driver's insertion time into an aware UTC datetime."""
    records: dict[str, ResolvedIOV] = {}
    uncovered: list[tuple[str, str]] = []
    frozen = False
    for state, rec, tag, ptype, since, phash, inserted, nxt in rows:
        frozen = state in (_PUBLISHED, _INVALID)
        if since is None:
            uncovered.append((rec, tag))
            continue
        until = None if nxt is None else int(nxt) - 1
        records[rec] = ResolvedIOV(rec, tag, ptype, phash, int(since), until, utc(inserted))
    return frozen, records, uncovered


def _utc(value: Any) -> dt.datetime:
    """A driver's timestamp as aware UTC: SQLite stores naive UTC text, PostgreSQL timestamptz
    (the storage rule of :class:`conditions.db.model.UTCDateTime`)."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def resolve_plain(
    url: str, global_tag: str, run: int, *, record: str | None = None
) -> Resolution | None:
    """The resolution of ``run`` under ``global_tag`` (no ``as_of``), read without SQLAlchemy;
    None: take the ordinary path (see the module docstring)."""
    from ._lookup_sql import STATEMENTS
    from .revision import HEAD, current_revision, fetch_all

    if not 0 <= run < 2**63:
        return None
    plain = open_plain(url)
    if plain is None:
        return None
    sql, fixed = STATEMENTS[plain.dialect, record is not None]
    params = {**fixed, "gt_name": global_tag, "run": run, "record": record}
    fetch = fetch_all(plain.connection)
    try:
        if current_revision(fetch, plain.dialect) != HEAD:
            return None
        rows = fetch(sql, params)
    except plain.errors:
        return None
    finally:
        plain.close()
    frozen, records, uncovered = records_of(rows, _utc)
    if not rows or uncovered or rows[0][0] == _INVALID:
        return None  # the ordinary path explains it, or adds the invalid tag's deprecation
    return Resolution(global_tag, run, None, frozen, records)


def render() -> str:
    """The text of :mod:`conditions.db._lookup_sql`: the reader's lookup statement (no
    ``as_of``; without and with a record) compiled for SQLite (``sqlite3``, named parameters)
    and PostgreSQL (``psycopg``), with the values of the parameters SQLAlchemy adds itself."""
    from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
    from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

    from ..store.reader import _resolve_statement

    user = {"gt_name", "run", "record"}
    dialects = {
        "sqlite": SQLiteDialect_pysqlite(paramstyle="named"),
        "postgresql": PGDialect_psycopg(),
    }
    lines = [
        '"""GENERATED by ``python -m conditions.db.plain`` from the SQL reader\'s lookup',
        "statement (conditions/store/reader.py): do not edit; tests/unit/test_plain_lookup.py",
        'checks it against a fresh compile."""',
        "",
        "# fmt: off",
        "STATEMENTS: dict[tuple[str, bool], tuple[str, dict[str, int]]] = {",
    ]
    for name, dialect in dialects.items():
        for with_record in (False, True):
            compiled = _resolve_statement(with_record, False).compile(dialect=dialect)
            fixed = {k: v for k, v in compiled.params.items() if k not in user}
            lines.append(f"    ({name!r}, {with_record}): (")
            text = compiled.string
            lines.extend(f"        {text[k : k + 80]!r}" for k in range(0, len(text), 80))
            lines.append(f"        , {fixed!r},")
            lines.append("    ),")
    lines.append("}")
    return "\n".join(lines) + "\n"


GENERATED = Path(__file__).with_name("_lookup_sql.py")

if __name__ == "__main__":  # pragma: no cover - the generator
    GENERATED.write_text(render())
    print(f"wrote {GENERATED}")
