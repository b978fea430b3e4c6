"""Bulk wipes and the lock-vs-append race are refused by the database (issue 13 item 3, Low).

PostgreSQL ``TRUNCATE`` fires no row trigger; migration 0003 adds statement-level ``BEFORE
TRUNCATE`` guards.  SQLite has no TRUNCATE: its bulk wipe is ``DELETE FROM t`` (the truncate
optimisation is off on tables with triggers), refused by the row guards; it is checked too.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from conditions import store
from conditions.db import WRITE_OPTION, make_engine, write_session
from tests.conftest import row_counts
from tests.integration.test_guards_replace import populate

GUARDED = ("payload", "iov", "tag", "global_tag", "global_tag_map", "campaign", "campaign_payload")


@pytest.fixture
def populated(engine: Engine) -> Engine:
    return populate(engine)


def wipes(dialect: str, table: str) -> list[str]:
    if dialect == "postgresql":
        return [
            f"TRUNCATE {table}",
            f"TRUNCATE {table} CASCADE",
            f"TRUNCATE TABLE {table} RESTART IDENTITY CASCADE",
        ]
    return [f"DELETE FROM {table}"]


@pytest.mark.parametrize("table", [*GUARDED, "payload_type"])
def test_a_guarded_table_cannot_be_wiped_by_its_owner(populated: Engine, table: str) -> None:
    """The test connects as the owner (superuser): the triggers hold even for it."""
    before = row_counts(populated)
    assert before["iov"] and before["campaign_payload"]
    for sql in wipes(populated.dialect.name, table):
        with pytest.raises(DBAPIError), populated.begin() as conn:
            conn.execute(text(sql))
        assert row_counts(populated) == before, sql


def _open_tag(engine: Engine) -> tuple[str, int]:
    """An open, empty tag "t" of type json and a payload for it: (payload hash, tag id)."""
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
        h = store.put_payload(s, "json", b'{"v":1}').hash
        return h, store.create_tag(s, "t", "json").id


def _set_wait_limit(conn: Connection, dialect: str) -> None:
    """Make a session give up after 1 s of waiting for a lock (instead of waiting forever);
    set on the driver connection, outside any SQLAlchemy transaction."""
    raw = conn.connection.dbapi_connection
    assert raw is not None
    cursor = raw.cursor()
    if dialect == "postgresql":
        cursor.execute("SET lock_timeout = '1s'")
        raw.commit()
    else:
        cursor.execute("PRAGMA busy_timeout = 1000")
    cursor.close()


def test_lock_waits_for_an_uncommitted_raw_append(db_url: str) -> None:
    """Session A inserts an IOV (uncommitted); session B's lock must wait for A, never commit
    first and leave a locked tag that later gains A's IOV."""
    engine = make_engine(db_url)
    try:
        h, tag_id = _open_tag(engine)
        dialect = engine.dialect.name
        writer = {WRITE_OPTION: True}  # SQLite: BEGIN IMMEDIATE, like every library writer
        a = engine.execution_options(**writer).connect()
        a.begin()
        a.execute(
            text(
                "INSERT INTO iov (tag_id, since, insertion_time, payload_hash) "
                "VALUES (:t, 5, CURRENT_TIMESTAMP, :h)"
            ),
            {"t": tag_id, "h": h},
        )
        b_engine = make_engine(db_url)
        b = b_engine.execution_options(**writer).connect()
        _set_wait_limit(b, dialect)
        with pytest.raises(OperationalError), b.begin():  # lock timeout: B waited for A
            b.execute(text("UPDATE tag SET state = 'locked' WHERE id = :t"), {"t": tag_id})
        b.close()
        b_engine.dispose()
        a.commit()
        a.close()
        with write_session(engine) as s:  # now the lock goes through, after the append
            assert store.lock_tag(s, "t").state.value == "locked"
            assert [i.since for i in store.list_iovs(s, "t")] == [5]
    finally:
        engine.dispose()


@pytest.mark.postgresql
def test_append_after_an_uncommitted_lock_is_refused_once_it_commits(db_url: str) -> None:
    """B locks the tag (uncommitted); A's raw insert waits, then sees the lock and is refused."""
    engine = make_engine(db_url)
    if engine.dialect.name != "postgresql":
        engine.dispose()
        pytest.skip("SQLite writers never overlap (BEGIN IMMEDIATE)")
    try:
        h, tag_id = _open_tag(engine)
        b = engine.connect()
        b.begin()
        b.execute(text("UPDATE tag SET state = 'locked', locked_at = now() WHERE id = :t"),
                  {"t": tag_id})
        outcome: list[BaseException | None] = []

        def append() -> None:
            try:
                with engine.begin() as a:
                    a.execute(
                        text(
                            "INSERT INTO iov (tag_id, since, insertion_time, payload_hash) "
                            "VALUES (:t, 5, now(), :h)"
                        ),
                        {"t": tag_id, "h": h},
                    )
                outcome.append(None)
            except DBAPIError as exc:
                outcome.append(exc)

        thread = threading.Thread(target=append)
        thread.start()
        time.sleep(1.0)
        assert thread.is_alive(), "the insert must wait for the uncommitted lock"
        b.commit()
        b.close()
        thread.join(30)
        assert outcome and outcome[0] is not None and "tag is locked" in str(outcome[0])
        assert row_counts(engine)["iov"] == 0
    finally:
        engine.dispose()


def test_migration_0003_downgrades_and_upgrades_a_populated_database(populated: Engine) -> None:
    """0003 -> 0002 -> head keeps every row and state; the guards are back after the upgrade."""
    from conditions import migrate
    from conditions.resolve import resolve

    before, counts = resolve(populated, "GT", 5), row_counts(populated)
    migrate.downgrade(populated, "0002")
    assert migrate.current_revision(populated) == "0002"
    with populated.connect() as conn:  # raw SQL: the code reads 0006 states (issue 18)
        states = conn.exec_driver_sql("SELECT name, state FROM global_tag").all()
        assert dict(states)["GT"] == "frozen"
    migrate.upgrade(populated)
    migrate.check(populated)
    # the lifecycle's own tables are 0006's: a downgrade below it drops them with their rows
    # (the publish of the fixture stored a validation report); everything else is kept
    lifecycle = {"validation_report", "global_tag_approval", "processed_run", "sync_state",
                 "drift_ack"}
    kept = {k: v for k, v in counts.items() if k not in lifecycle}
    assert {k: v for k, v in row_counts(populated).items() if k not in lifecycle} == kept
    after = resolve(populated, "GT", 5)
    assert after.records == before.records and after.frozen
    attack = wipes(populated.dialect.name, "iov")[0]
    if populated.dialect.name == "sqlite":
        attack = "REPLACE INTO payload SELECT * FROM payload"
    with pytest.raises(DBAPIError, match="conddb"), populated.begin() as conn:
        conn.execute(text(attack))
    assert {k: v for k, v in row_counts(populated).items() if k not in lifecycle} == kept
