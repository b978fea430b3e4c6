"""The per-lookup change check (conditions/store/stamps.py) on both backends.

The counter sum read on the raw connection equals the sum of the stamp the SQLAlchemy query
reads, moves with every write a lookup could see (append, lock, map row), and a killed
connection is replaced (PostgreSQL: the server terminates it; the next lookup still answers).
"""

from __future__ import annotations

import asyncio
import itertools

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from conditions import store
from conditions.db import write_session
from conditions.resolve import Resolver
from conditions.store.index import stamp_of, versions
from conditions.store.stamps import AsyncChangeCheck, ChangeCheck


def _setup(engine: Engine) -> str:
    with write_session(engine) as s:
        store.ensure_payload_type(s, "json")
        h = store.put_payload(s, "json", b'{"v":1}').hash
        store.create_tag(s, "cc_a", "json")
        store.create_tag(s, "cc_b", "json")
        store.append_iovs(s, "cc_a", [(0, h)])
        store.create_global_tag(s, "cc_gt")
        store.set_record(s, "cc_gt", "a", "cc_a")
    return h


def test_counter_sum_moves_with_every_visible_write(engine: Engine) -> None:
    h = _setup(engine)
    check = ChangeCheck(engine)
    seen = []
    writes = [
        lambda s: store.append_iovs(s, "cc_a", [(5, h)]),
        lambda s: store.set_record(s, "cc_gt", "b", "cc_b"),
        lambda s: store.append_iovs(s, "cc_b", [(0, h)]),
        lambda s: store.lock_tag(s, "cc_a"),
    ]
    for write in [None, *writes]:
        if write is not None:
            with write_session(engine) as s:
                write(s)
        with engine.connect() as c:
            version = versions(c, "cc_gt")
        assert version is not None
        tag_ids = tuple(sorted(o for sc, o, _ in version[1] if sc == "tag"))
        got = check.counter_sum(version[0], tag_ids)
        assert got == stamp_of(version)
        assert got == check.counter_sum(version[0], tag_ids)  # asked again: the same
        seen.append(got)
    assert all(a < b for a, b in itertools.pairwise(seen)), seen
    check.close()


def test_a_killed_check_connection_is_replaced(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL terminates connections; SQLite has none to kill")
    _setup(engine)
    resolver = Resolver(engine, index=True)
    first = resolver.resolve("cc_gt", 3)  # builds the index
    assert resolver.resolve("cc_gt", 3) == first  # the check opens its raw connection
    with engine.connect() as c:
        killed = c.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    assert killed >= 1  # the resolver's raw check connection among them
    assert resolver.resolve("cc_gt", 3) == first
    resolver.clear()


def test_the_async_check_reads_the_same_sums_and_survives_a_killed_connection(
    engine: Engine,
) -> None:
    """PostgreSQL's event-loop check (AsyncChangeCheck) reads what the blocking one reads,
    sees each commit made before it is awaited, and replaces a connection the server killed."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's lean path checks inline with ChangeCheck")
    h = _setup(engine)
    sync_check, async_check = ChangeCheck(engine), AsyncChangeCheck(engine)

    def ids() -> tuple[int, tuple[int, ...]]:
        with engine.connect() as c:
            version = versions(c, "cc_gt")
        assert version is not None
        return version[0], tuple(sorted(o for sc, o, _ in version[1] if sc == "tag"))

    async def main() -> list[int]:
        seen = []
        for since in (5, 6, 7):
            gt_id, tag_ids = ids()
            got = await async_check.counter_sum(gt_id, tag_ids)
            assert got == sync_check.counter_sum(gt_id, tag_ids)
            seen.append(got)
            with write_session(engine) as s:  # committed before the next await
                store.append_iovs(s, "cc_a", [(since, h)])
            assert await async_check.counter_sum(gt_id, tag_ids) > got
        with engine.connect() as c:
            c.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        gt_id, tag_ids = ids()
        assert await async_check.counter_sum(gt_id, tag_ids) == sync_check.counter_sum(
            gt_id, tag_ids
        )
        return seen

    seen = asyncio.run(main())
    assert all(a < b for a, b in itertools.pairwise(seen)), seen
    async_check.close()
    sync_check.close()
