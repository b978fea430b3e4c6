"""Lifecycle over HTTP (issue 18): transitions allowed and refused (409, never 500), a second
admin token approving, reports and coverage read back, prompt processing moving the FCSR."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conditions import store
from conditions.db import make_engine, read_session, write_session
from conditions.service.auth import Role, add_token
from conditions.service.testing import RunningService, running_service


@pytest.fixture
def served(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[RunningService, httpx.Client]]:
    monkeypatch.setenv("CONDDB_PUBLISH_APPROVALS", "1")
    engine = make_engine(db_url)
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
        h = store.put_payload(s, "json", b'{"v": 1}').hash
        store.create_tag(s, "t", "json")
        store.append_iovs(s, "t", [(10, h)])
        store.create_global_tag(s, "G")
        store.set_record(s, "G", "a", "t")
    engine.dispose()
    with (
        running_service(db_url, tmp_path) as svc,
        httpx.Client(base_url=svc.base_url, timeout=30) as http,
    ):
        yield svc, http


def test_http_transitions(served: tuple[RunningService, httpx.Client]) -> None:
    svc, http = served
    admin, reader = svc.auth("admin"), svc.auth("reader")
    second = {"Authorization": f"Bearer {add_token(svc.tokens_file, 'admin2', Role.ADMIN)}"}

    def post(path: str, headers: dict[str, str] = admin, **kw: object) -> httpx.Response:
        return http.post(f"/v1/globaltags/G/{path}", headers=headers, **kw)  # type: ignore[arg-type]

    assert post("publish").status_code == 409
    assert post("reopen").status_code == 409
    assert post("submit", reader).status_code == 403
    assert post("submit").json()["state"] == "testing"
    failed = post("validate", json={"runs": "0-20"})  # runs 0-9 are not covered
    assert failed.status_code == 200 and failed.json()["passed"] is False
    assert failed.json()["state"] == "testing"
    assert post("validate", json={"runs": "bad"}).status_code == 422
    ok = post("validate", json={"runs": "10-20"})
    assert ok.json()["passed"] is True and ok.json()["state"] == "validated"
    refused = post("publish")
    assert refused.status_code == 409 and "approval" in refused.text
    assert post("approve").status_code == 200  # the publisher's own approval does not count
    assert post("publish").status_code == 409
    assert post("approve", second).status_code == 200
    published = post("publish")
    assert published.status_code == 200 and published.json()["state"] == "published"
    assert post("submit").status_code == 409
    reports = http.get("/v1/globaltags/G/validation", headers=reader).json()
    assert [r["passed"] for r in reports["reports"]] == [True, False]
    assert reports["reports"][0]["who"] == "admin" and reports["reports"][0]["current_map"]
    cov = http.get("/v1/globaltags/G/coverage", params={"runs": "0-20"}, headers=reader).json()
    assert cov == [{"record": "a", "tag": "t", "covered": [[10, 20]], "gaps": [[0, 9]]}]
    inv = post("invalidate", json={"reason": "bad constants"})
    assert inv.json()["state"] == "invalid"
    dep = http.get("/v1/globaltags/G/validation", headers=reader).json()["deprecation"]
    assert "bad constants" in dep
    assert post("invalidate", json={"reason": "again"}).status_code == 409
    actions = [(e["action"], e["status"]) for e in svc.audit()]
    assert actions[:4] == [("publish", 409), ("reopen", 409), ("submit", 403), ("submit", 200)]
    assert ("publish", 200) in actions and actions[-1] == ("invalidate", 409)


def test_http_prompt_processing(served: tuple[RunningService, httpx.Client]) -> None:
    svc, http = served
    up, admin, reader = svc.auth("uploader"), svc.auth("admin"), svc.auth("reader")
    assert http.put("/v1/tags/t/sync/prompt", headers=admin).status_code == 200
    assert http.put("/v1/tags/t/sync/sideways", headers=admin).status_code == 422
    assert http.post("/v1/runs/41/processed", headers=up).json()["fcsr"] == 42
    assert http.get("/v1/fcsr", headers=reader).json()["fcsr"] == 42
    engine = make_engine(svc.settings.url)
    with read_session(engine) as s:
        h = store.list_iovs(s, "t")[0].payload_hash
    engine.dispose()
    body = {"iovs": [{"since": 40, "payload_hash": h}]}
    refused = http.post("/v1/tags/t/iovs", json=body, headers=up)
    assert refused.status_code == 409 and "FCSR 42" in refused.text and "since 40" in refused.text
    body = {"iovs": [{"since": 42, "payload_hash": h}]}
    assert http.post("/v1/tags/t/iovs", json=body, headers=up).status_code in (200, 201)
