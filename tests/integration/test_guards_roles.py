"""deploy/roles.sql: the writer can do every write the library does and nothing destructive; the
reader only reads (issue 13 item 3, PostgreSQL only: SQLite has no roles)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from conditions import store
from conditions.campaign import upload_campaign
from conditions.db import make_engine, write_session
from conditions.resolve import resolve
from tests.conftest import row_counts
from tests.integration.test_campaign_upload import constants
from tests.support.lifecycle import publish

ROLES_SQL = Path(__file__).resolve().parents[2] / "deploy" / "roles.sql"
pytestmark = pytest.mark.postgresql


@pytest.fixture
def roles(db_url: str) -> Iterator[dict[str, str]]:
    """The script applied with role names unique to this test (roles are cluster-wide)."""
    admin = make_engine(db_url)
    if admin.dialect.name != "postgresql":
        admin.dispose()
        pytest.skip("roles exist on PostgreSQL only")
    suffix = uuid.uuid4().hex[:8]
    names = {r: f"conddb_{r}_{suffix}" for r in ("owner", "writer", "reader")}
    script = ROLES_SQL.read_text()
    for role, name in names.items():
        script = script.replace(f"conddb_{role}", name)
    for _ in range(2):  # idempotent: a second run changes nothing and does not fail
        raw = admin.raw_connection()  # no parameters: the script's % are plpgsql's, not psycopg's
        try:
            with raw.cursor() as cursor:
                cursor.execute(script)
            raw.commit()
        finally:
            raw.close()
    yield names
    with admin.begin() as conn:
        conn.exec_driver_sql(f"REASSIGN OWNED BY {names['owner']} TO CURRENT_USER")
        for name in names.values():
            conn.exec_driver_sql(f"DROP OWNED BY {name}")
    with admin.begin() as conn:
        for name in names.values():
            conn.exec_driver_sql(f"DROP ROLE {name}")
    admin.dispose()


def engine_as(db_url: str, role: str) -> Engine:
    engine = make_engine(db_url)

    @event.listens_for(engine, "connect")
    def _set_role(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET ROLE {role}")
        dbapi_connection.commit()

    return engine


def test_writer_does_every_library_write_and_nothing_destructive(
    db_url: str, roles: dict[str, str]
) -> None:
    writer = engine_as(db_url, roles["writer"])
    try:
        with write_session(writer) as s:
            report = upload_campaign(s, constants())
            store.create_global_tag(s, "G")
            for r in report.records:
                store.set_record(s, "G", r.record, r.tag)
            store.register_run(s, 1005)
        with write_session(writer) as s:
            store.lock_tag(s, "juno-light_yield")
            publish(s, "G")
        assert resolve(writer, "G", 1005).frozen
        before = row_counts(writer)
        for sql in (
            "DELETE FROM iov",
            "DELETE FROM run",
            "TRUNCATE payload CASCADE",
            "TRUNCATE run",
            "UPDATE payload SET provenance = '{}'",
            "UPDATE tag SET name = 'x'",
            "UPDATE alembic_version SET version_num = '0001'",
            "DROP TABLE iov",
            "CREATE TABLE evil (x int)",
            "ALTER TABLE iov DISABLE TRIGGER ALL",
        ):
            with (
                pytest.raises(DBAPIError, match=r"permission denied|must be owner"),
                writer.begin() as conn,
            ):
                conn.execute(text(sql))
        assert row_counts(writer) == before
    finally:
        writer.dispose()


def test_reader_only_reads(db_url: str, roles: dict[str, str]) -> None:
    owner = make_engine(db_url)
    with write_session(owner) as s:
        report = upload_campaign(s, constants())
        store.create_global_tag(s, "G")
        store.set_record(s, "G", "light_yield", report.records[1].tag)
    owner.dispose()
    reader = engine_as(db_url, roles["reader"])
    try:
        assert resolve(reader, "G", 1005)["light_yield"].payload_hash
        for sql in (
            "INSERT INTO payload_type (name, description, created_at) VALUES ('x', '', now())",
            "UPDATE tag SET state = 'locked'",
            "SELECT * FROM tag FOR UPDATE",
        ):
            with pytest.raises(DBAPIError, match="permission denied"), reader.begin() as conn:
                conn.execute(text(sql))
    finally:
        reader.dispose()


def test_owner_owns_the_schema_and_the_triggers_still_bind_it(
    db_url: str, roles: dict[str, str]
) -> None:
    owner = engine_as(db_url, roles["owner"])
    try:
        with owner.connect() as conn:
            owners = set(
                conn.scalars(text("SELECT tableowner FROM pg_tables WHERE schemaname = 'public'"))
            )
        assert owners == {roles["owner"]}
        with pytest.raises(DBAPIError, match="conddb"), owner.begin() as conn:
            conn.execute(text("TRUNCATE iov"))
    finally:
        owner.dispose()
