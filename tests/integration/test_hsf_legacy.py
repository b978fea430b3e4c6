"""Contract of the legacy ``/api/cdb_rest/`` read routes of the C++ ``nopayloadclient``, both
backends: the exact calls it makes and the shapes it parses (issue 16).

The C++ client reads ``name`` of each global tag / status / type, ``payload_iov_count`` (an
integer), the ``{type: payload list}`` map, and rows ``[type, url, checksum, size, major,
minor, major_end, minor_end]`` of which it drops those with ``major_end < major``; on any
non-200 it parses the body as JSON and takes ``name[0]``, else ``detail``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conditions import store
from conditions.db import make_engine, write_session
from conditions.service.hsf.mapping import MAX_IOV
from conditions.service.testing import running_service


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[httpx.Client]:
    """Global tag 'sPHENIX' (open): record 'beam' sinces 10, 20; record 'geo' since 15."""
    engine = make_engine(db_url)
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
        beam = [store.put_payload(s, "json", f'{{"beam":{k}}}'.encode()).hash for k in range(2)]
        geo = store.put_payload(s, "json", b'{"geo":1}').hash
        store.create_tag(s, "beam-v1", "json")
        store.append_iovs(s, "beam-v1", [(10, beam[0]), (20, beam[1])])
        store.create_tag(s, "geo-v1", "json")
        store.append_iovs(s, "geo-v1", [(15, geo)])
        store.create_global_tag(s, "sPHENIX")
        store.set_record(s, "sPHENIX", "beam", "beam-v1")
        store.set_record(s, "sPHENIX", "geo", "geo-v1")
    with (
        running_service(db_url, tmp_path / "svc") as svc,
        httpx.Client(base_url=svc.base_url + "/api/cdb_rest/", timeout=30) as http,
    ):
        yield http
    engine.dispose()


def ok(http: httpx.Client, path: str, **params: Any) -> Any:
    r = http.get(path, params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    return r.json()


def rows_at(http: httpx.Client, run: int, minor: int = 0) -> dict[str, list[Any]]:
    rows = ok(http, "payloadiovs/", gtName="sPHENIX", majorIOV=run, minorIOV=minor)
    assert isinstance(rows, list)
    for row in rows:
        assert isinstance(row, list) and len(row) == 8
        assert [type(x) for x in row] == [str, str, str, int, int, int, int, int]
        assert row[6] >= row[4]  # never dropped by the client
    return {row[0]: row for row in rows}


def test_listings(api: httpx.Client) -> None:
    tags = ok(api, "globalTags")
    assert [(g["name"], g["status"], g["payload_iov_count"]) for g in tags] == [
        ("sPHENIX", "unlocked", 3)
    ]
    assert {s["name"] for s in ok(api, "gtstatus")} >= {"unlocked", "locked"}
    assert [t["name"] for t in ok(api, "pt")] == ["json"]
    assert ok(api, "gtPayloadLists/sPHENIX") == {"beam": "beam-v1", "geo": "geo-v1"}
    detail = ok(api, "globalTag/sPHENIX")
    assert [p["name"] for p in detail["payload_lists"]] == ["beam-v1", "geo-v1"]
    assert len(ok(api, "pl")) == 2 and len(ok(api, "piov")) == 3


def test_payload_iov_rows(api: httpx.Client) -> None:
    assert rows_at(api, 9) == {}  # before every IOV: nothing, and no error
    at10 = rows_at(api, 10)
    assert set(at10) == {"beam"}  # geo starts at 15: absent, not a 404
    beam = at10["beam"]
    digest = beam[1].split("/")[1]
    assert beam[1] == f"json/{digest}" and beam[2] == f"sha256:{digest}"
    assert beam[3] == len(b'{"beam":0}')
    assert hashlib.sha256(b'{"beam":0}').hexdigest() == digest
    assert beam[4:] == [10, 0, 20, 0]
    assert rows_at(api, 19, minor=99)["beam"][4:] == [10, 0, 20, 0]
    at20 = rows_at(api, 20)
    assert at20["beam"][4:] == [20, 0, MAX_IOV, MAX_IOV]
    assert at20["geo"][4:] == [15, 0, MAX_IOV, MAX_IOV]


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("gtPayloadLists/nope", {}, 404, "no global tag named 'nope'"),
        ("globalTag/nope", {}, 404, "no global tag named 'nope'"),
        ("payloadiovs/", {"gtName": "nope", "majorIOV": 1, "minorIOV": 0}, 404, "nope"),
        ("payloadiovs/", {"gtName": "sPHENIX", "majorIOV": "x", "minorIOV": 0}, 422, "majorIOV"),
        ("payloadiovs/", {"gtName": "sPHENIX", "majorIOV": -1, "minorIOV": 0}, 422, "majorIOV"),
        ("payloadiovs/", {"gtName": "sPHENIX", "majorIOV": 1}, 200, ""),
        ("noSuchRoute", {}, 404, "no HSF route"),
    ],
)
def test_errors_are_json_with_name_and_detail(
    api: httpx.Client, path: str, params: dict[str, Any], status: int, message: str
) -> None:
    r = api.get(path, params=params)
    assert r.status_code == status, r.text
    body = r.json()  # never HTML
    if status == 200:
        return
    assert isinstance(body["name"], list) and message in body["name"][0]
    assert body["detail"] == body["name"][0]
    assert r.headers["cache-control"] == "no-store"
