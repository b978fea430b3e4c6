"""A campaign with broken LPMT channels uploads, flags them and `campaign show` reports them.

A weekly campaign of a detector with 1 % dead LPMTs (section 3.8) plus two channels corrupted
in the laser file (one without any usable step, one reading a constant huge charge), the
manifest's SHA-256 updated as the detector's tools would write it.  Both backends.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from fitting.io import sha256_file
from fitting.toymc.campaign import write_campaign
from fitting.toymc.pmts import lpmt_channels
from fitting.toymc.truth import DetectorTruth
from tests.support.cli import run

TRUTH = dataclasses.replace(DetectorTruth.default(), dead_fraction=0.01)
#: channels corrupted in the laser file (alive in the truth: checked below)
NO_DATA, STUCK = 7, 11


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("broken")
    manifest = write_campaign("weekly", 3000, out, seed=3, day=0.0, truth=TRUTH, scale=0.05,
                              n_flashes=50)
    meta = json.loads(manifest.read_text())
    entry = next(r for r in meta["runs"] if r["data_kind"] == "laser")
    path = out / entry["file"]
    with np.load(path) as z:
        arrays = {k: z[k].copy() for k in z.files}
    arrays["lpmt_mean"][:, NO_DATA] = np.nan
    arrays["lpmt_mean"][:, STUCK] = 1.0e4
    np.savez(path, **arrays)
    entry["sha256"] = sha256_file(path)
    manifest.write_text(json.dumps(meta, indent=1))
    return manifest


def test_broken_channels_are_flagged_and_shown(db_url: str, broken: Path) -> None:
    dead = set(np.flatnonzero(lpmt_channels(TRUTH).dead).tolist())
    assert not dead & {NO_DATA, STUCK}
    up = json.loads(run(db_url, "campaign", "run", str(broken), "--json", "--quiet").stdout)
    assert up["created"]
    shown = json.loads(run(db_url, "campaign", "show", up["campaign"], "--json").stdout)
    rep = shown["info"]["report"]["broken_lpmt_channels"]
    listed = {int(k): v for k, v in rep["channels"].items()}
    # every dead channel and both corrupted ones are flagged, each with a reason
    assert rep["count"] >= len(dead) + 2 and len(listed) == min(rep["count"], 200), rep
    # the stored list is the first 200 flagged channels by id: every dead one among them
    assert {c for c in dead if c <= max(listed)} <= set(listed)
    assert rep["by_reason"]["dead: no charge at highest laser intensity"] >= len(dead)
    assert all(listed[c] for c in listed)
    assert any("dead" in r for c in dead & set(listed) for r in listed[c])
    assert NO_DATA in listed and STUCK in listed
    assert sum(rep["by_reason"].values()) >= rep["count"]

    text = run(db_url, "campaign", "show", up["campaign"]).stdout
    assert f"broken LPMT channels: {rep['count']} flagged" in text
    for reason, n in rep["by_reason"].items():
        assert f"{n:6d}  {reason}" in text
    first = min(listed)
    assert f"channel {first}: {'; '.join(listed[first])}" in text
    assert f"channel {NO_DATA}: " in text  # among the first 20 listed (ids sorted)
