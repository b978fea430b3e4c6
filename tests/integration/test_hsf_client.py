"""The real ``nopayloaddb-client`` 0.3.0 (PyPI) against a real service, both backends.

Read workflow: list -> get -> query at many runs (segment boundaries, an uncovered run, a run
where only some records are covered) -> download and verify every payload; write workflow:
upload payload files, create type / list / IOVs, attach, clone, freeze.  Every answer is
checked against the library (``resolve`` per record, ``list_iovs``) and our own CLI
(``conddb get --json``); refused calls raise the client's own error with our message.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from nopayloaddb_client import NoPayloadDBClient, NoPayloadDBError
from sqlalchemy.engine import Engine

from cli.main import conddb
from conditions import store
from conditions.db import make_engine, read_session, write_session
from conditions.errors import RunNotCovered
from conditions.model import GlobalTagState
from conditions.payloads import encode_payload, examples
from conditions.resolve import resolve
from conditions.service.hsf.mapping import MAX_IOV
from conditions.service.testing import RunningService, running_service
from tests.support.lifecycle import mark_validated, publish

#: Runs asked: before every IOV, on and around each since (100, 150, 200, 300, 400), far after.
RUNS = (0, 99, 100, 101, 149, 150, 151, 199, 200, 201, 299, 300, 399, 400, 401, 10**9)

CLI_GET_F_250 = ("get", "--gt", "F", "--run", "250", "--json")
FROZEN_MAX_AGE = 3600  # [s] CONDDB_FROZEN_MAX_AGE of these tests
OPEN_MAX_AGE = 7  # [s] CONDDB_OPEN_MAX_AGE of these tests


@dataclass
class World:
    svc: RunningService
    engine: Engine
    db_url: str
    cache: Path

    def reader(self) -> NoPayloadDBClient:
        return NoPayloadDBClient(base_url=self.svc.base_url, cache_dir=self.cache)

    def writer(self, role: str = "admin") -> NoPayloadDBClient:
        return NoPayloadDBClient(
            base_url=self.svc.base_url, cache_dir=self.cache, access_token=self.svc.tokens[role]
        )


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    """'G' (open) and its frozen clone 'F': records light_yield (sinces 100, 200, 300),
    dark_noise (since 150) and x (json, sinces 100, 200).  After the freeze, light_yield gets
    since 400 too: 'G' sees it, 'F' must not."""
    engine = make_engine(db_url)
    with write_session(engine) as s:
        for name in ("json", "light_yield", "dark_noise"):
            store.register_payload_type(s, name)
        base = examples.light_yield()
        ly = [
            store.put_payload(
                s, "light_yield", encode_payload(base.model_copy(update={"y0": y}))
            ).hash
            for y in (1340.0, 1345.0, 1350.0, 1355.0)
        ]
        dn = store.put_payload(s, "dark_noise", encode_payload(examples.dark_noise())).hash
        xs = [store.put_payload(s, "json", f'{{"x":{k}}}'.encode()).hash for k in range(2)]
        store.create_tag(s, "ly-v1", "light_yield")
        store.append_iovs(s, "ly-v1", [(100, ly[0]), (200, ly[1]), (300, ly[2])])
        store.create_tag(s, "dn-v1", "dark_noise")
        store.append_iovs(s, "dn-v1", [(150, dn)])
        store.create_tag(s, "x-v1", "json")
        store.append_iovs(s, "x-v1", [(100, xs[0]), (200, xs[1])])
        store.create_global_tag(s, "G", "alice")
        for record, tag in (("light_yield", "ly-v1"), ("dark_noise", "dn-v1"), ("x", "x-v1")):
            store.set_record(s, "G", record, tag)
        store.clone_global_tag(s, "G", "F")
        publish(s, "F")
    with write_session(engine) as s:
        store.append_iovs(s, "ly-v1", [(400, ly[3])])
    settings = {"frozen_max_age": FROZEN_MAX_AGE, "open_max_age": OPEN_MAX_AGE}
    with running_service(db_url, tmp_path / "svc", **settings) as svc:
        yield World(svc, engine, db_url, tmp_path / "cache")
    engine.dispose()


def expected(engine: Engine, gt: str, run: int) -> dict[str, dict[str, Any]]:
    """The library's answer per record (records not covering ``run`` are absent)."""
    out: dict[str, dict[str, Any]] = {}
    with read_session(engine) as s:
        records = store.global_tag_map(s, store.get_global_tag(s, gt))
    for record in records:
        try:
            r = resolve(engine, gt, run, record=record).records[record]
        except RunNotCovered:
            continue
        out[record] = {
            "payload_url": f"{r.payload_type}/{r.payload_hash}",
            "checksum": f"sha256:{r.payload_hash}",
            "major_iov": r.since,
            "minor_iov": 0,
            "major_iov_end": MAX_IOV if r.until is None else r.until + 1,
            "minor_iov_end": MAX_IOV if r.until is None else 0,
        }
    return out


def cli_get(db_url: str, gt: str, run: int, record: str) -> dict[str, Any] | None:
    """``conddb get --gt GT --run RUN --record R --json`` (None: the run is not covered)."""
    result = CliRunner().invoke(
        conddb, ["--db", db_url, "get", "--gt", gt, "--run", str(run), "--record", record, "--json"]
    )
    if isinstance(result.exception, RunNotCovered):
        return None
    assert result.exit_code == 0, result.output
    rec: dict[str, Any] = json.loads(result.stdout)["records"][record]
    return rec


# --- read workflow ------------------------------------------------------------------------------
def test_read_workflow_lists_and_gets(world: World) -> None:
    client = world.reader()
    tags = {g["name"]: g for g in client.list_global_tags()}
    assert set(tags) == {"G", "F"}
    assert (tags["G"]["status"], tags["F"]["status"]) == ("unlocked", "frozen")
    assert tags["G"]["author"] == "alice"
    # G sees 4 + 1 + 2 IOVs; F was frozen before since 400 was appended
    assert (tags["G"]["payload_iov_count"], tags["F"]["payload_iov_count"]) == (7, 6)
    assert {s["name"] for s in client.list_global_tag_statuses()} == {
        "unlocked",
        "locked",
        "frozen",
    }

    page = client.browse_global_tags(page=2, page_size=1)
    assert (page.count, page.total_pages, [g["name"] for g in page.results]) == (2, 2, ["G"])
    frozen_only = client.browse_global_tags(status="frozen")
    assert [g["name"] for g in frozen_only.results] == ["F"]
    assert client.browse_global_tags(search="f").count == 1

    light = client.get_global_tag("F", light=True)
    assert "payload_lists" not in light and light["status"] == "frozen"
    full = client.get_global_tag("F")
    with read_session(world.engine) as s:
        gt = store.get_global_tag(s, "F")
        for pl in full["payload_lists"]:
            rows = store.list_iovs(s, pl["name"], as_of=gt.snapshot_time)
            assert [i["major_iov"] for i in pl["payload_iov"]] == [r.since for r in rows]
            assert [i["checksum"] for i in pl["payload_iov"]] == [
                f"sha256:{r.payload_hash}" for r in rows
            ]
    assert client.get_global_tag_payload_lists("G") == {
        "dark_noise": "dn-v1",
        "light_yield": "ly-v1",
        "x": "x-v1",
    }
    assert [t["name"] for t in client.list_payload_types()] == ["dark_noise", "json", "light_yield"]
    assert client.browse_payload_types(page_size=2).total_pages == 2
    lists = client.browse_payload_lists(global_tag="G", payload_type="x")
    assert [(p["name"], p["iov_count"]) for p in lists.results] == [("x-v1", 2)]
    assert client.get_payload_list("ly-v1")["iov_count"] == 4
    iovs = client.browse_payload_iovs(payload_list="ly-v1", sort="major_iov", order="desc")
    assert [i["major_iov"] for i in iovs.results] == [400, 300, 200, 100]
    assert [i["major_iov_end"] for i in iovs.results] == [MAX_IOV, 400, 300, 200]
    digest = iovs.results[1]["checksum"].split(":")[1]
    assert [i["major_iov"] for i in client.browse_payload_iovs(search=digest[:20]).results] == [300]
    one = client.get_payload_iov(int(iovs.results[1]["id"]))
    assert (one["major_iov"], one["checksum"]) == (300, iovs.results[1]["checksum"])


def test_read_workflow_query_download_verify(world: World) -> None:
    client = world.reader()
    for gt in ("G", "F"):
        for run in RUNS:
            got = {q["payload_type_name"]: q for q in client.query_payloads(gt, run, 0)}
            want = expected(world.engine, gt, run)
            assert {r: {k: got[r][k] for k in want[r]} for r in got} == want, (gt, run)
            # the sub-run coordinate never changes the answer (our IOVs start at minor 0)
            assert client.query_payloads(gt, run, 12345) == list(got.values())
            files = client.get_payload_files(gt, run, 0)
            assert set(files) == set(want)
            for record, path in files.items():
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                assert f"sha256:{digest}" == got[record]["checksum"]
                assert got[record]["size"] == path.stat().st_size
    # the boundaries, spelled out: run 199 is the last of since 100, 200 the first of since 200
    at = {r: {q["payload_type_name"]: q for q in client.query_payloads("G", r, 0)} for r in RUNS}
    assert (at[199]["light_yield"]["major_iov"], at[199]["light_yield"]["major_iov_end"]) == (
        100,
        200,
    )
    assert at[200]["light_yield"]["major_iov"] == 200
    assert at[99] == {} and set(at[149]) == {"light_yield", "x"}  # dark noise starts at 150
    assert at[401]["light_yield"]["major_iov"] == 400  # open GT: the IOV added after the freeze
    frozen_401 = {q["payload_type_name"]: q for q in client.query_payloads("F", 401, 0)}
    assert frozen_401["light_yield"]["major_iov"] == 300
    assert frozen_401["light_yield"]["major_iov_end"] == MAX_IOV  # as of the snapshot


def test_our_cli_resolves_the_same_constants(world: World) -> None:
    client = world.reader()
    for gt in ("G", "F"):
        for run in (99, 150, 199, 200, 401):
            got = {q["payload_type_name"]: q for q in client.query_payloads(gt, run, 0)}
            for record in ("light_yield", "dark_noise", "x"):
                ours = cli_get(world.db_url, gt, run, record)
                if ours is None:
                    assert record not in got, (gt, run, record)
                    continue
                hsf = got[record]
                assert hsf["payload_url"] == f"{ours['payload_type']}/{ours['payload_hash']}"
                assert hsf["major_iov"] == ours["since"]
                end = MAX_IOV if ours["until"] is None else ours["until"] + 1
                assert hsf["major_iov_end"] == end
    # and once as a user types it, in a subprocess
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "--db", world.db_url, *CLI_GET_F_250],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    ours = json.loads(proc.stdout)["records"]
    hsf = {q["payload_type_name"]: q for q in client.query_payloads("F", 250, 0)}
    assert {r: q["checksum"] for r, q in hsf.items()} == {
        r: f"sha256:{v['payload_hash']}" for r, v in ours.items()
    }


def test_damaged_cache_is_detected_and_fetched_again(world: World) -> None:
    client = world.reader()
    path = client.get_payload_files("F", 250, 0)["light_yield"]
    good = path.read_bytes()
    path.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    again = client.get_payload_files("F", 250, 0)["light_yield"]
    assert again.read_bytes() == good


def test_caching_rules(world: World) -> None:
    with httpx.Client(base_url=world.svc.base_url + "/api/cdb_rest", timeout=30) as http:
        params = {"majorIOV": 250, "minorIOV": 0, "shape": "dict"}
        frozen = http.get("payload-iovs/query/", params={"gtName": "F", **params})
        open_ = http.get("payload-iovs/query/", params={"gtName": "G", **params})
        assert frozen.headers["cache-control"] == f"public, max-age={FROZEN_MAX_AGE}"
        assert open_.headers["cache-control"] == f"public, max-age={OPEN_MAX_AGE}"
        again = http.get(
            "payload-iovs/query/",
            params={"gtName": "G", **params},
            headers={"If-None-Match": open_.headers["etag"]},
        )
        assert again.status_code == 304
        url = frozen.json()[0]["payload_url"]
        digest = url.split("/")[1]
        payload = httpx.get(f"{world.svc.base_url}/dbstore/{url}")
        assert payload.headers["etag"] == f'"{digest}"'
        assert "immutable" in payload.headers["cache-control"]
        assert hashlib.sha256(payload.content).hexdigest() == digest
        head = httpx.head(f"{world.svc.base_url}/dbstore/{url}")
        assert head.status_code == 200 and head.headers["etag"] == f'"{digest}"'
        assert int(head.headers["content-length"]) == len(payload.content)
        wrong_type = httpx.get(f"{world.svc.base_url}/dbstore/json/{digest}")
        assert wrong_type.status_code == 404 and url in wrong_type.json()["detail"]
        missing = http.get("payload-iovs/query/", params={"gtName": "nope", **params})
        assert missing.status_code == 404 and missing.headers["cache-control"] == "no-store"


# --- errors ---------------------------------------------------------------------------------------
def test_errors_are_the_clients_own_type_with_our_message(world: World) -> None:
    client = world.reader()
    with pytest.raises(NoPayloadDBError, match="no global tag named 'nope'") as exc:
        client.get_global_tag("nope")
    assert exc.value.status_code == 404
    assert exc.value.details["name"] == [str(exc.value)]  # where the C++ client reads it
    with pytest.raises(NoPayloadDBError, match="no global tag named 'nope'"):
        client.query_payloads("nope", 1, 0)
    with pytest.raises(NoPayloadDBError, match="no token given") as exc:
        client.create_global_tag("X", "bob")
    assert exc.value.status_code == 401
    with pytest.raises(NoPayloadDBError, match="has role uploader, this needs admin") as exc:
        world.writer("uploader").create_global_tag("X", "bob")
    assert exc.value.status_code == 403


# --- write workflow ------------------------------------------------------------------------------
def _file(folder: Path, name: str, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


def test_write_workflow(world: World, tmp_path: Path) -> None:
    w = world.writer()
    assert w.create_payload_type("hsf_json")["name"] == "hsf_json"
    docs = [json.dumps({"v": k}, separators=(",", ":")).encode() for k in range(3)]
    sha = [hashlib.sha256(d).hexdigest() for d in docs]
    up0 = w.upload_payload(_file(tmp_path, "a", docs[0]), payload_url=f"hsf_json/{sha[0]}")
    up1 = w.upload_payload(_file(tmp_path, "calib-v1.json", docs[1]), payload_url="hsf_json/c.json")
    up2 = w.upload_payload(_file(tmp_path, "b", docs[2]), payload_url=f"hsf_json/{sha[2]}")
    typed = encode_payload(examples.light_yield().model_copy(update={"y0": 1360.0}))
    up_ly = w.upload_payload(
        _file(tmp_path, "ly", typed), payload_url=f"light_yield/{hashlib.sha256(typed).hexdigest()}"
    )
    assert up1.checksum == f"sha256:{sha[1]}"

    gt = w.create_global_tag("W", author="bob")
    assert (gt["status"], gt["author"]) == ("unlocked", "bob")
    pl = w.create_payload_list("hsf_json")["name"]
    assert pl.startswith("hsf_json_")
    assert w.attach_payload_list("W", pl)["global_tag"] == "W"
    pl_ly = w.create_payload_list("light_yield")["name"]
    w.attach_payload_list("W", pl_ly)
    # since 20 first, so that since 10 may say where it ends (at 20): the only explicit end
    # a since-only tag can represent
    w.create_and_attach_payload_iov(
        pl, payload_url=up1.payload_url, checksum=up1.checksum, major_iov=20, minor_iov=0
    )
    w.create_and_attach_payload_iov(
        pl,
        payload_url=up0.payload_url,
        checksum=up0.checksum,
        major_iov=10,
        minor_iov=0,
        major_iov_end=20,
        minor_iov_end=0,
    )
    w.create_and_attach_payload_iov(
        pl,
        payload_url=up2.payload_url,
        checksum=up2.checksum,
        major_iov=30,
        minor_iov=0,
        major_iov_end=MAX_IOV,
        minor_iov_end=MAX_IOV,
    )
    w.create_and_attach_payload_iov(
        pl_ly, payload_url=up_ly.payload_url, checksum=up_ly.checksum, major_iov=25, minor_iov=0
    )
    assert w.get_global_tag_payload_lists("W") == {"hsf_json": pl, "light_yield": pl_ly}

    reader = world.reader()
    want = {9: {}, 10: {"hsf_json": 0}, 19: {"hsf_json": 0}, 20: {"hsf_json": 1}}
    want |= {25: {"hsf_json": 1, "light_yield": -1}, 30: {"hsf_json": 2, "light_yield": -1}}
    for run, by_type in want.items():
        got = {q["payload_type_name"]: q for q in reader.query_payloads("W", run, 0)}
        assert set(got) == set(by_type), run
        if "hsf_json" in by_type:
            assert got["hsf_json"]["checksum"] == f"sha256:{sha[by_type['hsf_json']]}"
        for record, path in reader.get_payload_files("W", run, 0).items():
            assert (
                f"sha256:{hashlib.sha256(path.read_bytes()).hexdigest()}" == got[record]["checksum"]
            )
        for record, q in got.items():  # our CLI agrees
            ours = cli_get(world.db_url, "W", run, record)
            assert ours is not None
            assert q["payload_url"] == f"{ours['payload_type']}/{ours['payload_hash']}"

    clone = w.clone_global_tag("W", "W-2027")
    assert (clone["status"], clone["payload_lists_count"]) == ("unlocked", 2)
    # locked/frozen = publish: the same gates (validated, a passing report of the map)
    _refused(lambda: w.change_global_tag_status("W", "frozen"), 409, "only validated")
    with write_session(world.engine) as s:
        mark_validated(s, "W")
        mark_validated(s, "W-2027")
    assert w.change_global_tag_status("W-2027", "locked")["status"] == "frozen"
    assert w.change_global_tag_status("W", "frozen")["status"] == "frozen"
    assert w.change_global_tag_status("W", "frozen")["status"] == "frozen"  # a no-op
    with read_session(world.engine) as s:
        assert store.get_global_tag(s, "W").state is GlobalTagState.FROZEN  # = published
        assert store.get_global_tag(s, "W-2027").state is GlobalTagState.FROZEN  # = published

    actions = [(a["action"], a["status"], a["who"]) for a in world.svc.audit()]
    for action in ("upload", "create_payload_list", "attach_payload_iov", "change_status"):
        assert (action, 200, "admin") in actions or (action, 201, "admin") in actions, action


def _refused(call: Any, status: int, message: str) -> None:
    with pytest.raises(NoPayloadDBError, match=message) as exc:
        call()
    assert exc.value.status_code == status
    assert isinstance(exc.value.details, dict) and exc.value.details["name"] == [str(exc.value)]


def test_what_immutability_forbids_is_refused(world: World, tmp_path: Path) -> None:
    w = world.writer()
    before = world.reader().query_payloads("G", 250, 0)
    _refused(lambda: w.delete_global_tag("G"), 409, "cannot be deleted")
    _refused(lambda: w.delete_payload_list("ly-v1"), 409, "cannot be deleted")
    _refused(lambda: w.delete_payload_type("json"), 409, "cannot be deleted")
    _refused(lambda: w.delete_payload_iov("G", "light_yield", 200, 0), 409, "cannot be deleted")
    _refused(lambda: w.change_global_tag_status("F", "unlocked"), 409, "can never be unlocked")
    _refused(lambda: w.change_global_tag_status("G", "open"), 422, "unknown global-tag status")
    _refused(lambda: w.create_global_tag_status("validated"), 422, "statuses are fixed")
    data = b'{"y": 1}'  # not canonical JSON (a space)
    _refused(
        lambda: w.upload_payload(_file(tmp_path, "bad", data), payload_url="json/bad"),
        422,
        "not canonical JSON",
    )
    wrong = hashlib.sha256(b"other").hexdigest()
    _refused(
        lambda: w.upload_payload(_file(tmp_path, "c", b'{"y":1}'), payload_url=f"json/{wrong}"),
        422,
        "the key names",
    )
    up = w.upload_payload(_file(tmp_path, "d", b'{"y":2}'), payload_url="json/d")
    iov = {"payload_url": up.payload_url, "checksum": up.checksum}
    # an end inside the tag's next IOV (a gap or an overlap) cannot be represented
    _refused(
        lambda: w.create_and_attach_payload_iov(
            "x-v1", **iov, major_iov=120, minor_iov=0, major_iov_end=150, minor_iov_end=0
        ),
        422,
        "this IOV ends at the next since 200",
    )
    _refused(
        lambda: w.create_and_attach_payload_iov(
            "x-v1", **iov, major_iov=500, minor_iov=0, major_iov_end=600, minor_iov_end=0
        ),
        422,
        "this IOV is open-ended",
    )
    _refused(
        lambda: w.create_payload_iov(**iov, major_iov=5, minor_iov=3), 422, "minor_iov 3 is not 0"
    )
    _refused(
        lambda: w.create_payload_iov(
            **iov, major_iov=5, minor_iov=0, major_iov_end=7, minor_iov_end=50
        ),
        422,
        "cannot be represented",
    )
    _refused(
        lambda: w.create_and_attach_payload_iov("ly-v1", **iov, major_iov=5, minor_iov=0),
        422,
        "is of type 'json'",
    )
    # a frozen global tag takes no new payload list
    pl = w.create_payload_list("json")["name"]
    _refused(lambda: w.attach_payload_list("F", pl), 409, "is frozen")
    # nothing of it changed a lookup
    assert world.reader().query_payloads("G", 250, 0) == before
    with read_session(world.engine) as s:
        assert [r.since for r in store.list_iovs(s, "x-v1")] == [100, 200]


def test_an_iov_from_run_zero(world: World, tmp_path: Path) -> None:
    w = world.writer()
    up = w.upload_payload(_file(tmp_path, "z", b'{"z":0}'), payload_url="json/z.json")
    pl = w.create_payload_list("json")["name"]
    w.attach_payload_list("G", pl)
    created = w.create_payload_iov(
        payload_url=up.payload_url, checksum=up.checksum, major_iov=0, minor_iov=0
    )
    assert w.get_payload_iov(int(created["id"]))["major_iov"] == 0
    w.attach_payload_iov(pl, int(created["id"]))
    got = {q["payload_type_name"]: q for q in world.reader().query_payloads("G", 0, 0)}
    assert set(got) == {"json"} and got["json"]["checksum"] == up.checksum
