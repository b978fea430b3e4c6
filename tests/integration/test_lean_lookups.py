"""The lean lookup path and the job-side segments (issue 15), both backends.

* :class:`conditions.service.read_api.LookupApp` answers ``/v1/resolve/{gt}/{run}`` from the
  index without FastAPI: the bytes are those of the library's resolution rendered by the one
  serializer, ``If-None-Match`` gives 304, HEAD no body, and whatever it cannot answer goes to
  the full route (same errors as before);
* batch lookups cut from the index segments equal the SQL reader's, grouped alike;
* ``ConditionsClient.prefetch`` learns a run range in one request and then answers from memory
  (frozen: for good; open: within max-age), and a new IOV under an open global tag is still
  seen at once by a plain ``resolve``.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from conditions import store
from conditions.db import make_engine, write_session
from conditions.errors import RunNotCovered
from conditions.resolve import resolve, resolve_many
from conditions.service import serializers, wire
from conditions.service.app import create_app
from conditions.service.client import ConditionsClient
from conditions.service.read_api import _fast_answer
from conditions.service.settings import ServiceSettings
from conditions.service.state import ServiceState
from conditions.service.testing import running_service
from tests.support.lifecycle import publish

SINCES = {"a": [10, 20, 30, 55, 90], "b": [0, 25, 26, 60], "c": [5, 30, 31, 32, 80]}
LAST_RUN = 120


@dataclass
class Data:
    url: str
    engine: Engine
    hashes: list[str]


@pytest.fixture
def data(db_url: str) -> Iterator[Data]:
    """Open global tag 'G' (records a, b, c with interleaved sinces, one superseded row) and
    its frozen clone 'G-frozen'; every record covers runs 10.. ."""
    engine = make_engine(db_url)
    with write_session(engine) as s:
        store.ensure_payload_type(s, "json")
        hashes = [
            r.hash for r in store.put_payloads(s, "json", [b'{"v":%d}' % v for v in range(9)])
        ]
        store.create_global_tag(s, "G")
        for k, (rec, sinces) in enumerate(SINCES.items()):
            store.create_tag(s, f"t-{rec}", "json")
            store.append_iovs(
                s, f"t-{rec}", [(x, hashes[(k + i) % 8]) for i, x in enumerate(sinces)]
            )
            store.set_record(s, "G", rec, f"t-{rec}")
        store.append_iovs(s, "t-b", [(25, hashes[8])])  # supersedes the row at 25
        store.clone_global_tag(s, "G", "G-frozen")
        publish(s, "G-frozen")
    yield Data(db_url, engine, hashes)
    engine.dispose()


def _scope(path: str, query: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None):  # type: ignore[no-untyped-def]
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": query,
        "headers": headers or [],
    }


def _lean(scope: dict[str, Any], st: ServiceState) -> tuple[dict[str, Any], bytes] | None:
    """The lean path's answer to ``scope`` (awaited on this module's loop)."""
    return _LOOP.run(_fast_answer(scope, st))


#: One event loop for the module's lean calls (as a server has one: the PostgreSQL check keeps
#: its async connection on it)
_LOOP = asyncio.Runner()


def _lean_ok(scope: dict[str, Any], st: ServiceState) -> tuple[dict[str, Any], bytes]:
    answer = _lean(scope, st)
    assert answer is not None, scope["path"]
    return answer


def test_lean_path_sends_the_library_answer_rendered_once(data: Data) -> None:
    app = create_app(ServiceSettings(url=data.url))
    st = app.state.conddb
    for gt in ("G", "G-frozen"):
        assert _lean(_scope(f"/v1/resolve/{gt}/40"), st) is None  # not loaded: full route
        st.lookups.resolve(gt, 40, None, None)  # what the full route does (in its thread)
        for run in range(10, LAST_RUN):
            for record, query in ((None, b""), ("b", b"record=b")):
                answer = _lean(_scope(f"/v1/resolve/{gt}/{run}", query), st)
                assert answer is not None, (gt, run, record)
                start, body = answer
                expected = wire.dumps(
                    serializers.resolution_json(resolve(data.engine, gt, run, record=record))
                )
                assert body == expected
                headers = dict(start["headers"])
                assert headers[b"content-length"] == b"%d" % len(body)
                frozen = gt == "G-frozen"
                max_age = (
                    ServiceSettings().frozen_max_age if frozen else ServiceSettings().open_max_age
                )
                assert headers[b"cache-control"] == f"public, max-age={max_age}".encode()
                etag = headers[b"etag"]
                again = _lean(
                    _scope(f"/v1/resolve/{gt}/{run}", query, [(b"if-none-match", etag)]), st
                )
                assert again is not None and again[0]["status"] == 304 and again[1] == b""
    # ETags differ between runs of one segment (the body holds the run) and between segments
    etags = {
        dict(_lean_ok(_scope(f"/v1/resolve/G/{r}"), st)[0]["headers"])[b"etag"]
        for r in range(10, LAST_RUN)
    }
    assert len(etags) == LAST_RUN - 10
    # what the lean path leaves to the full route
    for path, query in (
        ("/v1/resolve/G/5", b""),  # record a does not cover run 5: RunNotCovered from the reader
        ("/v1/resolve/G/40", b"record=zz"),  # no such record
        ("/v1/resolve/G/40", b"as_of=2030-01-01T00:00:00Z"),
        ("/v1/resolve/G/40", b"record=a&record=b"),
        ("/v1/resolve/G/-1", b""),
        (f"/v1/resolve/G/{2**63}", b""),
        ("/v1/resolve/G/4x", b""),
        ("/v1/resolve/G/40/", b""),
        ("/v1/resolve/nope/40", b""),
    ):
        assert _lean(_scope(path, query), st) is None, (path, query)
    # an append under the open global tag is seen by the very next lean answer (change check)
    with write_session(data.engine) as s:
        store.append_iovs(s, "t-a", [(45, data.hashes[7])])
    start, body = _lean_ok(_scope("/v1/resolve/G/50"), st)
    assert wire.resolution_from_json(json.loads(body))["a"].since == 45
    snap = _lean_ok(_scope("/v1/resolve/G-frozen/50"), st)
    assert b'"since":30' in snap[1]  # the snapshot is not moved
    st.dispose()


def test_lean_path_over_http_keeps_the_errors_of_the_full_route(data: Data, tmp_path: Path) -> None:
    with running_service(data.url, tmp_path) as svc:
        base = svc.base_url
        first = httpx.get(f"{base}/v1/resolve/G-frozen/40")
        second = httpx.get(f"{base}/v1/resolve/G-frozen/40")  # now from the lean path
        assert first.content == second.content and first.headers["etag"] == second.headers["etag"]
        assert second.headers["content-type"] == "application/json"
        head = httpx.head(f"{base}/v1/resolve/G-frozen/40")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == str(len(first.content))
        cond = httpx.get(
            f"{base}/v1/resolve/G-frozen/41",
            headers={"If-None-Match": httpx.get(f"{base}/v1/resolve/G-frozen/41").headers["etag"]},
        )
        assert cond.status_code == 304 and cond.content == b""
        for path, status, error in (
            ("/v1/resolve/G-frozen/5", 404, "RunNotCovered"),
            ("/v1/resolve/G-frozen/40?record=zz", 404, None),
            ("/v1/resolve/nope/40", 404, "GlobalTagNotFound"),
            ("/v1/resolve/G-frozen/4x", 422, "InvalidInput"),
        ):
            r = httpx.get(base + path)
            assert r.status_code == status, (path, r.text)
            assert r.headers["cache-control"] == "no-store"
            if error:
                assert r.json()["error"] == error


def test_batch_cut_from_the_index_equals_the_sql_reader(data: Data) -> None:
    app = create_app(ServiceSettings(url=data.url))
    lookups = app.state.conddb.lookups
    rng = random.Random(15)
    for gt in ("G", "G-frozen"):
        for _ in range(20):
            runs = sorted(set(rng.sample(range(10, LAST_RUN), rng.randint(1, 60))))
            for record in (None, "a", "c"):
                body = lookups.resolve_batch(gt, runs, record, None)
                many = resolve_many(data.engine, gt, runs, record=record)
                expected = {
                    "global_tag": gt,
                    "as_of": None,
                    "frozen": gt == "G-frozen",
                    "segments": serializers.segments_json(many),
                    "deprecation": None,  # set only under an invalid global tag
                }
                assert body.content == wire.dumps(expected), (gt, runs, record)
    with pytest.raises(RunNotCovered):  # a run not covered: the reader explains
        lookups.resolve_batch("G", [5, 40], None, None)
    app.state.conddb.dispose()


def test_prefetch_serves_a_run_range_from_one_request(data: Data, tmp_path: Path) -> None:
    with (
        running_service(data.url, tmp_path, open_max_age=2) as svc,
        ConditionsClient(svc.base_url) as job,
    ):
        n = job.prefetch("G-frozen", range(10, LAST_RUN))
        assert job.requests == 1 and n >= 10
        for run in range(10, LAST_RUN):
            assert job.resolve("G-frozen", run) == resolve(data.engine, "G-frozen", run)
            assert job.resolve("G-frozen", run, record="c") == resolve(
                data.engine, "G-frozen", run, record="c"
            )
        assert job.requests == 1  # every run from memory
        # far beyond the range: the open-ended last segment of every record is known too
        assert job.resolve("G-frozen", 10**6) == resolve(data.engine, "G-frozen", 10**6)
        assert job.requests == 1

        # open global tag: a plain resolve still revalidates and sees an append at once
        before = job.resolve("G", 100)
        with write_session(data.engine) as s:
            store.append_iovs(s, "t-c", [(95, data.hashes[6])])
        after = job.resolve("G", 100)
        assert after["c"].since == 95 and after != before
        # prefetched, its segments are served from memory while the answer's max-age lasts
        job.prefetch("G", (10, LAST_RUN - 1))
        sent = job.requests
        for run in range(10, LAST_RUN):
            assert job.resolve("G", run) == resolve(data.engine, "G", run)
        assert job.requests == sent
        time.sleep(2.2)
        assert job.resolve("G", 100) == resolve(data.engine, "G", 100)
        assert job.requests == sent + 1  # expired: asked again

        with pytest.raises(RunNotCovered):
            job.prefetch("G", (0, 50))  # record a starts at run 10


def test_frozen_answers_teach_their_segment(data: Data, tmp_path: Path) -> None:
    with running_service(data.url, tmp_path) as svc, ConditionsClient(svc.base_url) as job:
        res = job.resolve("G-frozen", 56)  # a: 55.., b: 26..59, c: 32..79 -> segment 55..59
        assert job.requests == 1
        for run in range(55, 60):
            assert job.resolve("G-frozen", run) == resolve(data.engine, "G-frozen", run)
        assert job.requests == 1
        job.resolve("G-frozen", 60)
        assert job.requests == 2  # outside the segment
        assert res.run == 56


def _since_of_a(body: bytes) -> int:
    return wire.resolution_from_json(json.loads(body))["a"].since


def test_a_write_committed_before_a_lookup_is_seen_under_concurrent_lookups(data: Data) -> None:
    """Read-your-writes on the lean path while other lookups keep change checks in flight:
    after each commit returns, the next lean lookup sees it (a check launched before the
    lookup arrived is never shared: :mod:`conditions.service.flights`)."""
    app = create_app(ServiceSettings(url=data.url))
    st: ServiceState = app.state.conddb
    st.lookups.resolve("G", 40, None, None)  # loaded: the lean path answers G from now on
    check = st.lookups._async_check  # PostgreSQL's (SQLite checks inline, on arrival)
    if check is not None:
        read = check.counter_sum

        async def slow_sum(gt_id: int, tag_ids: tuple[int, ...]) -> int:
            """The check with a slow round trip: its answer arrives 5 ms after it was read, so
            a lookup that shared a check already in flight would often get the state before."""
            got = await read(gt_id, tag_ids)
            await asyncio.sleep(0.005)
            return got

        check.counter_sum = slow_sum  # type: ignore[method-assign]
    writes = 25
    counts = {"lean": 0, "stale": 0}

    async def background(seed: int, stop: asyncio.Event) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            answer = await _fast_answer(_scope(f"/v1/resolve/G/{rng.randint(10, 99)}"), st)
            assert answer is not None and answer[0]["status"] == 200
            counts["lean"] += 1
            await asyncio.sleep(0)  # as a server does between requests (SQLite: no await)

    def append(since: int) -> None:
        with write_session(data.engine) as s:
            store.append_iovs(s, "t-a", [(since, data.hashes[since % 9])])

    async def main() -> None:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(background(k, stop)) for k in range(12)]
        await asyncio.sleep(0.05)
        for i in range(writes):
            since = 100 + i
            await asyncio.to_thread(append, since)  # committed when this returns
            answer = await _fast_answer(_scope(f"/v1/resolve/G/{since + 1}"), st)
            assert answer is not None
            counts["lean"] += 1
            counts["stale"] += _since_of_a(answer[1]) != since
        stop.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())
    assert counts["stale"] == 0, counts
    # the lookups shared their checks (12 awaiting at once: at most one check each time)
    assert st.lookups._checks.launched < counts["lean"], (st.lookups._checks.launched, counts)
    st.dispose()


def test_a_write_is_seen_by_the_next_request_over_http_under_load(
    data: Data, tmp_path: Path
) -> None:
    """The same contract through a real server (uvicorn, one loop): client threads keep open
    lookups in flight while a writer commits and then asks."""
    import threading

    with running_service(data.url, tmp_path) as svc:
        base = svc.base_url
        assert httpx.get(f"{base}/v1/resolve/G/40").status_code == 200  # builds the index
        stop = threading.Event()
        failures: list[str] = []

        def background(seed: int) -> None:
            rng = random.Random(seed)
            with httpx.Client(base_url=base, timeout=30) as http:
                while not stop.is_set():
                    r = http.get(f"/v1/resolve/G/{rng.randint(10, 99)}")
                    if r.status_code != 200:
                        failures.append(r.text)

        threads = [threading.Thread(target=background, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        try:
            with httpx.Client(base_url=base, timeout=30) as http:
                for i in range(15):
                    since = 200 + i
                    with write_session(data.engine) as s:
                        store.append_iovs(s, "t-a", [(since, data.hashes[since % 9])])
                    r = http.get(f"/v1/resolve/G/{since + 1}")
                    assert r.status_code == 200 and _since_of_a(r.content) == since, i
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert not failures, failures[:3]
