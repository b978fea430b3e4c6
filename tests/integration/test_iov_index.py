"""The in-memory IOV index (conditions.store.index) behind Resolver never serves a stale answer.

Random interleavings of writes and lookups on both backends: IOV appends through the repository
and by raw SQL (the change counters are bumped by triggers, whoever writes), map changes, tag
locks and a freeze; after every step, ``Resolver.resolve`` (one long-lived Resolver, so its
index and segment memo are reused across the writes) must equal the SQL reader's ``resolve``
straight from the database, errors included.  Also: the counters only grow (raw UPDATE/DELETE
refused) and a bulk append bumps the tag counter.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError

from conditions import store
from conditions.db import write_session
from conditions.db.model import UTCDateTime
from conditions.errors import ConddbError
from conditions.resolve import Resolver, resolve
from conditions.store.index import versions
from tests.support.lifecycle import publish

_names = itertools.count()
N_TAGS = 3
RECORDS = ("a", "b")

steps = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(0, N_TAGS - 1), st.integers(0, 30)),
        st.tuples(st.just("raw_append"), st.integers(0, N_TAGS - 1), st.integers(0, 30)),
        st.tuples(st.just("map"), st.integers(0, len(RECORDS) - 1), st.integers(0, N_TAGS - 1)),
        st.tuples(st.just("lock"), st.integers(0, N_TAGS - 1), st.just(0)),
        st.tuples(st.just("freeze"), st.just(0), st.just(0)),
        st.tuples(st.just("lookup"), st.integers(0, 35), st.just(0)),
    ),
    min_size=1,
    max_size=25,
)


def _answer(call: object) -> object:
    try:
        res = call()  # type: ignore[operator]
    except ConddbError as e:
        return type(e).__name__
    return (res.frozen, dict(res.records))


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=steps)
def test_resolver_index_is_never_stale(engine: Engine, plan: list[tuple[str, int, int]]) -> None:
    n = next(_names)
    tags = [f"ix{n}_t{k}" for k in range(N_TAGS)]
    gt = f"ix{n}_gt"
    with write_session(engine) as s:
        store.ensure_payload_type(s, "json")
        blobs = [f'{{"v":{v}}}'.encode() for v in range(4)]
        hashes = [r.hash for r in store.put_payloads(s, "json", blobs)]
        for k, t in enumerate(tags):
            store.create_tag(s, t, "json")
            if k != N_TAGS - 1:  # covered from run 0, so that the first index answers at once
                store.append_iovs(s, t, [(0, hashes[k])])
        store.create_global_tag(s, gt)
        store.set_record(s, gt, "a", tags[0])
    resolver = Resolver(engine, index=True)
    locked: set[int] = set()
    frozen = False
    counter = itertools.count()
    for op, x, y in plan + [("lookup", run, 0) for run in (0, 5, 17, 31)]:
        if op in ("append", "raw_append") and x not in locked:
            phash = hashes[next(counter) % len(hashes)]
            if op == "append":
                with write_session(engine) as s:
                    store.append_iovs(s, tags[x], [(y, phash)])
            else:
                with engine.begin() as c:
                    tid = c.execute(text("SELECT id FROM tag WHERE name = :n"), {"n": tags[x]})
                    c.execute(
                        text(
                            "INSERT INTO iov (tag_id, since, insertion_time, payload_hash) "
                            "VALUES (:t, :s, :at, :h)"
                        ).bindparams(bindparam("at", type_=UTCDateTime())),
                        {"t": tid.scalar_one(), "s": y, "at": store.utcnow(), "h": phash},
                    )
        elif op == "map" and not frozen:
            with write_session(engine) as s:
                store.set_record(s, gt, RECORDS[x], tags[y])
        elif op == "lock" and x not in locked:
            with write_session(engine) as s:
                store.lock_tag(s, tags[x])
            locked.add(x)
        elif op == "freeze" and not frozen:
            with write_session(engine) as s:
                publish(s, gt)
            frozen = True
        run = x if op == "lookup" else y
        with engine.connect() as c:
            want = _answer(lambda c=c, run=run: resolve(c, gt, run))
        assert _answer(lambda run=run: resolver.resolve(gt, run)) == want, (op, x, y)
        for rec in RECORDS:
            with engine.connect() as c:
                want = _answer(lambda c=c, run=run, rec=rec: resolve(c, gt, run, record=rec))
            got = _answer(lambda run=run, rec=rec: resolver.resolve(gt, run, record=rec))
            assert got == want, (op, x, y, rec)


def test_change_counters_grow_with_every_write_and_refuse_tampering(engine: Engine) -> None:
    with write_session(engine) as s:
        store.ensure_payload_type(s, "json")
        h = store.put_payload(s, "json", b'{"v":1}').hash
        store.create_tag(s, "cc_t", "json")
        store.create_global_tag(s, "cc_gt")
        store.set_record(s, "cc_gt", "a", "cc_t")
    with engine.connect() as c:
        before = versions(c, "cc_gt")
        assert versions(c, "no_such_gt") is None
    with write_session(engine) as s:  # one bulk append: the tag counter moves
        store.append_iovs(s, "cc_t", [(k, h) for k in range(50)])
    with engine.connect() as c:
        after = versions(c, "cc_gt")
    assert before is not None and after is not None and before != after
    n_before = {(sc, o): v for sc, o, v in before[1]}
    n_after = {(sc, o): v for sc, o, v in after[1]}
    tag_key = next(k for k in n_after if k[0] == "tag")
    assert n_after[tag_key] > n_before[tag_key]
    for sql in (
        "UPDATE change_counter SET n = n - 1",
        "UPDATE change_counter SET n = n",
        "DELETE FROM change_counter",
        "INSERT INTO change_counter (scope, object_id, n) "
        "SELECT scope, object_id, 0 FROM change_counter",
    ):
        with pytest.raises(DatabaseError), engine.begin() as c:
            c.execute(text(sql))
    with engine.connect() as c:
        assert versions(c, "cc_gt") == after
