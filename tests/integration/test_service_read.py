"""Read API over real HTTP (uvicorn on loopback), both backends: bodies, headers, 304, errors."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine

from conditions import store
from conditions.db import make_engine, write_session
from conditions.payloads import encode_payload, examples
from conditions.service.settings import ONE_YEAR
from conditions.service.testing import RunningService, running_service
from tests.support.lifecycle import publish

OPEN_MAX_AGE = 7
FROZEN_MAX_AGE = 3600


@dataclass
class Seeded:
    svc: RunningService
    http: httpx.Client
    engine: Engine
    h: list[str]
    light_yield: str


def seed(engine: Engine) -> tuple[list[str], str]:
    """GT 'OPEN': a -> ta (sinces 10, 20, 30), b -> tb (0, 25); 'FROZEN' = frozen clone."""
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
        store.register_payload_type(s, "light_yield")
        h = [store.put_payload(s, "json", f'{{"err":0.5,"v":{k}}}'.encode()).hash for k in range(5)]
        ly = store.put_payload(s, "light_yield", encode_payload(examples.light_yield())).hash
        store.create_tag(s, "ta", "json")
        store.create_tag(s, "tb", "json")
        store.append_iovs(s, "ta", [(10, h[0]), (20, h[1]), (30, h[2])])
        store.append_iovs(s, "tb", [(0, h[3]), (25, h[4])])
        store.create_global_tag(s, "OPEN")
        store.set_record(s, "OPEN", "a", "ta")
        store.set_record(s, "OPEN", "b", "tb")
        store.clone_global_tag(s, "OPEN", "FROZEN")
        publish(s, "FROZEN")
    return h, ly


@pytest.fixture
def seeded(db_url: str, tmp_path: Path) -> Iterator[Seeded]:
    engine = make_engine(db_url)
    h, ly = seed(engine)
    with (
        running_service(
            db_url, tmp_path, open_max_age=OPEN_MAX_AGE, frozen_max_age=FROZEN_MAX_AGE
        ) as svc,
        httpx.Client(base_url=svc.base_url, timeout=30) as http,
    ):
        yield Seeded(svc, http, engine, h, ly)
    engine.dispose()


def _records(body: dict) -> dict[str, tuple[str, int, int | None]]:
    return {r: (v["payload_hash"], v["since"], v["until"]) for r, v in body["records"].items()}


def test_resolve_bodies_and_cache_headers(seeded: Seeded) -> None:
    http, h = seeded.http, seeded.h
    r = http.get("/v1/resolve/OPEN/25")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == f"public, max-age={OPEN_MAX_AGE}"
    assert r.headers["etag"].startswith('"') and len(r.headers["etag"]) == 34
    body = r.json()
    assert (body["global_tag"], body["run"], body["frozen"]) == ("OPEN", 25, False)
    assert _records(body) == {"a": (h[1], 20, 29), "b": (h[4], 25, None)}
    assert body["records"]["a"]["tag"] == "ta" and body["records"]["a"]["payload_type"] == "json"

    r = http.get("/v1/resolve/FROZEN/25")
    assert r.headers["cache-control"] == f"public, max-age={FROZEN_MAX_AGE}"
    assert r.json()["frozen"] is True
    assert _records(r.json()) == {"a": (h[1], 20, 29), "b": (h[4], 25, None)}

    r = http.get("/v1/resolve/OPEN/9", params={"record": "b"})
    assert _records(r.json()) == {"b": (h[3], 0, 24)}


def test_304_on_if_none_match_and_revalidation_sees_changes(seeded: Seeded) -> None:
    http, engine = seeded.http, seeded.engine
    first = http.get("/v1/resolve/OPEN/25")
    etag = first.headers["etag"]
    again = http.get("/v1/resolve/OPEN/25", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == first.headers["cache-control"]
    assert (
        http.get("/v1/resolve/OPEN/25", headers={"If-None-Match": '"x", W/' + etag}).status_code
        == 304
    )
    frozen_etag = http.get("/v1/resolve/FROZEN/25").headers["etag"]

    with write_session(engine) as s:  # a new IOV in the open tag changes run 25 of OPEN
        store.append_iovs(s, "ta", [(22, seeded.h[3])])
    changed = http.get("/v1/resolve/OPEN/25", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert _records(changed.json())["a"] == (seeded.h[3], 22, 29)
    # the frozen global tag resolves as of its snapshot: same answer, same ETag
    assert (
        http.get("/v1/resolve/FROZEN/25", headers={"If-None-Match": frozen_etag}).status_code == 304
    )


def test_batch_lookup_segments(seeded: Seeded) -> None:
    http, h = seeded.http, seeded.h
    r = http.get("/v1/resolve/OPEN", params={"first": 10, "last": 40})
    assert r.status_code == 200
    segs = [
        (
            s["first_run"],
            s["last_run"],
            s["records"]["a"]["payload_hash"],
            s["records"]["b"]["payload_hash"],
        )
        for s in r.json()["segments"]
    ]
    assert segs == [
        (10, 19, h[0], h[3]),
        (20, 24, h[1], h[3]),
        (25, 29, h[1], h[4]),
        (30, 40, h[2], h[4]),
    ]
    r = http.get("/v1/resolve/FROZEN", params={"runs": "27,12,27", "record": "a"})
    assert r.headers["cache-control"] == f"public, max-age={FROZEN_MAX_AGE}"
    assert [(s["first_run"], s["last_run"], list(s["records"])) for s in r.json()["segments"]] == [
        (12, 12, ["a"]),
        (27, 27, ["a"]),
    ]
    limit = seeded.svc.settings.max_batch_runs
    bad: list[tuple[dict[str, str | int], int]] = [
        ({"first": 8, "last": 12}, 404),  # run 8 is before the first IOV of ta
        ({"first": 10, "last": 10 + limit}, 422),  # one run too many
        ({"first": 20, "last": 10}, 422),
        ({"first": 10}, 422),
        ({"runs": "1,x"}, 422),
        ({"runs": "12", "first": 10, "last": 12}, 422),
    ]
    for params, status in bad:
        assert http.get("/v1/resolve/OPEN", params=params).status_code == status, params


def test_as_of_replay(seeded: Seeded) -> None:
    http, engine, h = seeded.http, seeded.engine, seeded.h
    time.sleep(0.01)
    before = dt.datetime.now(dt.UTC)
    time.sleep(0.01)
    with write_session(engine) as s:
        store.append_iovs(s, "ta", [(20, h[4])])  # supersedes since 20
    now = http.get("/v1/resolve/OPEN/21").json()
    then = http.get("/v1/resolve/OPEN/21", params={"as_of": before.isoformat()}).json()
    assert _records(now)["a"] == (h[4], 20, 29)
    assert _records(then)["a"] == (h[1], 20, 29)
    assert then["as_of"] == before.isoformat(timespec="microseconds")
    # One naive-time policy (conditions.times): the library refuses a time without a zone, and
    # so does HTTP now (it used to take it as UTC): 422 with a one-line hint, never a guess.
    naive = before.replace(tzinfo=None).isoformat()
    r = http.get("/v1/resolve/OPEN/21", params={"as_of": naive})
    assert r.status_code == 422 and "no time zone" in r.json()["message"], r.text


def test_payload_bytes_json_view_and_meta(seeded: Seeded) -> None:
    http, h = seeded.http, seeded.h
    r = http.get(f"/v1/payloads/{h[2]}")
    assert r.status_code == 200
    assert r.content == b'{"err":0.5,"v":2}'
    assert r.headers["etag"] == f'"{h[2]}"'
    assert r.headers["cache-control"] == f"public, max-age={ONE_YEAR}, immutable"
    assert r.headers["content-type"] == "application/octet-stream"
    assert (
        http.get(f"/v1/payloads/{h[2]}", headers={"If-None-Match": f'"{h[2]}"'}).status_code == 304
    )
    head = http.head(f"/v1/payloads/{h[2]}")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(r.content))

    ly = http.get(f"/v1/payloads/{seeded.light_yield}/json")
    assert ly.headers["cache-control"].endswith("immutable")
    assert ly.json()["y0"] == examples.light_yield().y0
    meta = http.get(f"/v1/payloads/{seeded.light_yield}/meta").json()
    assert meta["type"] == "light_yield" and meta["hash"] == seeded.light_yield
    assert meta["size"] == len(encode_payload(examples.light_yield()))


def test_listings_schemas_trend_openapi(seeded: Seeded) -> None:
    http, h = seeded.http, seeded.h
    tags = http.get("/v1/tags").json()
    assert [(t["name"], t["iovs"], t["state"]) for t in tags] == [
        ("ta", 3, "open"),
        ("tb", 2, "open"),
    ]
    assert [t["name"] for t in http.get("/v1/tags", params={"type": "light_yield"}).json()] == []
    ta = http.get("/v1/tags/ta").json()
    assert [(i["since"], i["until"], i["payload_hash"]) for i in ta["iovs"]] == [
        (10, 19, h[0]),
        (20, 29, h[1]),
        (30, None, h[2]),
    ]
    gts = {g["name"]: g["state"] for g in http.get("/v1/globaltags").json()}
    assert gts == {"FROZEN": "published", "OPEN": "open"}
    frozen = http.get("/v1/globaltags/FROZEN")
    assert frozen.json()["records"] == {
        "a": {"tag": "ta", "type": "json", "tag_state": "open"},
        "b": {"tag": "tb", "type": "json", "tag_state": "open"},
    }
    assert frozen.json()["snapshot_time"] is not None

    assert "light_yield" in http.get("/v1/schemas").json()
    schema = http.get("/v1/schemas/light_yield").json()
    assert schema["x-payload-type"] == "light_yield" and "y0" in schema["properties"]
    types = {t["name"]: t["kind"] for t in http.get("/v1/types").json()}
    assert types == {"json": "json", "light_yield": "typed"}

    trend = http.get("/v1/trend/ta", params={"field": "v", "error": "err"}).json()
    assert [(p["since"], p["value"], p["error"]) for p in trend["points"]] == [
        (10, 0.0, 0.5),
        (20, 1.0, 0.5),
        (30, 2.0, 0.5),
    ]
    assert http.get("/v1/trend/ta", params={"field": "nope"}).status_code == 422

    spec = http.get("/openapi.json").json()
    assert "/v1/resolve/{global_tag}/{run}" in spec["paths"]
    assert "post" in spec["paths"]["/v1/payloads"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


ERROR_CASES = [
    ("/v1/resolve/NOPE/25", 404, "GlobalTagNotFound"),
    ("/v1/resolve/OPEN/9", 404, "RunNotCovered"),
    ("/v1/resolve/OPEN/25?record=zz", 404, "RecordNotFound"),
    ("/v1/resolve/OPEN/-1", 422, "InvalidIOV"),
    (f"/v1/resolve/OPEN/{2**63}", 422, "InvalidIOV"),
    ("/v1/resolve/OPEN/abc", 422, "InvalidInput"),
    ("/v1/resolve/OPEN/25?as_of=yesterday", 422, "InvalidInput"),
    ("/v1/payloads/abc", 422, "InvalidInput"),
    ("/v1/payloads/" + "0" * 64, 404, "PayloadNotFound"),
    ("/v1/payloads/" + "0" * 64 + "/json", 404, "PayloadNotFound"),
    ("/v1/tags/nope", 404, "TagNotFound"),
    ("/v1/globaltags/nope", 404, "GlobalTagNotFound"),
    ("/v1/schemas/nope", 422, "InvalidPayload"),
    ("/v1/trend/nope?field=v", 404, "TagNotFound"),
    ("/v1/nothing-here", 404, "HTTPError"),
]


def test_errors_are_json_and_never_cached(seeded: Seeded) -> None:
    for path, status, error in ERROR_CASES:
        r = seeded.http.get(path)
        assert r.status_code == status, path
        body = r.json()
        assert (body["error"], body["status"]) == (error, status), path
        assert body["message"] and isinstance(body["hint"], str)
        assert r.headers["cache-control"] == "no-store"


def test_wrong_method_is_405_json(seeded: Seeded) -> None:
    r = seeded.http.post("/v1/resolve/OPEN/25")
    assert r.status_code == 405 and r.json()["error"] == "HTTPError"
