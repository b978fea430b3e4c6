"""`conddb campaign run` on a mock weekly campaign, both backends: fits, atomic upload, lookups."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from fitting.toymc.campaign import write_campaign
from tests.support.cli import assert_one_line_error, run


@pytest.fixture(scope="module")
def weekly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weekly campaign (scale 0.2: ~4k n-H captures at the centre), written once."""
    out = tmp_path_factory.mktemp("weekly")
    return write_campaign("weekly", 1000, out, seed=11, day=30.0, scale=0.2, n_flashes=100)


def test_campaign_run_uploads_once_and_constants_close_on_truth(db_url: str, weekly: Path) -> None:
    run(db_url, "db", "upgrade")
    dry = json.loads(run(db_url, "campaign", "run", str(weekly), "--dry-run", "--json",
                         "--quiet").stdout)
    assert {r["record"] for r in dry["records"]} == {"dark_noise", "light_yield",
                                                     "lpmt_nonlinearity", "lpmt_gain"}
    assert json.loads(run(db_url, "tag", "list", "--json").stdout) == []  # dry run wrote nothing
    first = json.loads(run(db_url, "campaign", "run", str(weekly), "--json", "--quiet").stdout)
    assert first["created"] and first["iovs_added"] == 4
    again = json.loads(run(db_url, "campaign", "run", str(weekly), "--json", "--quiet").stdout)
    assert not again["created"] and again["iovs_added"] == 0
    hashes = [r["payload_hash"] for r in first["records"]]
    assert [r["payload_hash"] for r in again["records"]] == hashes

    run(db_url, "gt", "create", "G")
    for r in first["records"]:
        run(db_url, "gt", "set", "G", r["record"], r["tag"])
    got = json.loads(run(db_url, "get", "--gt", "G", "--run", "1003", "--json",
                         "--content").stdout)["records"]
    truth = json.loads((weekly.parent / "truth.json").read_text())
    ly = got["light_yield"]["content"]
    # closure: Y0 within 4 sigma of its statistical error (plus the 0.01 % Y0 normalisation of the
    # mock's n-H definition, see fitting.toymc.truth)
    y0_true = truth["y0_pe_per_mev_at_day"]
    assert abs(ly["y0"] - y0_true) < 4 * ly["y0_uncertainty"] + 1e-4 * y0_true, (ly, y0_true)
    dn = got["dark_noise"]["content"]
    # dark noise: 30 kHz x 17,612 x 350 ns = 184.9 PE; Poisson error of the mean over triggers
    assert abs(dn["offset_lpmt"] - 184.9) < 4 * math.sqrt(184.9 / dn["n_random_triggers"]) + 0.5
    assert got["lpmt_nonlinearity"]["since"] == 1000
    shown = json.loads(run(db_url, "campaign", "show", first["campaign"], "--json").stdout)
    assert len(shown["records"]) == 4 and all(i["sha256"] for i in shown["info"]["runs"])


def test_broken_campaign_file_is_one_line_and_writes_nothing(db_url: str, weekly: Path,
                                                             tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(weekly.parent, copy)
    victim = next((copy / "runs").iterdir())
    victim.write_bytes(victim.read_bytes()[:-10] + b"corrupted!")
    run(db_url, "db", "upgrade")
    proc = run(db_url, "campaign", "run", str(copy / "manifest.json"), "--quiet", ok=False)
    assert_one_line_error(proc, "does not match its SHA-256")
    assert json.loads(run(db_url, "campaign", "list", "--json").stdout) == []
