"""Issue 18, what the lifecycle still lacked: ``freeze`` = ``publish`` through the same gates, every
answer under an ``invalid`` global tag marked deprecated (library, HTTP, client, CLI), and
``conddb trend ack``.  Both backends."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine

from conditions import store
from conditions.db import write_session
from conditions.errors import Conflict
from conditions.resolve import Resolver, resolve, resolve_many
from conditions.services import lifecycle, validation
from conditions.states import Deprecation
from tests.support.cli import run
from tests.support.lifecycle import mark_validated, publish

REASON = "light yield off by 3 %"
DEP = Deprecation("G", REASON, "G2")


def _world(engine: Engine) -> None:
    """G: record a -> ta (sinces 100, 200), published then invalidated (replaced by G2)."""
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
        h1 = store.put_payload(s, "json", b'{"v": 1}').hash
        h2 = store.put_payload(s, "json", b'{"v": 2}').hash
        store.create_tag(s, "ta", "json")
        store.append_iovs(s, "ta", [(100, h1), (200, h2)])
        for name in ("G", "G2"):
            store.create_global_tag(s, name)
            store.set_record(s, name, "a", "ta")
    with write_session(engine) as s:
        publish(s, "G")


def _invalidate(engine: Engine) -> None:
    with write_session(engine) as s:
        lifecycle.invalidate(s, "G", REASON, "G2")


def test_freeze_is_publish_with_its_gates(engine: Engine) -> None:
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
        store.create_tag(s, "t", "json")
        store.append_iovs(s, "t", [(0, store.put_payload(s, "json", b"{}").hash)])
        store.create_global_tag(s, "F")
        store.set_record(s, "F", "a", "t")
    assert lifecycle.freeze is lifecycle.publish
    for step in ("open", "a stale report"):
        with write_session(engine) as s, pytest.raises(Conflict, match="only validated"):
            lifecycle.freeze(s, "F", "alice")
        with write_session(engine) as s, pytest.raises(Conflict, match="only validated"):
            store.publish_global_tag(s, "F")  # the repository step refuses it too
        if step == "open":  # a report of this map, then the map changes: the report is stale
            with write_session(engine) as s:
                validation.validate(s, "F", (0, 5), validation.Options(who="alice"))
                store.append_iovs(s, "t", [(3, store.put_payload(s, "json", b"[]").hash)])
    with write_session(engine) as s:
        mark_validated(s, "F")
    with write_session(engine) as s, pytest.raises(Conflict, match="approval"):
        lifecycle.freeze(s, "F", "alice", approvals_required=1)  # a second person is needed
    with write_session(engine) as s:
        lifecycle.approve(s, "F", "bob")
    with write_session(engine) as s:
        assert lifecycle.freeze(s, "F", "alice", approvals_required=1).state.value == "published"


def test_library_answers_of_an_invalid_global_tag_are_deprecated(engine: Engine) -> None:
    _world(engine)
    resolvers = [Resolver(engine), Resolver(engine, index=True)]
    for r in resolvers:  # published: no deprecation (and the answers are now held in memory)
        assert r.resolve("G", 150).deprecation is None and r.resolve("G", 150).frozen
    assert resolve(engine, "G", 150).deprecation is None
    _invalidate(engine)
    fresh = [Resolver(engine), Resolver(engine, index=True)]
    answers = [resolve(engine, "G", 150), resolve(engine, "G", 250, record="a")]
    answers += list(resolve_many(engine, "G", [120, 250]).values())
    for r in fresh:
        answers += [r.resolve("G", 150), r.resolve("G", 150), r.resolve("G", 250, record="a")]
        answers += list(r.resolve_many("G", [120, 250]).values())
    for res in answers:
        assert res.deprecation == DEP and res.deprecated and res.frozen, res
    assert "G2" in DEP.message() and REASON in DEP.message()
    assert resolve(engine, "G2", 150).deprecation is None  # the replacement is not deprecated
    for r in fresh:
        with pytest.raises(Conflict, match="G is invalid, the configuration requires published"):
            r.resolve("G", 150, require="published")
        r.clear()  # a process that held the published answers sees the deprecation once cleared
    for r in resolvers:
        r.clear()
        assert r.resolve("G", 150).deprecation == DEP
    with pytest.raises(Conflict):
        Resolver(engine).resolve("G", 150, as_of=store.utcnow(), require="published")


def test_a_held_published_index_learns_of_its_invalidation(engine: Engine) -> None:
    """Another process invalidates a published global tag: a resolver that holds its index
    answers with the deprecation once it reads the tag's counter again (every lookup with
    recheck 0; within ``recheck_published_s`` otherwise), without being cleared."""
    import time

    _world(engine)
    eager = Resolver(engine, index=True, recheck_published_s=0.0)
    paced = Resolver(engine, index=True, recheck_published_s=0.3)
    for r in (eager, paced):
        assert r.resolve("G", 150).deprecation is None
        assert r.frozen_index("G") is not None
    before = paced.resolve("G", 250)
    _invalidate(engine)  # as another process would: the resolvers are not told
    assert eager.resolve("G", 150).deprecation == DEP
    assert eager.frozen_index("G") is not None and eager.frozen_index("G").deprecation == DEP
    time.sleep(0.35)
    after = paced.resolve("G", 250)
    assert after.deprecation == DEP and after.records == before.records


def test_http_client_and_cli_answers_are_deprecated(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    from conditions.service.client import ConditionsClient, DeprecatedGlobalTag
    from conditions.service.testing import running_service

    _world(engine)
    with (
        running_service(db_url, tmp_path) as svc,
        httpx.Client(base_url=svc.base_url, timeout=30) as http,
    ):
        first = http.get("/v1/resolve/G/150")  # published: held by the service for good
        assert first.json()["deprecation"] is None and "deprecation" not in first.headers
        r = http.post("/v1/globaltags/G/invalidate", json={"reason": REASON, "replaced_by": "G2"},
                      headers=svc.auth("admin"))
        assert r.status_code == 200 and r.json()["state"] == "invalid"
        for path, params in (("/v1/resolve/G/150", {}), ("/v1/resolve/G/250", {"record": "a"}),
                             ("/v1/resolve/G", {"first": 100, "last": 300}),
                             ("/v1/resolve/G", {"runs": "120,250"})):
            got = http.get(path, params=params)
            assert got.status_code == 200, got.text
            assert got.json()["deprecation"] == {
                "global_tag": "G", "reason": REASON, "replaced_by": "G2", "message": DEP.message()
            }
            assert got.headers["deprecation"] == "true"
            assert got.headers["warning"] == f'299 - "{DEP.message()}"'
            assert got.headers["cache-control"] == first.headers["cache-control"]  # immutable
            again = http.get(path, params=params, headers={"If-None-Match": got.headers["etag"]})
            assert again.status_code == 304 and again.headers["deprecation"] == "true"
        assert http.get("/v1/resolve/G2/150").json()["deprecation"] is None
        # the HSF lookup (v5.1 and legacy shapes have no field for it): the same headers
        for path in ("/api/cdb_rest/payload-iovs/query/", "/api/cdb_rest/payloadiovs/"):
            hsf = http.get(path, params={"gtName": "G", "majorIOV": 150})
            assert hsf.status_code == 200 and hsf.json(), hsf.text
            assert hsf.headers["deprecation"] == "true", path
            assert hsf.headers["warning"] == f'299 - "{DEP.message()}"'
            plain = http.get(path, params={"gtName": "G2", "majorIOV": 150})
            assert plain.status_code == 200 and "deprecation" not in plain.headers

        client = ConditionsClient(svc.base_url, tmp_path / "cache", token=svc.tokens["reader"])
        with pytest.warns(DeprecatedGlobalTag, match=f"{REASON}; use G2"):
            res = client.resolve("G", 150)
        assert res.deprecation == DEP and client.deprecations == {"G": DEP}
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # once per global tag: no second warning
            assert client.resolve("G", 250).deprecation == DEP
            assert all(x.deprecation == DEP for x in client.resolve_many("G", [120, 250]).values())
            assert client.resolve("G2", 150).deprecation is None
        with pytest.raises(Conflict, match="is invalid"):
            client.resolve("G", 150, require="published")
        client.close()

        remote = run(svc.base_url, "get", "--gt", "G", "--run", "150")
        assert remote.stderr.strip() == f"Warning: {DEP.message()}"
    local = run(db_url, "get", "--gt", "G", "--run", "150", "--json")
    assert local.stderr.strip() == f"Warning: {DEP.message()}"
    assert json.loads(local.stdout)["records"]["a"]["since"] == 100
    assert run(db_url, "get", "--gt", "G2", "--run", "150").stderr.strip() == ""


def test_trend_ack_acknowledges_a_drift_flag(db_url: str, engine: Engine) -> None:
    from conditions.payloads import encode_payload, examples

    with write_session(engine) as s:
        store.register_payload_type(s, "light_yield")
        hashes = [
            store.put_payload(s, "light_yield", encode_payload(
                examples.light_yield().model_copy(update={"y0": y0}))).hash
            for y0 in (1345.0, 1346.0, 1400.0)  # a 4 % step at since 300
        ]
        store.create_tag(s, "ly", "light_yield")
        store.append_iovs(s, "ly", [(100 * (k + 1), h) for k, h in enumerate(hashes)])
        store.create_global_tag(s, "G")
        store.set_record(s, "G", "light_yield", "ly")
    flags = json.loads(run(db_url, "trend", "flags", "G", "--json").stdout)
    assert flags and not any(f["acknowledged"] for f in flags)
    flag = flags[0]["flag"]
    assert "(already)" not in run(db_url, "trend", "ack", "G", flag, "--note", "known").stdout
    assert "(already)" in run(db_url, "gt", "ack", "G", flag).stdout  # the alias, same use case
    assert json.loads(run(db_url, "gt", "flags", "G", "--json").stdout)[0]["acknowledged"]
    refused = run(db_url, "trend", "ack", "G", "Y0@1:nope", ok=False)
    assert refused.returncode == 1 and "has no drift flag" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    with write_session(engine) as s:
        report = validation.validate(s, "G", (100, 400), validation.Options(who="alice"))
    drift = {c["name"]: c for c in report.checks}["drift"]
    assert drift["passed"] is (len(flags) == 1), drift  # only the acknowledged flag is cleared
