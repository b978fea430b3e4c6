"""Immutability: every path that could change history is refused (ORM, raw SQL, triggers)."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from conditions import db, store
from conditions.db import read_session, write_session
from conditions.errors import GlobalTagFrozen, ImmutableObject, TagLocked
from conditions.model import IOV, GlobalTag, GlobalTagMap, Payload, Tag, TagState
from tests.support.lifecycle import publish


@pytest.fixture
def populated(engine: Engine) -> Engine:
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
        h = store.put_payload(s, "json", b'{"v":1}').hash
        store.create_tag(s, "open_tag", "json")
        store.create_tag(s, "locked_tag", "json")
        store.append_iovs(s, "open_tag", [(1, h)])
        store.append_iovs(s, "locked_tag", [(1, h)])
        store.lock_tag(s, "locked_tag")
        store.create_global_tag(s, "GT")
        store.set_record(s, "GT", "rec", "open_tag")
        publish(s, "GT")
    return engine


def _orm_change(engine: Engine, change: object) -> None:
    # a session of conditions.db: the guard is installed on it (never on the Session class)
    with db.session(engine) as s, s.begin():
        change(s)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (
            lambda s: setattr(s.scalars(select(Payload)).first(), "provenance", {"x": 1}),
            ImmutableObject,
        ),
        (lambda s: s.delete(s.scalars(select(Payload)).first()), ImmutableObject),
        (lambda s: setattr(s.scalars(select(IOV)).first(), "since", 7), ImmutableObject),
        (lambda s: s.delete(s.scalars(select(IOV)).first()), ImmutableObject),
        (
            lambda s: setattr(
                s.scalars(select(Tag).where(Tag.name == "locked_tag")).one(), "state", TagState.OPEN
            ),
            TagLocked,
        ),
        (
            lambda s: setattr(
                s.scalars(select(Tag).where(Tag.name == "locked_tag")).one(),
                "description",
                "changed",
            ),
            TagLocked,
        ),
        (
            lambda s: setattr(s.scalars(select(GlobalTag)).one(), "snapshot_time", None),
            GlobalTagFrozen,
        ),
        (lambda s: s.delete(s.scalars(select(GlobalTagMap)).first()), ImmutableObject),
        (
            lambda s: s.add(
                IOV(
                    tag_id=s.scalars(select(Tag.id).where(Tag.name == "locked_tag")).one(),
                    since=5,
                    payload_hash=s.scalars(select(Payload.hash)).first(),
                )
            ),
            TagLocked,
        ),
    ],
    ids=[
        "payload-set",
        "payload-delete",
        "iov-set",
        "iov-delete",
        "unlock",
        "locked-describe",
        "gt-snapshot",
        "map-delete",
        "iov-into-locked",
    ],
)
def test_orm_changes_are_refused(populated: Engine, change: object, error: type) -> None:
    with pytest.raises(error):
        _orm_change(populated, change)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE payload SET provenance = '{}'",
        "DELETE FROM payload",
        "UPDATE iov SET since = since + 1",
        "DELETE FROM iov",
        "UPDATE tag SET state = 'open' WHERE name = 'locked_tag'",
        "DELETE FROM tag WHERE name = 'locked_tag'",
        "UPDATE global_tag SET state = 'open'",
        "DELETE FROM global_tag_map",
        "INSERT INTO iov (tag_id, since, insertion_time, payload_hash) "
        "SELECT t.id, 99, CURRENT_TIMESTAMP, p.hash FROM tag t, payload p "
        "WHERE t.name = 'locked_tag'",
        "INSERT INTO global_tag_map (global_tag_id, record, tag_id, insertion_time) "
        "SELECT g.id, 'other', t.id, CURRENT_TIMESTAMP FROM global_tag g, tag t "
        "WHERE t.name = 'open_tag'",
    ],
)
def test_raw_sql_is_refused_by_the_database(populated: Engine, sql: str) -> None:
    with read_session(populated) as s:
        before = (
            s.scalar(text("SELECT count(*) FROM iov")),
            s.scalar(text("SELECT count(*) FROM global_tag_map")),
        )
    with pytest.raises(DBAPIError, match="conddb"), populated.begin() as conn:
        conn.execute(text(sql))
    with read_session(populated) as s:
        after = (
            s.scalar(text("SELECT count(*) FROM iov")),
            s.scalar(text("SELECT count(*) FROM global_tag_map")),
        )
        assert s.scalar(text("SELECT state FROM tag WHERE name = 'locked_tag'")) == "locked"
    assert before == after


def test_open_tag_still_accepts_appends_through_raw_sql(populated: Engine) -> None:
    """The guards refuse only what is forbidden (an open tag is appendable)."""
    with populated.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO iov (tag_id, since, insertion_time, payload_hash) "
                "SELECT t.id, 50, CURRENT_TIMESTAMP, p.hash FROM tag t, payload p "
                "WHERE t.name = 'open_tag'"
            )
        )
    with read_session(populated) as s:
        assert [i.since for i in store.list_iovs(s, "open_tag")] == [1, 50]
