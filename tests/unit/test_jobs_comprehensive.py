"""Closure of the campaign jobs on a mock comprehensive campaign (Table 5 at a fifth of its event
counts): every constant is fitted from the files alone and compared with the mock's truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conditions.campaign import CampaignConstants
from conditions.jobs import run_campaign_jobs
from fitting.nonlinearity import f_nonlin
from fitting.toymc.campaign import write_campaign
from fitting.toymc.truth import DetectorTruth

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> tuple[CampaignConstants, Path]:
    out = tmp_path_factory.mktemp("comprehensive")
    manifest = write_campaign("comprehensive", 100, out, seed=3, day=0.0, scale=0.2)
    return run_campaign_jobs(manifest), out


def test_every_record_is_produced(campaign: tuple[CampaignConstants, Path]) -> None:
    constants, _ = campaign
    assert set(constants.payloads) == {"dark_noise", "light_yield", "lpmt_nonlinearity",
                                       "lpmt_gain", "nonuniformity_map", "energy_resolution",
                                       "energy_nonlinearity"}
    for _model, provenance in constants.payloads.values():
        assert provenance["inputs"] and all(len(i["sha256"]) == 64 for i in provenance["inputs"])
        assert provenance["fit_quality"]["valid"]


def test_light_yield_and_dark_noise_close(campaign: tuple[CampaignConstants, Path]) -> None:
    constants, out = campaign
    truth = json.loads((out / "truth.json").read_text())
    ly = constants.payloads["light_yield"][0]
    # 4 sigma of the fit's statistical error, plus 0.05 % for the Gaussian-vs-mean definition of
    # the n-H peak (the mock defines Y0 by the mean PE of n-H captures at the centre)
    y0 = truth["y0_pe_per_mev_at_day"]
    assert abs(ly.y0 - y0) < 4 * ly.y0_uncertainty + 5e-4 * y0
    dn = constants.payloads["dark_noise"][0]
    assert abs(dn.offset_lpmt - 184.9) < 4 * dn.offset_lpmt_uncertainty + 0.2


def test_f_nonlin_against_the_birks_cherenkov_truth(
    campaign: tuple[CampaignConstants, Path],
) -> None:
    """The 4-parameter form cannot describe the Birks+Cherenkov truth exactly (paper section
    2.1.2); with peaks measured from the files at a fifth of Table 5's statistics the fit lands
    within 0.5 % over 0.5-8 MeV (the paper's 0.3 % assumes the full statistics and ideal peak
    centroids: tests/unit/test_nonlinearity_slow.py reaches 0.25 % there)."""
    constants, _ = campaign
    nl = constants.payloads["energy_nonlinearity"][0]
    e = np.linspace(0.5, 8.0, 76)
    p = [nl.p0, nl.p1, nl.p2, nl.p3]
    ratio = f_nonlin(e, p) / DetectorTruth.default().nonlin_true(e)
    assert np.max(np.abs(ratio - 1.0)) < 0.005
    band = (np.asarray(nl.band_upper) - np.asarray(nl.band_lower)) / 2
    rel = band / f_nonlin(np.asarray(nl.band_energy), p)
    assert 0.003 < float(np.interp(2.0, nl.band_energy, rel)) < 0.012  # paper: ~0.7 %


def test_gmap_and_lpmt_curves(campaign: tuple[CampaignConstants, Path]) -> None:
    constants, _ = campaign
    gmap = constants.payloads["nonuniformity_map"][0]
    truth = DetectorTruth.default()
    r = np.asarray(gmap.points_r)
    th = np.asarray(gmap.points_theta)
    inner = r < 15.0  # the steep edge at the acrylic (17.7 m) is smoothed by the spline
    x, z = r * np.sin(th), r * np.cos(th)
    fitted = gmap.g_xyz(x[inner], np.zeros(inner.sum()), z[inner])
    expected = truth.g(r[inner] * 1000.0, th[inner])
    assert np.sqrt(np.mean((fitted / expected - 1.0) ** 2)) < 0.003
    lp = constants.payloads["lpmt_nonlinearity"][0]
    assert np.count_nonzero(np.asarray(lp.status) == 0) > 0.99 * 17_612
    res = constants.payloads["energy_resolution"][0]
    # positron stochastic term (Eq 3.1): the mock's positrons at the centre give
    # a = 2.45 +- 0.08 % (Eq 3.1 fitted to them, fitting/studies/closure.py); the value converted
    # from the gamma widths at this reduced statistics must be near it (wide bound: +-0.5 %)
    assert 0.0195 < res.a < 0.0295
