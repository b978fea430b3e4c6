"""Test fixtures: one ``engine`` fixture parametrised over SQLite and PostgreSQL.

Every database test runs on both backends.  Each test gets a database of its own, built from a
template migrated once per session with ``alembic upgrade head`` (never ``create_all``):
PostgreSQL copies it with ``CREATE DATABASE ... TEMPLATE``, SQLite copies the file.

PostgreSQL is found at ``$CONDDB_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``,
used only to create and drop the test databases).  When it is unreachable the PostgreSQL tests are
skipped on a developer's machine, and *fail* when ``CI=true``.
``CONDDB_TEST_BACKENDS=sqlite`` (or ``postgresql``) restricts the run to one backend.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine, make_url

from conditions import migrate
from conditions.db import make_engine, normalise_url
from conditions.model import Base

PG_ADMIN_URL = normalise_url(
    os.environ.get("CONDDB_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
)
BACKENDS = [
    b.strip() for b in os.environ.get("CONDDB_TEST_BACKENDS", "sqlite,postgresql").split(",")
]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _pg_admin() -> Engine:
    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


def _pg_url(database: str) -> str:
    return make_url(PG_ADMIN_URL).set(database=database).render_as_string(hide_password=False)


def _require_postgres(admin: Engine) -> None:
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any connection failure
        message = f"PostgreSQL unreachable at {PG_ADMIN_URL}: {exc}"
        if IN_CI:
            pytest.fail(message + " (CI=true: PostgreSQL tests must run)", pytrace=False)
        pytest.skip(message)


class Backend:
    """Creates per-test databases of one backend from a migrated template."""

    def __init__(self, name: str, workdir: Path) -> None:
        self.name = name
        self.workdir = workdir
        self.template: str | None = None
        self.admin: Engine | None = None

    def setup(self) -> None:
        if self.template is not None:
            return
        if self.name == "postgresql":
            self.admin = _pg_admin()
            _require_postgres(self.admin)
            self.template = f"conddb_tmpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            with self.admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.template}"'))
            engine = make_engine(_pg_url(self.template))
            migrate.upgrade(engine)
            engine.dispose()
        else:
            self.template = str(self.workdir / "template.sqlite")
            engine = make_engine(f"sqlite:///{self.template}")
            migrate.upgrade(engine)
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            engine.dispose()

    def new_url(self, *, migrated: bool = True) -> str:
        """URL of a fresh database (a copy of the migrated template, or empty)."""
        self.setup()
        assert self.template is not None
        if self.name == "postgresql":
            assert self.admin is not None
            name = f"conddb_t_{uuid.uuid4().hex[:12]}"
            source = f' TEMPLATE "{self.template}"' if migrated else ""
            with self.admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"{source}'))
            return _pg_url(name)
        path = self.workdir / f"t_{uuid.uuid4().hex[:12]}.sqlite"
        if migrated:
            shutil.copyfile(self.template, path)
        return f"sqlite:///{path}"

    def drop(self, url: str) -> None:
        if self.name == "postgresql":
            assert self.admin is not None
            name = make_url(url).database
            with self.admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            path = Path(make_url(url).database or "")
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)

    def teardown(self) -> None:
        if self.name == "postgresql" and self.admin is not None and self.template:
            with self.admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)'))
            self.admin.dispose()


#: Tables that record attempts rather than state: a refused write adds an audit row by design.
NOT_STORE_STATE = frozenset({"audit_log", "change_counter"})


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows in every table of the conditions schema: the whole observable state of the store
    (left out: the audit log, which grows with refused attempts too, and the change counters,
    bookkeeping of the lookup caches that a migration may rebuild)."""
    with engine.connect() as conn:
        return {
            table.name: int(conn.scalar(select(func.count()).select_from(table)) or 0)
            for table in Base.metadata.sorted_tables
            if table.name not in NOT_STORE_STATE
        }


@pytest.fixture(scope="session")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Backend]]:
    workdir = tmp_path_factory.mktemp("sqlite")
    made = {name: Backend(name, workdir) for name in ("sqlite", "postgresql")}
    yield made
    for backend in made.values():
        backend.teardown()


def _backend_params() -> list[object]:
    return [
        pytest.param(name, marks=getattr(pytest.mark, name), id=name)
        for name in ("sqlite", "postgresql")
        if name in BACKENDS
    ]


@pytest.fixture(params=_backend_params())
def backend(request: pytest.FixtureRequest, backends: dict[str, Backend]) -> Backend:
    chosen = backends[request.param]
    chosen.setup()
    return chosen


@pytest.fixture
def db_url(backend: Backend) -> Iterator[str]:
    """URL of a fresh, migrated database of the parametrised backend (dropped afterwards)."""
    url = backend.new_url()
    yield url
    backend.drop(url)


@pytest.fixture
def empty_db_url(backend: Backend) -> Iterator[str]:
    """URL of a fresh database without any schema."""
    url = backend.new_url(migrated=False)
    yield url
    backend.drop(url)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()
