"""Concurrent appends from several processes neither lose nor duplicate IOVs."""

from __future__ import annotations

import multiprocessing as mp

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from conditions import store
from conditions.db import make_engine, read_session, write_session
from conditions.model import IOV
from conditions.resolve import resolve_many

WORKERS = 4
APPENDS = 25


def _worker(url: str, worker: int, hashes: list[str]) -> None:
    engine = make_engine(url)
    try:
        for k in range(APPENDS):
            since = worker * 1000 + k
            with write_session(engine) as s:
                store.append_iovs(s, "shared", [(since, hashes[k % len(hashes)])])
                # every worker also re-appends one common IOV: it must land exactly once
                store.append_iovs(s, "shared", [(999_999, hashes[0])])
    finally:
        engine.dispose()


def test_parallel_appends_to_one_tag(engine: Engine, db_url: str) -> None:
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
        hashes = [store.put_payload(s, "json", f'{{"k":{k}}}'.encode()).hash for k in range(3)]
        store.create_tag(s, "shared", "json")
        store.create_global_tag(s, "G")
        store.set_record(s, "G", "r", "shared")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(db_url, w, hashes)) for w in range(WORKERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    with read_session(engine) as s:
        n = s.scalar(select(func.count()).select_from(IOV))
        distinct = s.scalar(select(func.count(func.distinct(IOV.since))))
    assert n == WORKERS * APPENDS + 1
    assert distinct == n
    runs = [w * 1000 + k for w in range(WORKERS) for k in range(APPENDS)]
    many = resolve_many(engine, "G", runs)
    assert all(many[r]["r"].since == r for r in runs)
