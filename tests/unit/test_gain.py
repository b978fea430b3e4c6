"""Per-channel gain (photon statistics) and SPE resolution from the low-intensity laser steps;
an LPMT gain step of the mock is found by comparing two campaigns' relative responses."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fitting import dualcal
from fitting.gain import fit_channel_gain, relative_response
from fitting.toymc.laser import simulate_laser_scan
from fitting.toymc.truth import DetectorTruth, DriftModel

N_CH = 2000
FLASHES = 1000
STEPS = tuple(np.geomspace(0.05, 100.0, 12))
#: steps >= 5 %: the low-light slope is known to ~0.5 % per channel and scan at 1000 flashes
STEPPED = {101: 0.05, 777: -0.08, 1500: 0.06}


def truth() -> DetectorTruth:
    return dataclasses.replace(
        DetectorTruth.default(), n_lpmt=N_CH, spe_resolution=0.30, lpmt_nonlin_max=0.2,
        drift=DriftModel(gain_steps=tuple((ch, 50.0, f) for ch, f in STEPPED.items())))


def fit_day(day: float, seed: int) -> tuple[dualcal.ChannelNonlinearityResult, object]:
    t = truth()
    gain = t.drift.gain_factors(day, t.n_lpmt)
    ts = simulate_laser_scan(t, np.random.default_rng(seed), STEPS, FLASHES, gain=gain)
    g = fit_channel_gain(ts.lpmt_mean, ts.lpmt_sem, ts.spmt_total, t.spmt_dark_noise_pe)
    dark = np.full(N_CH, t.lpmt_dark_noise_pe / t.n_lpmt)
    scan = dualcal.LaserScan.from_flashes(np.arange(N_CH), ts.spmt_total, t.spmt_dark_noise_pe,
                                          ts.lpmt_mean.T, ts.lpmt_sem.T, dark)
    res = dualcal.fit_dual_calorimetry(scan, dualcal.DualCalConfig(
        spe_resolution=g.spe_resolution))
    return res, g


@pytest.fixture(scope="module")
def two_days() -> tuple[tuple[object, object], tuple[object, object]]:
    return fit_day(0.0, 1), fit_day(100.0, 2)


def test_spe_resolution_is_measured(two_days: tuple) -> None:
    (_, g0), _ = two_days
    # mock: Var = m + s^2 m (gain 1) -> X = 1 + s^2; median over 2000 channels of X with
    # ~2 % error each: s known to ~0.003; 0.02 allows for the non-linearity at 3 PE (< 1 %)
    assert g0.spe_measured and abs(g0.spe_resolution - 0.30) < 0.02
    assert abs(g0.jitter - 0.03) < 0.005  # the mock's 3 % laser jitter
    assert np.nanmedian(g0.gain) == pytest.approx(1.0, abs=1e-9)  # median gain 1 by definition


def test_gain_steps_are_found(two_days: tuple) -> None:
    (r0, _), (r1, _) = two_days
    good = (r0.status == 0) & (r1.status == 0)
    a = relative_response(r0.fit_coeffs[:, 0], good)
    b = relative_response(r1.fit_coeffs[:, 0], good)
    err = np.hypot(np.sqrt(r0.fit_cov[:, 0, 0]) / np.median(r0.fit_coeffs[good, 0]),
                   np.sqrt(r1.fit_cov[:, 0, 0]) / np.median(r1.fit_coeffs[good, 0]))
    pull = np.where(good, (b - a) / err, 0.0)
    # 5 sigma: ~1e-3 false alarms among 2000 Gaussian channels; the 5-8 % steps are > 7 sigma
    found = set(np.flatnonzero(np.abs(pull) > 5.0).tolist())
    assert found == set(STEPPED)
    for ch, frac in STEPPED.items():
        assert b[ch] / a[ch] - 1.0 == pytest.approx(frac, abs=0.01)


def test_photon_statistics_gain_sees_the_largest_step(two_days: tuple) -> None:
    (_, g0), (_, g1) = two_days
    ratio = g1.gain / g0.gain
    err = np.hypot(g0.gain_uncertainty, g1.gain_uncertainty)
    assert abs(ratio[777] - 0.92) < 4 * err[777] + 0.01
    assert abs(np.nanmedian(ratio) - 1.0) < 0.01


def test_configured_spe_resolution_is_used() -> None:
    rng = np.random.default_rng(0)
    m = np.full((3, 50), 1.0)
    sem = np.sqrt(np.full((3, 50), 1.09) / 400)
    g = fit_channel_gain(m, sem, rng.poisson(400.0, (3, 400)).astype(float), 0.0,
                         spe_resolution=0.3)
    assert not g.spe_measured and g.spe_resolution == 0.3
    np.testing.assert_allclose(g.gain, 1.0, atol=1e-6)
