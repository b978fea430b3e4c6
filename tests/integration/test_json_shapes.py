"""One JSON shape per domain object (issue 12): the same stored objects (payload, tag, IOV list,
global tag, resolution, campaign) read through ``conddb ... --json`` (on the database and on the
service), the HTTP read API and an export file give the shape of
:mod:`conditions.service.serializers`, on both backends.

CLI and HTTP must agree to the value (same keys, same types, same text).  An export file holds
table rows: each row must hold the object's keys with the same values; it may add the names of
the rows it refers to (``tag`` of an IOV, ``campaign`` of a campaign link) and leaves out what the
IOV rules derive from the rows (``until``, ``superseded``: :mod:`conditions.iov`).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from conditions import store
from conditions.db import make_engine, write_session
from conditions.service.testing import RunningService, running_service
from conditions.services.transfer import export_file
from tests.support.cli import run
from tests.support.lifecycle import publish

#: What an export row of a table adds to the object: the names of the rows it refers to.
EXPORT_REFERENCES = {"iov": {"tag"}, "campaign_payload": {"campaign"}}
#: What the IOV rules derive from the stored rows (an export keeps the rows, not these).
DERIVED_IOV_KEYS = {"until", "superseded"}


def shape(value: Any) -> Any:
    """Keys and types of a JSON value, recursively (lists element by element)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return type(value).__name__


@dataclass
class Fronts:
    db_url: str
    engine: Engine
    svc: RunningService
    http: httpx.Client
    hashes: list[str]
    export: Path

    def cli(self, *args: str) -> Any:
        return json.loads(run(self.db_url, *args, "--json").stdout)

    def remote(self, *args: str) -> Any:
        """The same command with ``--db`` naming the service (the HTTP client path)."""
        return json.loads(run(self.svc.base_url, *args, "--json").stdout)

    def get(self, path: str, **params: Any) -> Any:
        r = self.http.get(path, params=params)
        assert r.status_code == 200, r.text
        return r.json()

    def rows(self, table: str) -> list[dict[str, Any]]:
        """The rows of ``table`` in the export file (``tables/<table>.jsonl``)."""
        with zipfile.ZipFile(self.export) as zf:
            text = zf.read(f"tables/{table}.jsonl").decode()
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def seed(engine: Engine, svc: RunningService, http: httpx.Client) -> list[str]:
    """Campaign c1 (over HTTP: the one upload) puts v=1, v=2 at since 10, 20 of open tag 'ta';
    v=3 then replaces since 20 (one superseded row); locked tag 'tb'; open GT 'G' (a -> ta,
    b -> tb) and its frozen clone 'GF'."""
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
        store.create_tag(s, "ta", "json", "tag a")
    body = {
        "campaign": "c1",
        "items": [
            {"tag": "ta", "since": since, "type": "json", "document": {"v": v}}
            for since, v in ((10, 1), (20, 2))
        ],
    }
    r = http.post("/v1/campaigns", json=body, headers=svc.auth("uploader"))
    assert r.status_code == 200, r.text
    hashes: list[str] = r.json()["payloads"]
    with write_session(engine) as s:
        hashes.append(store.put_payload(s, "json", b'{"v":3}').hash)
        store.append_iovs(s, "ta", [(20, hashes[2])])
        store.create_tag(s, "tb", "json")
        store.append_iovs(s, "tb", [(0, hashes[0])])
        store.lock_tag(s, "tb")
        store.create_global_tag(s, "G", "open map")
        store.set_record(s, "G", "a", "ta")
        store.set_record(s, "G", "b", "tb")
        store.clone_global_tag(s, "G", "GF")
        publish(s, "GF")
    return hashes


@pytest.fixture
def fronts(db_url: str, tmp_path: Path) -> Iterator[Fronts]:
    engine = make_engine(db_url)
    with (
        running_service(db_url, tmp_path, open_max_age=0, list_max_age=0) as svc,
        httpx.Client(base_url=svc.base_url, timeout=30) as http,
    ):
        hashes = seed(engine, svc, http)
        export = tmp_path / "all.zip"
        export_file(engine, export)
        yield Fronts(db_url, engine, svc, http, hashes, export)
    engine.dispose()


def same(cli: Any, http: Any) -> None:
    assert shape(cli) == shape(http)
    assert cli == http


def test_cli_and_http_give_one_shape_per_object(fronts: Fronts) -> None:
    f, h = fronts, fronts.hashes
    # payload types
    same(f.cli("type", "list"), f.get("/v1/types"))
    # payload
    meta = f.get(f"/v1/payloads/{h[0]}/meta")
    assert set(meta) == {"hash", "type", "schema_version", "size", "created_at", "provenance"}
    same(f.cli("payload", "show", h[0], "--no-content"), meta)
    same(f.remote("payload", "show", h[0], "--no-content"), meta)
    # tag (with its IOVs in force) and the tag listing
    tag = f.get("/v1/tags/ta")
    assert [i["since"] for i in tag["iovs"]] == [10, 20]
    same(f.cli("tag", "show", "ta"), tag)
    same(f.remote("tag", "show", "ta"), tag)
    same(f.cli("tag", "list"), f.get("/v1/tags"))
    same(f.remote("tag", "list"), f.get("/v1/tags"))
    # IOV list, superseded rows included
    history = f.get("/v1/tags/ta", history="true")["iovs"]
    assert [i["superseded"] for i in history] == [False, True, False]
    same(f.cli("iov", "list", "ta", "--history"), history)
    # global tags: open and frozen, and the listing
    for name in ("G", "GF"):
        gt = f.get(f"/v1/globaltags/{name}")
        assert set(gt["records"]) == {"a", "b"}
        same(f.cli("gt", "show", name), gt)
        same(f.remote("gt", "show", name), gt)
    same(f.cli("gt", "list"), f.get("/v1/globaltags"))
    same(f.remote("gt", "list"), f.get("/v1/globaltags"))
    # resolution of one run, under the open and the frozen global tag
    for name in ("G", "GF"):
        res = f.get(f"/v1/resolve/{name}/25")
        assert res["records"]["a"]["payload_hash"] == h[2]
        same(f.cli("get", "--gt", name, "--run", "25"), res)
        same(f.remote("get", "--gt", name, "--run", "25"), res)
    # campaign and the campaign listing
    campaign = f.get("/v1/campaigns/c1")
    assert [k["payload_hash"] for k in campaign["records"]] == h[:2]
    same(f.cli("campaign", "show", "c1"), campaign)
    same(f.cli("campaign", "list"), f.get("/v1/campaigns"))


def _inside(row: dict[str, Any], table: str) -> dict[str, Any]:
    """An export row without the names of the rows it refers to."""
    return {k: v for k, v in row.items() if k not in EXPORT_REFERENCES.get(table, set())}


def test_export_rows_hold_the_same_objects(fronts: Fronts) -> None:
    f = fronts
    # global tags: the rows are the objects (the map is its own table)
    gts = {g["name"]: g for g in f.get("/v1/globaltags")}
    for row in f.rows("global_tag"):
        same(row, gts[row["name"]])
    # IOVs: every stored row (superseded too), keyed by its tag, without the derived keys
    exported = [_inside(r, "iov") for r in f.rows("iov") if r["tag"] == "ta"]
    listed = f.get("/v1/tags/ta", history="true")["iovs"]
    assert len(exported) == len(listed) == 3
    for row, obj in zip(exported, listed, strict=True):
        assert set(obj) - set(row) == DERIVED_IOV_KEYS
        same(row, {k: obj[k] for k in row})
    # campaigns: the row is the object; its links are the campaign_payload rows
    campaign = f.get("/v1/campaigns/c1")
    (row,) = f.rows("campaign")
    same(row, {k: v for k, v in campaign.items() if k != "records"})
    links = [_inside(r, "campaign_payload") for r in f.rows("campaign_payload")]
    key = lambda k: k["record"]  # noqa: E731
    same(sorted(links, key=key), sorted(campaign["records"], key=key))


@pytest.mark.parametrize("table", ["payload", "tag"])
def test_export_payload_and_tag_rows_hold_the_same_objects(fronts: Fronts, table: str) -> None:
    f = fronts
    if table == "payload":
        objects = {h: f.get(f"/v1/payloads/{h}/meta") for h in f.hashes}
        key = "hash"
    else:
        listed = f.get("/v1/tags")
        objects = {t["name"]: {k: v for k, v in t.items() if k != "iovs"} for t in listed}
        key = "name"
    rows = f.rows(table)
    assert len(rows) == len(objects)
    for row in rows:
        same(row, objects[row[key]])
