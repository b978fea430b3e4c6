"""Engines and transactions for the two supported backends.

* PostgreSQL (``postgresql+psycopg://...``): the production backend.  Writers serialise per tag
  with ``SELECT ... FOR UPDATE`` on the tag row (see :mod:`conditions.store`).
* SQLite (the embedded default): WAL journal, foreign keys on, and every write transaction opens
  with ``BEGIN IMMEDIATE`` so that concurrent writers queue on the database lock instead of failing
  half-way with "database is locked".

The database URL comes from ``--db``, else ``$CONDDB_URL``, else the embedded SQLite file
``$CONDDB_HOME/conddb.sqlite`` (``CONDDB_HOME`` defaults to ``~/.local/share/juno-conddb``).

Every session made here (:func:`session`, :func:`write_session`, :func:`read_session`) carries
the ORM immutability guard (:mod:`conditions.db.guards`); nothing is installed on import.
Package layout: this module (engines and sessions), :mod:`.model` (ORM), :mod:`.guards`,
:mod:`.migrate` (Alembic), :mod:`.revision` (the schema head check without Alembic),
:mod:`.plain` (a read-only DB-API connection without SQLAlchemy, for ``conddb get``).

SQLAlchemy is imported by the functions that make engines and sessions, not by this module:
:func:`default_url` and :func:`normalise_url` cost nothing (``conddb --help``, TAB, ``get``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.orm import Session

#: Execution option that marks a connection as a writer (SQLite: ``BEGIN IMMEDIATE``).
WRITE_OPTION = "conddb_write"


def default_home() -> Path:
    """Folder of the embedded database: ``$CONDDB_HOME`` or ``~/.local/share/juno-conddb``."""
    home = os.environ.get("CONDDB_HOME")
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "juno-conddb"


def default_url() -> str:
    """The database URL used when none is given: ``$CONDDB_URL`` or the embedded SQLite file."""
    url = os.environ.get("CONDDB_URL")
    if url:
        return url
    return f"sqlite:///{default_home() / 'conddb.sqlite'}"


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use the psycopg 3 driver for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _sqlite_setup(engine: Engine) -> None:
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=60000")
        # Page cache of up to 128 MiB (default 2 MiB): a bulk load inserts random SHA-256 keys
        # into the payload and IOV hash indexes, whose pages otherwise keep being evicted and
        # re-read (8 x 100k IOVs + payloads: 61 s -> 31 s, raw sqlite3).  Memory is taken only
        # as pages are read; durability is unchanged (this is a read cache).
        cursor.execute("PRAGMA cache_size=-131072")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return  # single-statement reads: each statement is its own transaction
        if options.get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def _postgres_setup(engine: Engine) -> None:
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # psycopg prepares a statement after 5 executions; PostgreSQL's default plan-cache mode
        # then keeps re-planning the lookup (its generic plan looks dearer on paper), which costs
        # ~0.3 ms per lookup.  The generic plan of our index probes is the right one for every
        # run number: measured 572 -> 281 us per 8-record lookup on 8 x 100k IOVs.
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET plan_cache_mode = force_generic_plan")
        dbapi_connection.commit()


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` (default: :func:`default_url`) with the backend set up."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    url = normalise_url(url or default_url())
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": 60, "check_same_thread": False})
        engine = create_engine(url, **kwargs)
        _sqlite_setup(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        # No pool pre-ping: it costs a round trip per checkout.  A connection found dead raises
        # once and is discarded by the pool; the next checkout reconnects.
        engine = create_engine(url, **kwargs)
        _postgres_setup(engine)
        return engine
    raise ValueError(f"unsupported database backend {parsed.get_backend_name()!r}")


def session(engine: Engine, **kwargs: Any) -> Session:
    """A new :class:`~sqlalchemy.orm.Session` on ``engine`` with the immutability guard."""
    from sqlalchemy.orm import Session

    from .guards import install

    return install(Session(engine, **kwargs))


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """One write transaction: commits on success, rolls back everything on any error."""
    writer = engine.execution_options(**{WRITE_OPTION: True})
    with session(writer, expire_on_commit=False) as s, s.begin():
        yield s


def autocommit_reader(engine: Engine) -> Engine:
    """The engine for single-statement lookups: no BEGIN/ROLLBACK round trips around them."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A read-only unit of work; closing it discards any change (loaded objects stay readable)."""
    s = session(engine, expire_on_commit=False)
    try:
        yield s
    finally:
        s.close()
