"""The core rules seen over HTTP (uvicorn on loopback), both backends.

* times (conditions.times): a time out of range in UTC or without a zone is a 422 on every route
  that takes one (resolve, batch resolve, tags, global tags, trend, freeze), never a 500;
* the ONE campaign upload (conditions.services.campaigns): ``POST /v1/campaigns`` records the
  campaign, re-uploading the same campaign is a no-op (by HTTP or by the library, which see the
  same rows), and the same name with other constants is refused with 409 and changes nothing.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine

from conditions import store
from conditions.db import make_engine, read_session, write_session
from conditions.errors import Conflict
from conditions.service.testing import RunningService, running_service
from conditions.services import campaigns
from conditions.services.documents import canonical_json
from tests.conftest import row_counts

BAD_TIMES = [
    "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
    "9999-12-31T23:59:59-01:00",  # after year 9999 in UTC
    "2026-11-29T12:00:00",  # no zone: refused like the library does
    "yesterday",
]


@dataclass
class Served:
    svc: RunningService
    http: httpx.Client
    engine: Engine


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[Served]:
    engine = make_engine(db_url)
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
        h = store.put_payload(s, "json", b'{"v":1}').hash
        store.create_tag(s, "t", "json")
        store.append_iovs(s, "t", [(0, h)])
        store.create_global_tag(s, "G")
        store.set_record(s, "G", "r", "t")
    with (
        running_service(db_url, tmp_path) as svc,
        httpx.Client(base_url=svc.base_url, timeout=30) as http,
    ):
        yield Served(svc, http, engine)
    engine.dispose()


@pytest.mark.parametrize("when", BAD_TIMES)
def test_bad_times_are_422_on_every_route(served: Served, when: str) -> None:
    gets = [
        ("/v1/resolve/G/5", {}),
        ("/v1/resolve/G", {"runs": "1,2"}),
        ("/v1/tags/t", {}),
        ("/v1/globaltags/G", {}),
        ("/v1/trend/t", {"field": "v"}),
    ]
    for path, params in gets:
        r = served.http.get(path, params={**params, "as_of": when})
        assert r.status_code == 422, (path, when, r.text)
        body = r.json()
        assert body["error"] == "InvalidInput" and body["hint"], body
        assert "\n" not in body["message"]
    r = served.http.post(
        "/v1/globaltags/G/freeze", json={"snapshot_time": when}, headers=served.svc.auth("admin")
    )
    assert r.status_code == 422, r.text
    with read_session(served.engine) as s:
        assert store.get_global_tag(s, "G").state.value == "open"  # nothing frozen


def test_good_times_with_zones_still_work(served: Served) -> None:
    r = served.http.get("/v1/resolve/G/5", params={"as_of": "9999-12-31T23:59:59+00:00"})
    assert r.status_code == 200, r.text
    assert r.json()["as_of"] == "9999-12-31T23:59:59.000000+00:00"
    r = served.http.get("/v1/tags/t", params={"as_of": "0001-01-01T01:00:00+01:00"})
    assert r.status_code == 200 and r.json()["iovs"] == []  # nothing was inserted that early


def _body(name: str, value: int) -> dict[str, object]:
    doc = {"v": value}
    return {
        "campaign": name,
        "create_tags": [{"name": "cal", "type": "json"}],
        "items": [
            {"tag": "cal", "since": 100, "type": "json", "document": doc},
            {
                "tag": "cal",
                "since": 200,
                "type": "json",
                "data_base64": base64.b64encode(canonical_json({"v": value + 1})).decode(),
            },
        ],
    }


def _library_upload(value: int) -> campaigns.CampaignUpload:
    """The same upload as :func:`_body`, built as the library's use case."""
    items = [
        ("cal", 100, "json", canonical_json({"v": value}), 1, {}),
        ("cal", 200, "json", canonical_json({"v": value + 1}), 1, {}),
    ]
    return campaigns.CampaignUpload.of_items(
        "c1", items, kind="http", tags={"cal": ("json", "")}
    )


def test_http_campaign_upload_is_the_library_upload(served: Served) -> None:
    http, up = served.http, served.svc.auth("uploader")
    r = http.post("/v1/campaigns", json=_body("c1", 7), headers=up)
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["created"] is True and first["created_tags"] == ["cal"]
    assert first["iovs"] == {"cal": {"added": 2, "unchanged": 0}}
    with read_session(served.engine) as s:
        stored = store.get_campaign(s, "c1")
        assert [(x.record, x.tag, x.since) for x in stored.links] == [
            ("cal.100", "cal", 100),
            ("cal.200", "cal", 200),
        ]
        assert [x.payload_hash for x in stored.links] == first["payloads"]
        assert stored.info["uploaded_by"] == "uploader"
        assert store.get_payload(s, first["payloads"][0]).provenance["campaign"] == "c1"
    after_first = row_counts(served.engine)
    assert after_first["campaign"] == 1 and after_first["campaign_payload"] == 2

    # the same campaign again, by HTTP and by the library: nothing new (the same rows)
    r = http.post("/v1/campaigns", json=_body("c1", 7), headers=up)
    assert r.status_code == 200 and r.json()["created"] is False, r.text
    assert r.json()["payloads"] == first["payloads"]
    with write_session(served.engine) as s:
        again = campaigns.upload(s, _library_upload(7), uploaded_by="someone")
    assert not again.created and again.iovs_added == 0
    assert [x.payload_hash for x in again.records] == first["payloads"]
    assert row_counts(served.engine) == after_first

    # the same name with other constants: 409 over HTTP, Conflict in the library, nothing written
    r = http.post("/v1/campaigns", json=_body("c1", 8), headers=up)
    assert r.status_code == 409 and r.json()["error"] == "Conflict", r.text
    with pytest.raises(Conflict), write_session(served.engine) as s:
        campaigns.upload(s, _library_upload(8))
    assert row_counts(served.engine) == after_first
    assert served.svc.audit()[-1]["status"] == 409
