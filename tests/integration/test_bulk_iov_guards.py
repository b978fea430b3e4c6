"""Migration 0007: the IOV insert guards run once per statement (PostgreSQL) or probe the tag
once per row (SQLite); a multi-row raw INSERT is refused as a whole, with the old messages, and
the change counter still moves with every accepted statement.  0007 -> 0006 -> 0007 keeps
the guards."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from conditions import migrate, store
from conditions.db import write_session
from conditions.model import TagSync

#: A multi-row insert: tag ``a`` at sinces 10, 20; tag ``b`` at ``:since_b``.
MULTI = (
    "INSERT INTO iov (tag_id, since, insertion_time, payload_hash) VALUES "
    "(:a, 10, CURRENT_TIMESTAMP, :h), (:a, 20, CURRENT_TIMESTAMP, :h), "
    "(:b, :since_b, CURRENT_TIMESTAMP, :h)"
)


def _world(engine: Engine) -> dict[str, object]:
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
        h = store.put_payload(s, "json", b'{"v": 1}').hash
        ids = {name: store.create_tag(s, name, "json").id for name in ("a", "b")}
    return {"h": h, **ids}


def _iov_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM iov").scalar_one())


def _counter(engine: Engine, tag_id: object) -> int:
    with engine.connect() as conn:
        n = conn.execute(
            text("SELECT n FROM change_counter WHERE scope = 'tag' AND object_id = :t"),
            {"t": tag_id},
        ).scalar()
    return int(n or 0)


def _refuses(engine: Engine, params: dict[str, object], message: str) -> None:
    before = _iov_count(engine)
    with engine.begin() as conn, pytest.raises(DBAPIError, match=message):
        conn.execute(text(MULTI), params)
    assert _iov_count(engine) == before  # nothing of the statement stays


@pytest.mark.parametrize("guards_at", ["0007", "0006"])
def test_multi_row_insert_into_a_locked_tag_is_refused_whole(
    engine: Engine, guards_at: str
) -> None:
    if guards_at == "0006":
        migrate.downgrade(engine, "0006")  # the per-row guards of 0001/0003/0006: same behaviour
    p = _world(engine)
    with write_session(engine) as s:
        store.lock_tag(s, "b")
    _refuses(engine, {**p, "since_b": 5}, "tag is locked")
    counted = _counter(engine, p["a"])
    p_open = {**p, "b": p["a"], "since_b": 30}  # every row into the open tag: accepted
    with engine.begin() as conn:
        conn.execute(text(MULTI), p_open)
    assert _iov_count(engine) == 3
    assert _counter(engine, p["a"]) > counted  # the bump of 0005 still fires
    if guards_at == "0006":
        migrate.upgrade(engine)
        _refuses(engine, {**p, "since_b": 6}, "tag is locked")


def test_multi_row_insert_below_the_fcsr_is_refused_whole(engine: Engine) -> None:
    p = _world(engine)
    with write_session(engine) as s:
        store.set_tag_sync(s, "b", TagSync.PROMPT)
        store.mark_processed(s, 99, "prompt")  # FCSR 100
    # tag a is offline: any since; tag b is prompt: 99 < FCSR
    _refuses(engine, {**p, "since_b": 99}, "condition-safe run")
    with engine.begin() as conn:
        conn.execute(text(MULTI), {**p, "since_b": 100})
    assert _iov_count(engine) == 3
    if engine.dialect.name == "postgresql":  # the lowest since of the tag is the one named
        with engine.begin() as conn, pytest.raises(DBAPIError, match="since 7 is below"):
            conn.execute(
                text(
                    "INSERT INTO iov (tag_id, since, insertion_time, payload_hash) "
                    "SELECT :b, s, now(), :h FROM unnest(ARRAY[150, 7, 42]) AS s"
                ),
                p,
            )


def test_copy_into_a_locked_tag_is_refused(engine: Engine) -> None:
    """PostgreSQL ``COPY`` fires the statement trigger like ``INSERT``."""
    if engine.dialect.name != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    p = _world(engine)
    with write_session(engine) as s:
        store.lock_tag(s, "a")
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        copy = "COPY iov (tag_id, since, insertion_time, payload_hash) FROM STDIN"
        refused = pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="tag is locked")
        with refused, cur.copy(copy) as c:
            c.write_row((p["a"], 1, "2026-01-01T00:00:00+00:00", p["h"]))
        raw.rollback()
    finally:
        raw.close()
    assert _iov_count(engine) == 0
