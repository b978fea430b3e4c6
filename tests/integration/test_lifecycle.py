"""Global-tag lifecycle (issue 18): transitions allowed and refused (library, CLI), validation
reports failing per check, a second approver, invalid global tags, coverage with gaps."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from conditions import store
from conditions.db import read_session, write_session
from conditions.errors import Conflict, GlobalTagFrozen
from conditions.model import GlobalTagState
from conditions.resolve import Resolver
from conditions.services import lifecycle, validation
from tests.support.cli import run
from tests.support.lifecycle import publish


def _world(engine: Engine, first_since: int = 100) -> None:
    """Global tag G: records a (sinces first_since, 200) and b (since 100), json payloads."""
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
        h1 = store.put_payload(s, "json", b'{"v": 1}').hash
        h2 = store.put_payload(s, "json", b'{"v": 2}').hash
        store.create_tag(s, "ta", "json")
        store.create_tag(s, "tb", "json")
        store.append_iovs(s, "ta", [(first_since, h1), (200, h2)])
        store.append_iovs(s, "tb", [(100, h2)])
        store.create_global_tag(s, "G")
        store.set_record(s, "G", "a", "ta")
        store.set_record(s, "G", "b", "tb")


def _opts(who: str = "alice") -> validation.Options:
    return validation.Options(who=who)


def _state(engine: Engine, name: str = "G") -> GlobalTagState:
    with read_session(engine) as s:
        return store.get_global_tag(s, name).state


def test_lifecycle_through_publish_and_invalid(engine: Engine) -> None:
    _world(engine)
    with write_session(engine) as s:
        with pytest.raises(Conflict, match="only validated"):
            lifecycle.publish(s, "G", "alice")
        with pytest.raises(Conflict, match="no validation report"):
            lifecycle.mark_validated(s, "G")
        with pytest.raises(Conflict, match="reopen does not apply"):
            lifecycle.reopen(s, "G")
    with write_session(engine) as s:
        lifecycle.submit(s, "G")
        report = validation.validate(s, "G", (100, 300), _opts())
        assert report.passed, report.checks
        assert {c["name"] for c in report.checks} >= {"coverage", "payloads", "drift"}
        lifecycle.mark_validated(s, "G")
    assert _state(engine) is GlobalTagState.VALIDATED
    # the map is fixed while validated
    with write_session(engine) as s, pytest.raises(Conflict, match="under validation"):
        store.set_record(s, "G", "c", "ta")
    with write_session(engine) as s:
        lifecycle.publish(s, "G", "alice")
    assert _state(engine) is GlobalTagState.PUBLISHED is GlobalTagState.FROZEN
    resolver = Resolver(engine)
    assert resolver.resolve("G", 150).frozen  # cached forever
    with write_session(engine) as s:
        with pytest.raises(GlobalTagFrozen):
            store.set_record(s, "G", "c", "ta")
        with pytest.raises(Conflict):
            lifecycle.reopen(s, "G")
    with write_session(engine) as s:
        store.create_global_tag(s, "G2")
    with write_session(engine) as s:
        lifecycle.invalidate(s, "G", "wrong light yield", "G2")
    assert _state(engine) is GlobalTagState.INVALID
    with read_session(engine) as s:
        dep = lifecycle.deprecation(s, "G")
    assert dep is not None and "wrong light yield" in dep.message() and "G2" in dep.message()
    res = Resolver(engine).resolve("G", 150)  # still resolvable
    assert res.records["a"].since == 100 and res.frozen  # immutable like published: cached
    assert res.deprecation == lifecycle.Deprecation("G", "wrong light yield", "G2")
    with write_session(engine) as s, pytest.raises(Conflict, match="only a published"):
        lifecycle.invalidate(s, "G", "again")


def test_validated_needs_the_current_map(engine: Engine) -> None:
    _world(engine)
    with write_session(engine) as s:
        assert validation.validate(s, "G", (100, 300), _opts()).passed
        h = store.put_payload(s, "json", b'{"v": 3}').hash
        store.append_iovs(s, "ta", [(250, h)])  # the conditions changed after the report
    with (
        write_session(engine) as s,
        pytest.raises(Conflict, match="no validation report of its current map"),
    ):
        lifecycle.mark_validated(s, "G")


def test_publish_needs_a_second_approver(engine: Engine) -> None:
    _world(engine)
    with write_session(engine) as s:
        validation.validate(s, "G", (100, 300), _opts())
        lifecycle.mark_validated(s, "G")
        lifecycle.approve(s, "G", "alice")  # approving your own publication does not count
    with write_session(engine) as s, pytest.raises(Conflict, match="1 approval"):
        lifecycle.publish(s, "G", "alice", approvals_required=1)
    with write_session(engine) as s:
        lifecycle.approve(s, "G", "bob")
    with write_session(engine) as s:
        lifecycle.publish(s, "G", "alice", approvals_required=1)
    assert _state(engine) is GlobalTagState.PUBLISHED


def test_validation_fails_on_coverage_gap(engine: Engine) -> None:
    _world(engine, first_since=150)
    with write_session(engine) as s:
        report = validation.validate(s, "G", (100, 300), _opts())
    checks = {c["name"]: c for c in report.checks}
    assert not report.passed and checks["coverage"]["passed"] is False
    assert checks["coverage"]["detail"]["gaps"] == {"a": [[100, 149]]}
    with read_session(engine) as s:
        cov = {c.record: c for c in lifecycle.coverage(s, "G", (50, 300))}
    assert cov["a"].gaps == ((50, 149),) and cov["a"].covered == ((150, 300),)
    assert cov["b"].gaps == ((50, 99),) and cov["b"].covered == ((100, 300),)
    with write_session(engine) as s, pytest.raises(Conflict, match="failed"):
        lifecycle.mark_validated(s, "G")


def test_validation_fails_on_undecodable_payload(engine: Engine) -> None:
    from conditions.payloads import LightYieldV1  # noqa: F401  (registers the typed schemas)

    with write_session(engine) as s:
        store.register_payload_type(s, "light_yield")
        # canonical bytes of another type stored under light_yield: decoding with its schema fails
        bad = store.put_payload(s, "light_yield", b'{"not": "a light yield"}').hash
        store.create_tag(s, "ly", "light_yield")
        store.append_iovs(s, "ly", [(0, bad)])
        store.create_global_tag(s, "G")
        store.set_record(s, "G", "light_yield", "ly")
    with write_session(engine) as s:
        report = validation.validate(s, "G", (0, 10), _opts())
    checks = {c["name"]: c for c in report.checks}
    assert checks["payloads"]["passed"] is False and checks["payloads"]["detail"]["failures"]


def test_require_published(engine: Engine) -> None:
    lifecycle.check_required_state("published", "published")
    lifecycle.check_required_state(GlobalTagState.FROZEN, "frozen")
    for state in ("open", "testing", "validated", "invalid"):
        with pytest.raises(Conflict, match="requires published"):
            lifecycle.check_required_state(state, "published", "G")


def test_cli_transitions(db_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    _world(engine)
    refused = run(db_url, "gt", "publish", "G", ok=False)
    assert refused.returncode == 1 and "only validated" in refused.stderr
    assert "testing" in run(db_url, "gt", "submit", "G").stdout
    assert "open" in run(db_url, "gt", "reopen", "G").stdout
    out = run(db_url, "gt", "validate", "G", "--runs", "100-300").stdout
    assert "PASSED" in out and "validated" in out
    assert "map " in run(db_url, "gt", "reports", "G").stdout
    monkeypatch.setenv("CONDDB_PUBLISH_APPROVALS", "1")
    monkeypatch.setenv("USER", "alice")
    monkeypatch.setenv("LOGNAME", "alice")
    refused = run(db_url, "gt", "publish", "G", ok=False)
    assert "approval" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    monkeypatch.setenv("USER", "bob")
    monkeypatch.setenv("LOGNAME", "bob")
    run(db_url, "gt", "approve", "G")
    monkeypatch.setenv("USER", "alice")
    monkeypatch.setenv("LOGNAME", "alice")
    assert "published" in run(db_url, "gt", "publish", "G").stdout
    assert "invalid" in run(db_url, "gt", "invalidate", "G", "--reason", "bad").stdout
    refused = run(db_url, "gt", "submit", "G", ok=False)
    assert refused.returncode == 1
    gaps = run(db_url, "gt", "coverage", "G", "--runs", "0-300").stdout
    assert "0-99" in gaps and "100-300" in gaps


def test_cli_validate_failure_exits_1(db_url: str, engine: Engine) -> None:
    _world(engine, first_since=150)
    failed = run(db_url, "gt", "validate", "G", "--runs", "100-300", ok=False)
    assert failed.returncode == 1 and "FAIL coverage" in failed.stdout
    assert _state(engine) is GlobalTagState.OPEN


def test_resolver_and_client_require_published(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    from conditions.service.client import ConditionsClient
    from conditions.service.testing import running_service

    _world(engine)
    resolver = Resolver(engine)
    with pytest.raises(Conflict, match="requires published"):
        resolver.resolve("G", 150, require="published")
    with running_service(db_url, tmp_path) as svc:
        client = ConditionsClient(svc.base_url, tmp_path / "c", token=svc.tokens["reader"])
        with pytest.raises(Conflict, match="requires published"):
            client.resolve("G", 150, require="frozen")
        with write_session(engine) as s:
            publish(s, "G")
        assert client.resolve("G", 150, require="published").frozen
    assert resolver.resolve("G", 150, require="published").records["a"].since == 100


def test_unacknowledged_drift_flag_fails_validation(db_url: str, engine: Engine) -> None:
    from conditions.payloads import encode_payload, examples

    with write_session(engine) as s:
        store.register_payload_type(s, "light_yield")
        base = examples.light_yield()
        hashes = []
        for y0 in (1345.0, 1346.0, 1400.0):  # a 4 % step at since 300
            doc = base.model_copy(update={"y0": y0})
            hashes.append(store.put_payload(s, "light_yield", encode_payload(doc)).hash)
        store.create_tag(s, "ly", "light_yield")
        store.append_iovs(s, "ly", [(100 * (k + 1), h) for k, h in enumerate(hashes)])
        store.create_global_tag(s, "G")
        store.set_record(s, "G", "light_yield", "ly")
    with write_session(engine) as s:
        report = validation.validate(s, "G", (100, 400), _opts())
    drift = {c["name"]: c for c in report.checks}["drift"]
    assert drift["passed"] is False and drift["detail"]["unacknowledged"]
    flag = drift["detail"]["unacknowledged"][0]
    assert "no" in run(db_url, "gt", "flags", "G").stdout
    run(db_url, "gt", "ack", "G", flag, "--note", "known step")
    with write_session(engine) as s:
        again = validation.validate(s, "G", (100, 400), _opts())
    assert {c["name"]: c for c in again.checks}["drift"]["passed"] is True

