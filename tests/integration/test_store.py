"""Write path: payloads, tags, IOVs, global tags; domain rules on both backends."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from conditions import store
from conditions.db import read_session, write_session
from conditions.errors import (
    AlreadyExists,
    GlobalTagFrozen,
    HashCollision,
    InvalidIOV,
    InvalidName,
    PayloadNotFound,
    PayloadTooLarge,
    PayloadTypeNotFound,
    TagLocked,
    TagNotFound,
)
from conditions.model import IOV, Payload, Tag
from tests.support.lifecycle import publish


def _setup(engine: Engine, tag: str = "t", ptype: str = "json") -> tuple[str, str]:
    with write_session(engine) as s:
        store.register_payload_type(s, ptype)
        h1 = store.put_payload(s, ptype, b'{"v":1}').hash
        h2 = store.put_payload(s, ptype, b'{"v":2}').hash
        store.create_tag(s, tag, ptype)
    return h1, h2


def _count(engine: Engine, model: type) -> int:
    with read_session(engine) as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_put_payload_is_idempotent_and_content_addressed(engine: Engine) -> None:
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
        first = store.put_payload(s, "json", b'{"a":1}', provenance={"job": "x"})
        again = store.put_payload(s, "json", b'{"a":1}', provenance={"job": "y"})
    assert first.created and not again.created
    assert first.hash == again.hash == store.sha256_hex(b'{"a":1}')
    assert _count(engine, Payload) == 1
    with read_session(engine) as s:
        row = store.get_payload(s, first.hash)
        assert row.provenance == {"job": "x"}  # the first provenance is kept
        assert row.size == 7
        assert store.payload_bytes(s, first.hash) == b'{"a":1}'


def test_same_hash_with_other_bytes_is_a_collision(engine: Engine) -> None:
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
    forged = store.sha256_hex(b"genuine")
    with engine.begin() as conn:  # a row whose bytes do not match its hash (corruption)
        conn.execute(
            text(
                "INSERT INTO payload (hash, type_name, schema_version, data, size, provenance, "
                "created_at) VALUES (:h, 'json', 1, :d, 6, '{}', :t)"
            ),
            {"h": forged, "d": b"forged", "t": dt.datetime(2026, 1, 1)},
        )
    with pytest.raises(HashCollision), write_session(engine) as s:
        store.put_payload(s, "json", b"genuine")


def test_payload_size_limit_and_unknown_type(engine: Engine) -> None:
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
    with pytest.raises(PayloadTooLarge), write_session(engine) as s:
        store.put_payload(s, "json", b"x" * 101, max_bytes=100)
    with pytest.raises(PayloadTypeNotFound), write_session(engine) as s:
        store.put_payload(s, "nope", b"x")
    assert _count(engine, Payload) == 0


@pytest.mark.parametrize(
    "name", ["", "a b", "x'; DROP TABLE tag; --", "../etc", "é", "a" * 101, "-lead"]
)
def test_invalid_names_are_refused(engine: Engine, name: str) -> None:
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
    with pytest.raises(InvalidName), write_session(engine) as s:
        store.create_tag(s, name, "json")
    with pytest.raises(InvalidName), write_session(engine) as s:
        store.create_global_tag(s, name)
    assert _count(engine, Tag) == 0


def test_append_dedupes_and_supersedes(engine: Engine) -> None:
    h1, h2 = _setup(engine)
    with write_session(engine) as s:
        r = store.append_iovs(s, "t", [(1, h1), (100, h2)])
    assert (r.added, r.unchanged) == (2, 0)
    with write_session(engine) as s:
        r = store.append_iovs(s, "t", [(1, h1), (100, h2)])
    assert (r.added, r.unchanged) == (0, 2)
    with write_session(engine) as s:
        r = store.append_iovs(s, "t", [(100, h1)])
    assert (r.added, r.unchanged) == (1, 0)
    with read_session(engine) as s:
        now = store.list_iovs(s, "t")
        hist = store.list_iovs(s, "t", history=True)
    assert [(i.since, i.until, i.payload_hash) for i in now] == [(1, 99, h1), (100, None, h1)]
    assert len(hist) == 3 and sum(i.superseded for i in hist) == 1


def test_append_errors_write_nothing(engine: Engine) -> None:
    h1, h2 = _setup(engine)
    with write_session(engine) as s:
        store.register_payload_type(s, "other")
        other = store.put_payload(s, "other", b"{}").hash
    bad_batches = [
        ([(1, h1), (1, h2)], InvalidIOV),  # two payloads for one since
        ([(1, h1), (2, "0" * 64)], PayloadNotFound),
        ([(1, h1), (2, other)], InvalidIOV),  # payload of another type
        ([(1, h1), (-5, h2)], InvalidIOV),
    ]
    for batch, error in bad_batches:
        with pytest.raises(error), write_session(engine) as s:
            store.append_iovs(s, "t", batch)
    with pytest.raises(TagNotFound), write_session(engine) as s:
        store.append_iovs(s, "missing", [(1, h1)])
    assert _count(engine, IOV) == 0


def test_transaction_rolls_back_everything(engine: Engine) -> None:
    h1, _ = _setup(engine)
    with pytest.raises(TagLocked), write_session(engine) as s:
        store.put_payload(s, "json", b'{"v":3}')
        store.append_iovs(s, "t", [(5, h1)])
        store.create_tag(s, "t2", "json")
        store.lock_tag(s, "t2")
        store.append_iovs(s, "t2", [(1, h1)])
    assert _count(engine, IOV) == 0
    assert _count(engine, Payload) == 2
    with read_session(engine) as s:
        assert s.scalar(select(Tag).where(Tag.name == "t2")) is None


def test_locked_tag_refuses_appends(engine: Engine) -> None:
    h1, h2 = _setup(engine)
    with write_session(engine) as s:
        store.append_iovs(s, "t", [(1, h1)])
        store.lock_tag(s, "t")
    with pytest.raises(TagLocked), write_session(engine) as s:
        store.append_iovs(s, "t", [(2, h2)])
    with write_session(engine) as s:
        assert store.lock_tag(s, "t").state.value == "locked"  # locking twice is a no-op
    assert _count(engine, IOV) == 1


def test_global_tag_lifecycle(engine: Engine) -> None:
    h1, _ = _setup(engine)
    with write_session(engine) as s:
        store.register_payload_type(s, "other")
        store.create_tag(s, "o", "other")
        store.append_iovs(s, "t", [(1, h1)])
        store.create_global_tag(s, "GT")
        assert store.set_record(s, "GT", "rec", "t")
        assert not store.set_record(s, "GT", "rec", "t")
    with pytest.raises(InvalidIOV), write_session(engine) as s:
        store.set_record(s, "GT", "rec", "o")  # another payload type for the same record
    with pytest.raises(AlreadyExists), write_session(engine) as s:
        store.create_global_tag(s, "GT")
    with write_session(engine) as s:
        frozen = publish(s, "GT")
        assert frozen.snapshot_time is not None
    with pytest.raises(GlobalTagFrozen), write_session(engine) as s:
        store.set_record(s, "GT", "rec2", "t")
    with pytest.raises(GlobalTagFrozen), write_session(engine) as s:
        store.publish_global_tag(s, "GT")  # the repository step refuses an immutable one too
    with write_session(engine) as s:
        store.clone_global_tag(s, "GT", "GT2")
        store.set_record(s, "GT2", "rec2", "t")
    with read_session(engine) as s:
        assert set(store.global_tag_map(s, store.get_global_tag(s, "GT2"))) == {"rec", "rec2"}
        assert set(store.global_tag_map(s, store.get_global_tag(s, "GT"))) == {"rec"}


def test_snapshot_time_must_be_past_and_aware(engine: Engine) -> None:
    with write_session(engine) as s:
        store.create_global_tag(s, "GT")
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    with pytest.raises(Exception, match="future"), write_session(engine) as s:
        publish(s, "GT", snapshot_time=future)


def test_run_registry(engine: Engine) -> None:
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with write_session(engine) as s:
        store.register_run(s, 10, start_time=t0, end_time=t0 + dt.timedelta(hours=1))
        store.register_run(s, 11, start_time=t0 + dt.timedelta(hours=2))
        store.register_run(s, 10, start_time=t0, end_time=t0 + dt.timedelta(hours=1))
    with read_session(engine) as s:
        assert store.run_at(s, t0 + dt.timedelta(minutes=30)) == 10
        assert store.run_at(s, t0 + dt.timedelta(hours=5)) == 11
        with pytest.raises(Exception, match="no registered run"):
            store.run_at(s, t0 + dt.timedelta(minutes=90))
    with pytest.raises(AlreadyExists), write_session(engine) as s:
        store.register_run(s, 10, start_time=t0)
