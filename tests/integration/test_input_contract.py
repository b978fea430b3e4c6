"""The input contract of docs/INPUTS.md, exercised as foreign data would: ROOT event files
(written with uproot) without any ``mc_*`` column, a 12-step log-spaced laser scan with broken
channels, a campaign upload of the result on both backends, the broken channels in the
campaign's stored report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from conditions.campaign import upload_campaign
from conditions.db import read_session, write_session
from conditions.model import Campaign
from conditions.services.jobs import run_campaign_jobs
from fitting import io
from fitting.toymc.campaign import write_campaign
from fitting.toymc.variants import truth_variant

uproot = pytest.importorskip("uproot")

#: channels damaged in the laser scan: NaN row, flat (zero charge), decreasing, one huge step
BROKEN = {"nan": 56, "zero": 57, "decreasing": 58, "spike": 59}


def to_foreign(src: Path, dst: Path) -> Path:
    """Rewrite a mock campaign as foreign data: ROOT TTrees without mc_* columns, a damaged
    laser scan, new hashes in the manifest."""
    doc = json.loads((src / "manifest.json").read_text())
    (dst / "runs").mkdir(parents=True)
    for run in doc["runs"]:
        path = src / run["file"]
        if run["data_kind"] == "laser":
            with np.load(path) as z:
                arrays = {k: z[k].copy() for k in z.files}
            mean = arrays["lpmt_mean"]
            mean[:, BROKEN["nan"]] = np.nan
            mean[:, BROKEN["zero"]] = 0.0
            mean[:, BROKEN["decreasing"]] = mean[::-1, BROKEN["decreasing"]]
            mean[-3, BROKEN["spike"]] *= 5.0
            new = dst / run["file"]
            np.savez(new, **arrays)
        else:
            cols = {k: v for k, v in io.read_events(path).items() if not k.startswith("mc_")}
            new = dst / "runs" / (Path(run["file"]).stem + ".root")
            with uproot.recreate(new) as f:
                f["events"] = cols
            run["format"] = "root"
        run["file"] = str(new.relative_to(dst))
        run["sha256"] = io.sha256_file(new)
    doc.pop("truth_file")  # foreign data has no truth
    (dst / "manifest.json").write_text(json.dumps(doc))
    return dst / "manifest.json"


@pytest.fixture(scope="module")
def campaigns(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("contract")
    manifest = write_campaign("weekly", 2000, base / "mock", seed=4, truth=truth_variant("bright"),
                              scale=0.2, n_flashes=60)
    return manifest, to_foreign(base / "mock", base / "foreign")


def test_root_files_without_mc_columns_give_the_same_constants(
    campaigns: tuple[Path, Path],
) -> None:
    mock, foreign = campaigns
    a = run_campaign_jobs(mock, only={"dark_noise", "light_yield"})
    b = run_campaign_jobs(foreign, only={"dark_noise", "light_yield"})
    for record in ("dark_noise", "light_yield"):
        assert a.payloads[record][0] == b.payloads[record][0]  # same numbers from ROOT
    files = [i["file"] for i in b.payloads["light_yield"][1]["inputs"]]
    assert files and all(f.endswith(".root") for f in files)


def test_broken_channels_are_flagged_and_reported(campaigns: tuple[Path, Path]) -> None:
    _, foreign = campaigns
    c = run_campaign_jobs(foreign)
    lp, prov = c.payloads["lpmt_nonlinearity"]
    status = np.asarray(lp.status)
    for ch in BROKEN.values():
        assert status[ch] != 0, ch
    broken = prov["fit_quality"]["broken_channels"]
    assert broken["count"] >= len(BROKEN)
    assert all(str(ch) in broken["channels"] for ch in BROKEN.values())
    report = c.info["report"]["broken_lpmt_channels"]
    assert report["count"] == broken["count"] and sum(report["by_reason"].values()) >= 4
    assert prov["fit_quality"]["n_steps"] == 12  # the variant's 12 log-spaced steps
    assert "lpmt_gain" in c.payloads


def test_upload_stores_the_report(engine: Engine, campaigns: tuple[Path, Path]) -> None:
    _, foreign = campaigns
    c = run_campaign_jobs(foreign, only={"dark_noise", "lpmt_nonlinearity", "lpmt_gain"})
    with write_session(engine) as s:
        upload_campaign(s, c)
    with read_session(engine) as s:
        row = s.scalars(select(Campaign).where(Campaign.name == c.name)).one()
        info = row.info if isinstance(row.info, dict) else json.loads(row.info)
    assert info["report"]["broken_lpmt_channels"]["count"] >= len(BROKEN)
