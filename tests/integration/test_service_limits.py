"""Findings of the code review, as tests: chunked uploads cannot bypass the size limit, the
uploader name in provenance cannot be forged, and a writer's clock cannot move a frozen snapshot."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest

from conditions import store
from conditions.db import make_engine, read_session, write_session
from conditions.resolve import resolve
from tests.conftest import Backend
from tests.integration.test_service_write import Service, service  # noqa: F401 (fixture)
from tests.support.lifecycle import publish


def test_chunked_upload_is_refused_with_411(service: Service) -> None:  # noqa: F811
    def body() -> Iterator[bytes]:
        yield json.dumps({"type": "json", "document": {"v": 9}}).encode()

    r = service.http.post(
        "/v1/payloads",
        content=body(),
        headers={**service.svc.auth("uploader"), "Content-Type": "application/json"},
    )
    assert r.status_code == 411, r.text
    assert r.json()["error"] == "LengthRequired"


def test_uploaded_by_is_the_authenticated_name(service: Service) -> None:  # noqa: F811
    r = service.http.post(
        "/v1/payloads",
        json={"type": "json", "document": {"v": 10}, "provenance": {"uploaded_by": "admin"}},
        headers=service.svc.auth("uploader"),
    )
    assert r.status_code == 201, r.text
    with read_session(service.engine) as s:
        assert store.get_payload(s, r.json()["hash"]).provenance["uploaded_by"] == "uploader"


@pytest.fixture
def pg_url(backends: dict[str, Backend]) -> Iterator[str]:
    backend = backends["postgresql"]
    backend.setup()
    url = backend.new_url()
    yield url
    backend.drop(url)


def test_a_late_clock_cannot_slip_an_iov_under_a_frozen_snapshot(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL every insertion time comes from the server's clock, not the writer's."""
    engine = make_engine(pg_url)
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
        a = store.put_payload(s, "json", b'{"v":"a"}').hash
        b = store.put_payload(s, "json", b'{"v":"b"}').hash
        store.create_tag(s, "T", "json")
        store.append_iovs(s, "T", [(0, a)])
        store.create_global_tag(s, "G")
        store.set_record(s, "G", "r", "T")
        publish(s, "G")
    late = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30)
    monkeypatch.setattr(store, "utcnow", lambda: late)  # this writer's clock runs 30 s late
    with write_session(engine) as s:
        store.append_iovs(s, "T", [(3, b)])
    assert resolve(engine, "G", 5)["r"].payload_hash == a  # the frozen answer stays
    with write_session(engine) as s:
        store.clone_global_tag(s, "G", "G2")
    assert resolve(engine, "G2", 5)["r"].payload_hash == b
    engine.dispose()
