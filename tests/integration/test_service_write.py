"""Write API over real HTTP, both backends: tokens and roles, audit log, atomic campaign upload."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from conditions import store
from conditions.db import make_engine, read_session, write_session
from conditions.model import IOV, GlobalTag, GlobalTagMap, Payload, PayloadType, Tag
from conditions.payloads import encode_payload, examples
from conditions.service.auth import Role, add_token, revoke_token
from conditions.service.testing import RunningService, running_service
from tests.conftest import row_counts

PAYLOAD_LIMIT = 4096  # [bytes] CONDDB_MAX_PAYLOAD_BYTES of these tests


@dataclass
class Service:
    svc: RunningService
    http: httpx.Client
    engine: Engine
    h0: str  # a stored json payload; tag "t0" (json) has IOV since 0 -> h0; GT "G" a -> t0


@pytest.fixture
def service(db_url: str, tmp_path: Path) -> Iterator[Service]:
    engine = make_engine(db_url)
    with write_session(engine) as s:
        for name in ("json", "light_yield"):
            store.register_payload_type(s, name)
        h0 = store.put_payload(s, "json", b'{"v":0}').hash
        store.create_tag(s, "t0", "json")
        store.append_iovs(s, "t0", [(0, h0)])
        store.create_global_tag(s, "G")
        store.set_record(s, "G", "a", "t0")
    with (
        running_service(db_url, tmp_path, max_payload_bytes=PAYLOAD_LIMIT) as svc,
        httpx.Client(base_url=svc.base_url, timeout=30) as http,
    ):
        yield Service(svc, http, engine, h0)
    engine.dispose()


def counts(engine: Engine) -> dict[str, int]:
    """Rows per table of the store proper (payloads, tags, IOVs, global tags)."""
    store_tables = {
        m.__tablename__ for m in (PayloadType, Payload, Tag, IOV, GlobalTag, GlobalTagMap)
    }
    return {k: v for k, v in row_counts(engine).items() if k in store_tables}


def write_calls(h0: str) -> list[tuple[str, str, Any, Role]]:
    """(method, path, JSON body, role needed) of every write endpoint, each one valid."""
    doc = {"type": "json", "document": {"v": 1}}
    return [
        ("POST", "/v1/payloads", doc, Role.UPLOADER),
        ("POST", "/v1/tags", {"name": "t1", "type": "json"}, Role.UPLOADER),
        ("POST", "/v1/tags/t0/iovs", {"iovs": [{"since": 5, "payload_hash": h0}]}, Role.UPLOADER),
        (
            "POST",
            "/v1/campaigns",
            {"campaign": "c", "items": [{"tag": "t0", "since": 7, **doc}]},
            Role.UPLOADER,
        ),
        ("POST", "/v1/types", {"name": "other"}, Role.ADMIN),
        ("POST", "/v1/tags/t0/lock", None, Role.ADMIN),
        ("POST", "/v1/globaltags", {"name": "G2"}, Role.ADMIN),
        ("PUT", "/v1/globaltags/G/records/b", {"tag": "t0"}, Role.ADMIN),
        ("POST", "/v1/globaltags/G/validate", {"runs": "0-10"}, Role.ADMIN),
        ("POST", "/v1/globaltags/G/freeze", {}, Role.ADMIN),  # = publish: needs the validation
        ("POST", "/v1/globaltags/G/clone", {"destination": "G3"}, Role.ADMIN),
    ]


def test_without_a_valid_token_nothing_changes(service: Service) -> None:
    http, svc = service.http, service.svc
    before = counts(service.engine)
    bad_headers: list[tuple[dict[str, str], int]] = [
        ({}, 401),
        ({"Authorization": "Bearer cdb_not-a-token"}, 401),
        ({"Authorization": f"Basic {svc.tokens['admin']}"}, 401),
        (svc.auth("reader"), 403),
    ]
    for method, path, body, role in write_calls(service.h0):
        attempts = list(bad_headers)
        if role is Role.ADMIN:
            attempts.append((svc.auth("uploader"), 403))
        for headers, status in attempts:
            r = http.request(method, path, json=body, headers=headers)
            assert r.status_code == status, (method, path, headers)
            assert r.json()["error"] == ("Unauthorized" if status == 401 else "Forbidden")
            if status == 401:
                assert r.headers["www-authenticate"] == "Bearer"
    assert counts(service.engine) == before
    # every refused attempt is audited, and no token appears in the audit log or the tokens file
    refused = [e for e in svc.audit() if e["status"] in (401, 403)]
    expected = sum(4 + (role is Role.ADMIN) for *_, role in write_calls(service.h0))
    assert len(refused) == expected
    assert {e["who"] for e in refused} == {None, "reader", "uploader"}
    for text in (svc.audit_log.read_text(), svc.tokens_file.read_text()):
        assert all(token not in text for token in svc.tokens.values())


def test_every_write_with_the_right_role_is_applied_and_audited(service: Service) -> None:
    http, svc = service.http, service.svc
    for method, path, body, role in write_calls(service.h0):
        r = http.request(method, path, json=body, headers=svc.auth(role.label))
        assert r.status_code in (200, 201), (path, r.text)
        assert r.headers["cache-control"] == "no-store"
    after = counts(service.engine)
    # +1 type; payloads h0 and {"v":1}; t0, t1; IOVs 0, 5, 7; G, G2, G3; map a, b, G3's a, b
    assert after == {
        "payload_type": 3,
        "payload": 2,
        "tag": 2,
        "iov": 3,
        "global_tag": 3,
        "global_tag_map": 4,
    }
    audit = svc.audit()
    assert [(e["action"], e["who"], e["status"]) for e in audit] == [
        ("upload_document", "uploader", 201),
        ("create_tag", "uploader", 201),
        ("append_iovs", "uploader", 200),
        ("upload_campaign", "uploader", 200),
        ("register_type", "admin", 201),
        ("lock_tag", "admin", 200),
        ("create_global_tag", "admin", 201),
        ("set_record", "admin", 200),
        ("validate", "admin", 200),
        ("freeze_global_tag", "admin", 200),
        ("clone_global_tag", "admin", 201),
    ]
    assert audit[0]["detail"]["hash"] == store.sha256_hex(b'{"v":1}')
    assert audit[2]["detail"]["added"] == 1 and audit[2]["target"] == "/v1/tags/t0/iovs"
    assert all(e["time"].endswith("+00:00") and e["client"] == "127.0.0.1" for e in audit)
    with read_session(service.engine) as s:
        prov = store.get_payload(s, store.sha256_hex(b'{"v":1}')).provenance
    assert prov["uploaded_by"] == "uploader"


def test_domain_errors_of_writes(service: Service) -> None:
    http, svc, h0 = service.http, service.svc, service.h0
    up, admin = svc.auth("uploader"), svc.auth("admin")
    cases: list[tuple[str, str, Any, dict[str, str], int, str]] = [
        ("POST", "/v1/tags", {"name": "t0", "type": "json"}, up, 409, "AlreadyExists"),
        ("POST", "/v1/tags", {"name": "bad name", "type": "json"}, up, 422, "InvalidName"),
        ("POST", "/v1/tags", {"name": "t9", "type": "nope"}, up, 404, "PayloadTypeNotFound"),
        ("POST", "/v1/tags", {"name": "t9"}, up, 422, "InvalidInput"),
        (
            "POST",
            "/v1/tags/zz/iovs",
            {"iovs": [{"since": 1, "payload_hash": h0}]},
            up,
            404,
            "TagNotFound",
        ),
        (
            "POST",
            "/v1/tags/t0/iovs",
            {"iovs": [{"since": -1, "payload_hash": h0}]},
            up,
            422,
            "InvalidIOV",
        ),
        (
            "POST",
            "/v1/payloads",
            {"type": "light_yield", "document": {"y0": 1}},
            up,
            422,
            "InvalidPayload",
        ),
        (
            "POST",
            "/v1/payloads",
            {"type": "json", "document": list(range(2000))},
            up,
            413,
            "PayloadTooLarge",
        ),
        ("PUT", "/v1/globaltags/G/records/a", {"tag": "zz"}, admin, 404, "TagNotFound"),
        ("POST", "/v1/globaltags/G/freeze", {}, admin, 409, "Conflict"),  # not validated
    ]
    before = counts(service.engine)
    for method, path, body, headers, status, error in cases:
        r = http.request(method, path, json=body, headers=headers)
        assert (r.status_code, r.json()["error"]) == (status, error), (path, body, r.text)
    assert counts(service.engine) == before
    # locked tag and frozen global tag: 409
    assert http.post("/v1/tags/t0/lock", headers=admin).status_code == 200
    r = http.post("/v1/tags/t0/iovs", json={"iovs": [{"since": 9, "payload_hash": h0}]}, headers=up)
    assert (r.status_code, r.json()["error"]) == (409, "TagLocked")
    assert http.post("/v1/globaltags/G/validate", json={"runs": "0-9"}, headers=admin).json()[
        "state"] == "validated"
    future = {"snapshot_time": "2999-01-01T00:00:00Z"}
    r = http.post("/v1/globaltags/G/freeze", json=future, headers=admin)
    assert (r.status_code, r.json()["error"]) == (422, "InvalidInput")
    assert http.post("/v1/globaltags/G/freeze", headers=admin).status_code == 200
    r = http.put("/v1/globaltags/G/records/b", json={"tag": "t0"}, headers=admin)
    assert (r.status_code, r.json()["error"]) == (409, "GlobalTagFrozen")
    failed = [e for e in svc.audit() if e["status"] >= 400]
    assert len(failed) == len(cases) + 3
    assert all(e["error"] for e in failed)


def test_raw_upload_must_be_canonical(service: Service) -> None:
    http, up = service.http, service.svc.auth("uploader")
    raw = {"Content-Type": "application/octet-stream", **up}
    ly = encode_payload(examples.light_yield())
    r = http.post(
        "/v1/payloads/raw",
        params={"type": "light_yield"},
        content=ly,
        headers={**raw, "X-Conddb-Provenance": json.dumps({"job": "fit-1"})},
    )
    assert r.status_code == 201 and r.json()["hash"] == store.sha256_hex(ly)
    again = http.post("/v1/payloads/raw", params={"type": "light_yield"}, content=ly, headers=raw)
    assert again.status_code == 200 and again.json()["created"] is False
    assert http.get(f"/v1/payloads/{store.sha256_hex(ly)}").content == ly
    meta = http.get(f"/v1/payloads/{store.sha256_hex(ly)}/meta").json()
    assert meta["provenance"] == {"job": "fit-1", "uploaded_by": "uploader"}
    for type_name, content, status in [
        ("json", b'{"b":1, "a":2}', 422),  # not canonical JSON (order, whitespace)
        ("json", b"not json", 422),
        ("light_yield", ly[:-3], 422),  # truncated bytes
        ("json", b"[" + b"1," * PAYLOAD_LIMIT + b"1]", 413),  # over the limit
    ]:
        r = http.post("/v1/payloads/raw", params={"type": type_name}, content=content, headers=raw)
        assert r.status_code == status, (content[:20], r.text)


def test_campaign_upload_is_atomic(service: Service) -> None:
    http, up = service.http, service.svc.auth("uploader")
    ly = examples.light_yield()
    good: dict[str, Any] = {
        "campaign": "2026-03",
        "create_tags": [{"name": "ly", "type": "light_yield"}, {"name": "t0", "type": "json"}],
        "items": [
            {
                "tag": "ly",
                "since": 100,
                "type": "light_yield",
                "data_base64": base64.b64encode(encode_payload(ly)).decode(),
            },
            {"tag": "t0", "since": 100, "type": "json", "document": {"v": 100}},
            {"tag": "t0", "since": 200, "type": "json", "document": {"v": 200}},
        ],
    }
    bad_item = {"tag": "ly", "since": 300, "type": "light_yield", "document": {"y0": -1}}
    broken = [
        {**good, "items": [*good["items"], bad_item]},  # invalid payload last
        {**good, "create_tags": [{"name": "t0", "type": "light_yield"}]},  # type clash
        {**good, "items": [{**good["items"][1], "tag": "nope"}]},  # unknown tag
        {**good, "items": [{**good["items"][1], "data_base64": "AAAA"}]},  # both forms
    ]
    before = counts(service.engine)
    for body in broken:
        r = http.post("/v1/campaigns", json=body, headers=up)
        assert r.status_code in (404, 422), r.text
        assert counts(service.engine) == before  # nothing of it landed
    r = http.post("/v1/campaigns", json=good, headers=up)
    assert r.status_code == 200, r.text
    assert r.json()["created_tags"] == ["ly"] and r.json()["new_payloads"] == 3
    assert r.json()["iovs"] == {
        "ly": {"added": 1, "unchanged": 0},
        "t0": {"added": 2, "unchanged": 0},
    }
    hashes = r.json()["payloads"]
    with read_session(service.engine) as s:
        assert store.get_payload(s, hashes[0]).provenance["campaign"] == "2026-03"
        assert [(i.since, i.payload_hash) for i in store.list_iovs(s, "t0")] == [
            (0, service.h0),
            (100, hashes[1]),
            (200, hashes[2]),
        ]
    assert service.http.get("/v1/resolve/G/150").json()["records"]["a"]["payload_hash"] == hashes[1]


def test_tokens_file_is_reloaded_on_change(service: Service) -> None:
    http, svc = service.http, service.svc
    late = add_token(svc.tokens_file, "late", Role.ADMIN)
    r = http.get("/v1/whoami", headers={"Authorization": f"Bearer {late}"})
    assert r.json() == {"name": "late", "role": "admin"}
    assert revoke_token(svc.tokens_file, "late") == 1
    r = http.get("/v1/whoami", headers={"Authorization": f"Bearer {late}"})
    assert r.status_code == 401
    assert http.get("/v1/whoami", headers=svc.auth("reader")).json()["role"] == "reader"
