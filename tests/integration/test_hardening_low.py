"""Low items of issue 13 (both backends): broken campaign files, manifest paths outside the
campaign folder, NaN in a manifest, ``payload put`` of an endless file, HTTP campaign names and
payload-hash checks anchored at both ends."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conditions import store
from conditions.db import write_session
from conditions.errors import InvalidInput
from conditions.payloads import examples
from conditions.service.lookup import check_hash
from conditions.services import documents
from fitting.io import sha256_file
from fitting.toymc.campaign import write_campaign
from tests.conftest import row_counts
from tests.support.cli import assert_one_line_error, run


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small weekly campaign's manifest (written once)."""
    out = tmp_path_factory.mktemp("small")
    return write_campaign("weekly", 1000, out, seed=5, day=30.0, scale=0.05, n_flashes=20)


def _copy(manifest: Path, dst: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    shutil.copytree(manifest.parent, dst)
    doc = json.loads((dst / "manifest.json").read_text())
    edit(doc)
    (dst / "manifest.json").write_text(json.dumps(doc))
    return dst / "manifest.json"


def _truncate_runs(doc: dict[str, Any], base: Path) -> None:
    for entry in doc["runs"]:
        path = base / entry["file"]
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        entry["sha256"] = sha256_file(path)  # a consistent manifest: the hash check passes


def test_truncated_parquet_is_a_broken_campaign(db_url: str, small: Path, tmp_path: Path) -> None:
    copy = tmp_path / "c"
    manifest = _copy(small, copy, lambda d: _truncate_runs(d, copy))
    assert manifest.parent == copy and small.parent != copy
    run(db_url, "db", "upgrade")
    proc = run(db_url, "campaign", "run", str(manifest), "--quiet", ok=False)
    assert_one_line_error(proc, "broken campaign")
    assert "unreadable Parquet" in proc.stderr and "internal error" not in proc.stderr
    assert json.loads(run(db_url, "campaign", "list", "--json").stdout) == []


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("../../etc/hostname", "outside the campaign folder"),
        ("/etc/hostname", "must be a path relative to the manifest"),
        ("runs/../../x", "outside the campaign folder"),
    ],
)
def test_manifest_file_outside_the_campaign_is_refused(
    db_url: str, small: Path, tmp_path: Path, where: str, message: str
) -> None:
    def edit(doc: dict[str, Any]) -> None:
        doc["runs"][0]["file"] = where

    manifest = _copy(small, tmp_path / "c", edit)
    proc = run(db_url, "campaign", "run", str(manifest), "--quiet", "--dry-run", ok=False)
    assert_one_line_error(proc, message)


def test_nan_in_a_manifest_is_refused(db_url: str, small: Path, tmp_path: Path) -> None:
    manifest = _copy(small, tmp_path / "c", lambda d: None)
    text = manifest.read_text().replace('"day": 30.0', '"day": NaN')
    assert "NaN" in text
    manifest.write_text(text)
    proc = run(db_url, "campaign", "run", str(manifest), "--quiet", "--dry-run", ok=False)
    assert_one_line_error(proc, "NaN is not a number of a manifest")


def test_payload_put_of_an_endless_file_is_a_size_error(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(documents, "MAX_DOCUMENT_BYTES", 4 * 1024 * 1024)
    proc = run(db_url, "payload", "put", "json", "/dev/zero", ok=False)
    assert_one_line_error(proc, "/dev/zero is larger than 4194304 bytes")


def test_payload_hash_with_a_trailing_newline_is_refused() -> None:
    good = "a" * 64
    assert check_hash(good) == good
    for bad in (good + "\n", good.upper(), good[:-1]):
        with pytest.raises(InvalidInput):
            check_hash(bad)


def test_http_campaign_name_is_validated(db_url: str, engine: Any, tmp_path: Path) -> None:
    import httpx

    from conditions.service.testing import running_service

    with write_session(engine) as s:
        store.register_payload_type(s, "light_yield")
    with running_service(db_url, tmp_path) as svc, httpx.Client(base_url=svc.base_url) as http:
        before = row_counts(engine)

        def body(name: str) -> dict[str, Any]:
            return {
                "campaign": name,
                "create_tags": [{"name": "t", "type": "light_yield"}],
                "items": [{"tag": "t", "since": 1, "type": "light_yield", "document": ly}],
            }

        ly = {"schema_version": 1, **examples.light_yield().model_dump(exclude={"schema_version"})}
        for name in ("../../x; DROP", "c\n", "a" * 101, "x\x00", ""):
            r = http.post("/v1/campaigns", json=body(name), headers=svc.auth("uploader"))
            assert r.status_code == 422, (name, r.status_code, r.text)
            assert "campaign" in r.json()["message"], r.text
        assert row_counts(engine) == before
        r = http.post("/v1/campaigns", json=body("weekly-1"), headers=svc.auth("uploader"))
        assert r.status_code == 200, r.text  # the same body with a valid name is accepted
