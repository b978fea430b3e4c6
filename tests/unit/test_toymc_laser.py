"""Checks of the per-channel LPMT truth and the laser scan (fitting.toymc.pmts, laser)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from fitting.toymc.laser import LaserScan, simulate_laser_scan
from fitting.toymc.pmts import lpmt_channels
from fitting.toymc.truth import DetectorTruth

# a reduced detector keeps the test fast; the physics per channel is the same
SMALL = dataclasses.replace(DetectorTruth.default(), n_lpmt=2_000)


def test_channel_truth_statistics() -> None:
    t = dataclasses.replace(DetectorTruth.default(), dead_fraction=0.01, lpmt_nonlin_max=0.5)
    ch = lpmt_channels(t)
    assert ch.n == 17_612
    assert ch.qe_rel.mean() == pytest.approx(1.0, abs=1e-12)
    # QE spread 7 % (clipping at +-7 sigma is irrelevant): sd of the sample sd ~ 0.07/sqrt(2n)
    assert ch.qe_rel.std() == pytest.approx(0.07, abs=5 * 0.07 / np.sqrt(2 * ch.n))
    assert np.count_nonzero(ch.dead) == round(0.01 * 17_612)
    d = ch.nonlin_deficit_100pe
    assert d.min() >= 0.0 and d.max() <= 0.5 and d.max() > 0.49
    # response: deficit at 100 PE as stated, linear at low occupancy, monotonic
    np.testing.assert_allclose(ch.response(np.full(ch.n, 100.0)) / 100.0, 1.0 - d, rtol=1e-12)
    n = np.linspace(0.0, 150.0, 301)[:, None]
    assert np.all(np.diff(ch.response(n), axis=0) > 0.0)
    # same seed -> same channels
    assert lpmt_channels(t) is ch


def test_collection_factor_is_one_at_the_centre() -> None:
    ch = lpmt_channels(DetectorTruth.default())
    assert ch.collection_factor(np.zeros((1, 3)))[0] == pytest.approx(1.0, abs=1e-5)
    q = ch.collection_factor(np.array([[0.0, 0.0, 17_500.0], [17_500.0, 0.0, 0.0]]))
    assert np.all(np.abs(q - 1.0) < 0.02)


def test_linear_channels_give_a_constant_lpmt_to_spmt_ratio(tmp_path: Path) -> None:
    t = dataclasses.replace(SMALL, lpmt_nonlin_max=0.0)
    scan = simulate_laser_scan(t, np.random.default_rng(1), [1.0, 10.0, 100.0], n_flashes=200)
    dark_l = t.lpmt_dark_noise_pe / t.n_lpmt * t.n_lpmt
    ratio = (scan.lpmt_mean.sum(axis=1) - dark_l) / (scan.spmt_total.mean(axis=1)
                                                     - t.spmt_dark_noise_pe)
    expected = (1.0 - t.spmt_fraction) / t.spmt_fraction
    # the laser jitter (3 %) is common and cancels in the ratio of means only to the SPMT
    # counting statistics: relative sd of the SPMT mean ~ sqrt(0.03^2 + 1/N_spmt)/sqrt(200)
    for k, level in enumerate(scan.intensity_pe):
        n_spmt = level * t.n_lpmt * t.spmt_fraction / (1 - t.spmt_fraction)
        rel_sd = np.sqrt(0.03**2 + 1.0 / n_spmt) / np.sqrt(200)
        assert ratio[k] == pytest.approx(expected, rel=5 * rel_sd)
    scan.save(tmp_path / "scan.npz")
    back = LaserScan.load(tmp_path / "scan.npz")
    np.testing.assert_allclose(back.lpmt_mean, scan.lpmt_mean, rtol=1e-6)  # stored as float32
    np.testing.assert_array_equal(back.spmt_total, scan.spmt_total)


def test_nonlinear_channels_show_the_truth_deficit() -> None:
    """At 100 PE the per-channel mean charge follows E[Q_k(n)] of the truth curve."""
    t = dataclasses.replace(SMALL, lpmt_nonlin_max=0.5)
    ch = lpmt_channels(t)
    scan = simulate_laser_scan(t, np.random.default_rng(2), [100.0], n_flashes=100)
    mu = 100.0 * ch.efficiency
    # expectation of Q_k over Poisson(mu_k (1 + jitter)): second-order expansion is enough for
    # the channel average; check the mean relative deficit over channels to 1 %
    expected = ch.response(mu)
    measured = scan.lpmt_mean[0]
    rel = measured / expected
    assert np.mean(rel) == pytest.approx(1.0, abs=0.01)
    assert np.mean(measured / mu) < 0.85  # a clear non-linearity is visible


def test_moment_sampling_matches_the_flash_by_flash_simulation(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Above EXACT_MAX_FLASHES the per-channel mean and variance are drawn from their sampling
    distribution; at 2,000 flashes both paths must agree within the statistics.  The laser
    jitter differs between the two runs, so the means are compared as ratios to the SPMT
    signal (the common jitter cancels, the SPMT counting error enters the tolerance)."""
    from fitting.toymc import laser

    t = dataclasses.replace(SMALL, spe_resolution=0.3, lpmt_nonlin_max=0.5)
    levels, n_f = [0.05, 1.0, 20.0, 100.0], 2_000
    exact = laser.simulate_laser_scan(t, np.random.default_rng(1), levels, n_flashes=n_f)
    monkeypatch.setattr(laser, "EXACT_MAX_FLASHES", 1)
    moment = laser.simulate_laser_scan(t, np.random.default_rng(2), levels, n_flashes=n_f)
    alive = lpmt_channels(t).efficiency > 0
    for k in range(len(levels)):
        sa = exact.spmt_total[k].mean() - t.spmt_dark_noise_pe
        sb = moment.spmt_total[k].mean() - t.spmt_dark_noise_pe
        pull = ((exact.lpmt_mean[k] / sa - moment.lpmt_mean[k] / sb)
                / np.hypot(exact.lpmt_sem[k] / sa, moment.lpmt_sem[k] / sb))[alive]
        # the SPMT counting error of each run's mean (Poisson: total / F / signal^2) shifts
        # all channels' pulls together; with 1 / n_channels it sets the mean pull's sd
        rel_s = np.sqrt((sa + sb + 2 * t.spmt_dark_noise_pe) / n_f) / np.sqrt(sa * sb)
        rel_l = np.median(np.hypot(exact.lpmt_sem[k] / exact.lpmt_mean[k],
                                   moment.lpmt_sem[k] / moment.lpmt_mean[k])[alive])
        sd_mean = np.sqrt(1.0 / alive.sum() + (rel_s / rel_l) ** 2)
        assert abs(pull.mean()) < 5 * sd_mean, (levels[k], pull.mean(), sd_mean)
        assert 0.9 < pull.std() < 1.1, (levels[k], pull.std())
        # sample variance: each ratio scatters by sqrt(2 / F + kurtosis) ~ 0.05-0.1
        ratio = (exact.lpmt_sem[k] / moment.lpmt_sem[k])[alive] ** 2
        assert abs(np.median(ratio) - 1.0) < 0.02, (levels[k], np.median(ratio))
        assert np.std(ratio) < 0.2
