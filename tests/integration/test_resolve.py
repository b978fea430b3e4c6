"""Read path: resolve by run, IOV bounds, as-of replay, frozen snapshots, batch resolve, caches."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy.engine import Engine

from conditions import store
from conditions.db import write_session
from conditions.errors import GlobalTagNotFound, InvalidInput, RecordNotFound, RunNotCovered
from conditions.resolve import Resolver, resolve, resolve_many
from tests.support.lifecycle import publish


def _payloads(engine: Engine, n: int) -> list[str]:
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
        return [store.put_payload(s, "json", f'{{"v":{k}}}'.encode()).hash for k in range(n)]


@pytest.fixture
def gt(engine: Engine) -> tuple[Engine, list[str]]:
    """GT 'GT' with records a (sinces 10, 20, 30) and b (since 0, 25)."""
    h = _payloads(engine, 5)
    with write_session(engine) as s:
        store.create_tag(s, "ta", "json")
        store.create_tag(s, "tb", "json")
        store.append_iovs(s, "ta", [(10, h[0]), (20, h[1]), (30, h[2])])
        store.append_iovs(s, "tb", [(0, h[3]), (25, h[4])])
        store.create_global_tag(s, "GT")
        store.set_record(s, "GT", "a", "ta")
        store.set_record(s, "GT", "b", "tb")
    return engine, h


def test_greatest_since_and_bounds(gt: tuple[Engine, list[str]]) -> None:
    engine, h = gt
    expected = {
        10: (h[0], 10, 19, h[3], 0, 24),
        19: (h[0], 10, 19, h[3], 0, 24),
        20: (h[1], 20, 29, h[3], 0, 24),
        25: (h[1], 20, 29, h[4], 25, None),
        30: (h[2], 30, None, h[4], 25, None),
        10**12: (h[2], 30, None, h[4], 25, None),
    }
    for run, (ha, sa, ua, hb, sb, ub) in expected.items():
        r = resolve(engine, "GT", run)
        assert (r["a"].payload_hash, r["a"].since, r["a"].until) == (ha, sa, ua)
        assert (r["b"].payload_hash, r["b"].since, r["b"].until) == (hb, sb, ub)
        assert r["a"].covers(run) and r["b"].covers(run)
    assert set(resolve(engine, "GT", 25, record="b").records) == {"b"}


def test_errors(gt: tuple[Engine, list[str]]) -> None:
    engine, _ = gt
    with pytest.raises(RunNotCovered, match=r"run 9 .* a \(tag ta\)"):
        resolve(engine, "GT", 9)
    assert resolve(engine, "GT", 9, record="b")["b"].since == 0
    with pytest.raises(GlobalTagNotFound):
        resolve(engine, "NOPE", 10)
    with pytest.raises(RecordNotFound):
        resolve(engine, "GT", 10, record="zzz")
    with pytest.raises(RecordNotFound):
        resolve(engine, "GT", 10)["zzz"]
    with pytest.raises(InvalidInput):
        resolve(engine, "GT", 10, as_of=dt.datetime(2026, 1, 1))  # naive time
    with pytest.raises(Exception, match="invalid run"):
        resolve(engine, "GT", -1)


def test_as_of_replays_history(gt: tuple[Engine, list[str]]) -> None:
    engine, h = gt
    before = resolve(engine, "GT", 22)
    t_before = dt.datetime.now(dt.UTC)
    time.sleep(0.002)
    with write_session(engine) as s:
        store.append_iovs(s, "ta", [(20, h[3]), (22, h[4])])  # supersede 20, split at 22
        store.create_tag(s, "tc", "json")
        store.append_iovs(s, "tc", [(0, h[0])])
        store.set_record(s, "GT", "c", "tc")
    now = resolve(engine, "GT", 22)
    assert (now["a"].payload_hash, now["a"].since) == (h[4], 22)
    assert set(now.records) == {"a", "b", "c"}
    assert resolve(engine, "GT", 21)["a"].payload_hash == h[3]
    replay = resolve(engine, "GT", 22, as_of=t_before)
    assert replay.records == before.records
    assert set(replay.records) == {"a", "b"}  # the record added later is not there then


def test_frozen_global_tag_ignores_later_appends(gt: tuple[Engine, list[str]]) -> None:
    engine, h = gt
    with write_session(engine) as s:
        publish(s, "GT")
    frozen = resolve(engine, "GT", 35)
    assert frozen.frozen
    with write_session(engine) as s:
        store.append_iovs(s, "ta", [(35, h[4]), (30, h[3])])
    again = resolve(engine, "GT", 35)
    assert again.records == frozen.records
    with write_session(engine) as s:
        store.clone_global_tag(s, "GT", "GT_next")
    assert resolve(engine, "GT_next", 35)["a"].payload_hash == h[4]


def test_resolve_many_matches_single_lookups(gt: tuple[Engine, list[str]]) -> None:
    engine, h = gt
    with write_session(engine) as s:
        store.append_iovs(s, "ta", [(20, h[4])])  # a superseded row inside the range
    runs = [10, 11, 19, 20, 24, 25, 29, 30, 31, 500]
    many = resolve_many(engine, "GT", runs)
    assert sorted(many) == runs
    for run in runs:
        assert many[run].records == resolve(engine, "GT", run).records
    with pytest.raises(RunNotCovered):
        resolve_many(engine, "GT", [5, 10])
    assert resolve_many(engine, "GT", []) == {}


def test_resolver_caches_frozen_only(gt: tuple[Engine, list[str]]) -> None:
    engine, h = gt
    resolver = Resolver(engine)
    first = resolver.resolve("GT", 35)
    with write_session(engine) as s:
        store.append_iovs(s, "ta", [(35, h[4])])
    fresh = resolver.resolve("GT", 35)
    assert fresh["a"].payload_hash == h[4] != first["a"].payload_hash  # open GT: never stale
    with write_session(engine) as s:
        publish(s, "GT")
    cached = resolver.resolve("GT", 35)
    assert resolver.resolve("GT", 35) is cached  # frozen: served from the cache
    assert resolver.payload(h[0]) == b'{"v":0}'
    assert resolver.payload(h[0]) is resolver.payload(h[0])
