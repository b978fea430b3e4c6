"""Resolver(index=True) against the pure IOV rules of conditions/iov.py, on both backends.

One long-lived Resolver (its index extended instead of rebuilt; and a fresh one per step, whose
index is built from all the rows at once) sees random interleavings of:
appends through the repository (new sinces at the end and in the middle, same-since
re-appends with another payload, repeats of the payload in force), raw SQL appends (also with
an insertion time *older* than the row in force: it must not win), rows committed with an id
*below* the greatest id the index has read (the count guard must rebuild), map changes, tag
locks and a freeze.  After every step each lookup must equal what conditions/iov.py computes
from the rows the test itself wrote (an oracle independent of the SQL reader), errors included,
and the index segment of the run must be the intersection of the records' IOVs (the merged
segment starts, inherited and extended across appends).  The spare capacity of the index
buffers is drawn too (none: every append grows them by a copy; a few rows; the default: in
place), so appends into spare capacity, growths and the copies of a superseded row all occur.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Engine

from conditions import iov, store
from conditions.db import write_session
from conditions.db.model import UTCDateTime
from conditions.errors import ConddbError
from conditions.resolve import Resolver
from conditions.store import index as iov_index
from tests.support.lifecycle import publish

_names = itertools.count()
N_TAGS = 3
RECORDS = ("a", "b")
RUNS = 40

_runs = st.lists(st.integers(0, RUNS), min_size=1, max_size=4)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(0, N_TAGS - 1), _runs),
        st.tuples(st.just("raw"), st.integers(0, N_TAGS - 1), _runs),
        st.tuples(st.just("raw_old"), st.integers(0, N_TAGS - 1), _runs),
        st.tuples(st.just("tie"), st.integers(0, N_TAGS - 1), _runs),
        st.tuples(st.just("late"), st.integers(0, N_TAGS - 1), _runs),
        st.tuples(st.just("map"), st.integers(0, len(RECORDS) - 1), st.just([0])),
        st.tuples(st.just("lock"), st.integers(0, N_TAGS - 1), st.just([])),
        st.tuples(st.just("freeze"), st.just(0), st.just([])),
    ),
    min_size=1,
    max_size=20,
)


@dataclass
class World:
    """What the test wrote: rows per tag (id order), map in force, snapshot."""

    rows: dict[int, list[tuple[int, iov.Row]]] = field(default_factory=dict)  # tag -> (id, row)
    mapping: dict[str, int] = field(default_factory=dict)
    locked: set[int] = field(default_factory=set)
    snapshot: dt.datetime | None = None

    def bounds(self, run: int) -> tuple[int, int | None] | None:
        """The intersection of the records' IOVs holding ``run`` (None: a record misses it)."""
        first, last = 0, None
        for k in self.mapping.values():
            ordered = [row for _, row in sorted(self.rows.get(k, []), key=lambda x: x[0])]
            hit = iov.locate(iov.in_force(ordered, snapshot=self.snapshot), run)
            if hit is None:
                return None
            first = max(first, hit.since)
            if last is None or (hit.until is not None and hit.until < last):
                last = hit.until  # None: open-ended, the identity of min
        return (first, last) if self.mapping else None

    def expected(self, tags: list[str], run: int) -> object:
        if not self.mapping:
            return "RecordNotFound"
        found = {}
        for rec in sorted(self.mapping):
            k = self.mapping[rec]
            ordered = [row for _, row in sorted(self.rows.get(k, []), key=lambda x: x[0])]
            hit = iov.locate(iov.in_force(ordered, snapshot=self.snapshot), run)
            if hit is None:
                return "RunNotCovered"
            found[rec] = (tags[k], hit.payload_hash, hit.since, hit.until, hit.insertion_time)
        return (self.snapshot is not None, found)


def _segment(resolver: Resolver, gt: str, run: int) -> tuple[int, int | None] | None:
    found = resolver.segment(gt, run)
    return None if found is None else (found[1].first, found[1].last)


def _got(resolver: Resolver, gt: str, run: int) -> object:
    try:
        res = resolver.resolve(gt, run)
    except ConddbError as e:
        return type(e).__name__
    return (
        res.frozen,
        {
            r: (v.tag, v.payload_hash, v.since, v.until, v.insertion_time)
            for r, v in res.records.items()
        },
    )


_AT = bindparam("at", type_=UTCDateTime())
_RAW = text(
    "INSERT INTO iov (tag_id, since, insertion_time, payload_hash) "
    "VALUES (:t, :s, :at, :h) RETURNING id"
).bindparams(_AT)
_RAW_ID = text(
    "INSERT INTO iov (id, tag_id, since, insertion_time, payload_hash) "
    "VALUES (:id, :t, :s, :at, :h) RETURNING id"
).bindparams(_AT)


def _raw_insert(engine: Engine, tag: str, since: int, at: dt.datetime, h: str, id_: int) -> int:
    """Insert one IOV row by raw SQL (id < 0: the database's next id); returns its id."""
    with engine.begin() as c:
        tid = c.execute(text("SELECT id FROM tag WHERE name = :n"), {"n": tag}).scalar_one()
        params = {"id": id_, "t": tid, "s": since, "at": at, "h": h}
        return int(c.execute(_RAW if id_ < 0 else _RAW_ID, params).scalar_one())


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=steps, spare=st.sampled_from([0, 2, 64]))
@example(plan=[("append", 0, [0, 9]), ("late", 0, [5])], spare=64)  # a row below the last id
@example(plan=[("append", 0, [0, 9]), ("tie", 0, [9])], spare=0)  # same time: later id wins
@example(plan=[("append", 0, [20]), ("raw_old", 0, [20]), ("append", 0, [20, 30])], spare=2)
@example(  # appends after the last start, inside the merged range, and a map change between
    plan=[("append", 0, [10]), ("map", 1, [0]), ("append", 1, [5, 30]), ("append", 0, [20])],
    spare=64,
)
def test_index_equals_the_iov_rules(
    engine: Engine, plan: list[tuple[str, int, list[int]]], spare: int
) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(iov_index._Columns, "MIN_SPARE", spare)
        mp.setattr(iov_index._Merged, "MIN_SPARE", spare)
        _check_plan(engine, plan)


def _check_plan(engine: Engine, plan: list[tuple[str, int, list[int]]]) -> None:
    n = next(_names)
    tags = [f"ox{n}_t{k}" for k in range(N_TAGS)]
    gt = f"ox{n}_gt"
    world = World()
    with write_session(engine) as s:
        store.ensure_payload_type(s, "json")
        hashes = [
            r.hash for r in store.put_payloads(s, "json", [b'{"v":%d}' % v for v in range(3)])
        ]
        for t in tags:
            store.create_tag(s, t, "json")
        store.create_global_tag(s, gt)
        store.set_record(s, gt, "a", tags[0])
    world.mapping["a"] = 0
    resolver = Resolver(engine, index=True)
    pick = itertools.count()
    for op, x, runs in [*plan, ("lookup", 0, [])]:
        if op == "late" and world.snapshot is None:
            x = world.mapping["a"]  # a tag the index holds
        if op in ("append", "raw", "raw_old", "tie", "late") and x not in world.locked and runs:
            if world.snapshot is not None and op != "append":
                continue  # raw SQL could forge rows under the snapshot: the DB's business
            batch = {r: hashes[next(pick) % len(hashes)] for r in runs}
            if op == "append":
                with write_session(engine) as s:
                    done = store.append_iovs(s, tags[x], sorted(batch.items()))
                with engine.connect() as c:
                    ids = c.execute(
                        text(
                            "SELECT i.id, i.since FROM iov i JOIN tag t ON t.id = i.tag_id "
                            "WHERE t.name = :n AND i.insertion_time = :at"
                        ).bindparams(bindparam("at", type_=UTCDateTime())),
                        {"n": tags[x], "at": done.insertion_time},
                    ).all()
                for id_, since in ids:
                    row = iov.Row(int(since), batch[int(since)], done.insertion_time)
                    world.rows.setdefault(x, []).append((int(id_), row))
            else:
                since, h = min(batch.items())
                at = store.utcnow()
                same = [r.insertion_time for _, r in world.rows.get(x, []) if r.since == since]
                if op == "raw_old":  # older than everything: loses against any row in force
                    at -= dt.timedelta(days=1)
                elif op == "tie" and same:  # the same time as the row in force: the later id wins
                    at = max(same)
                id_ = -1
                if op == "late":
                    # a row with an id far above the others, read by the index, then one with
                    # an id below it committed afterwards (a writer without the tag's lock)
                    with engine.connect() as c:
                        top = c.execute(text("SELECT coalesce(max(id), 0) FROM iov")).scalar_one()
                    high = _raw_insert(engine, tags[x], RUNS + 1, at, h, int(top) + 100_000)
                    world.rows.setdefault(x, []).append((high, iov.Row(RUNS + 1, h, at)))
                    assert _got(resolver, gt, RUNS + 1) == world.expected(tags, RUNS + 1)
                    id_ = high - 1
                id_ = _raw_insert(engine, tags[x], since, at, h, id_)
                world.rows.setdefault(x, []).append((id_, iov.Row(since, h, at)))
        elif op == "map" and world.snapshot is None:
            k = next(pick) % N_TAGS
            with write_session(engine) as s:
                store.set_record(s, gt, RECORDS[x], tags[k])
            world.mapping[RECORDS[x]] = k
        elif op == "lock" and x not in world.locked:
            with write_session(engine) as s:
                store.lock_tag(s, tags[x])
            world.locked.add(x)
        elif op == "freeze" and world.snapshot is None:
            with write_session(engine) as s:
                world.snapshot = publish(s, gt).snapshot_time
        fresh = Resolver(engine, index=True)  # built from all the rows at once, not extended
        for run in range(0, RUNS + 2, 3):
            want = world.expected(tags, run)
            assert _got(resolver, gt, run) == want, (op, x, runs, run)
            assert _got(fresh, gt, run) == want, ("fresh", op, x, runs, run)
            bounds = world.bounds(run)
            assert _segment(resolver, gt, run) == bounds, ("segment", op, x, runs, run)
            assert _segment(fresh, gt, run) == bounds, ("fresh segment", op, x, runs, run)
        fresh.clear()
    resolver.clear()
