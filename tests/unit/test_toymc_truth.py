"""Statistical and consistency checks of the detector truth (fitting.toymc.truth, gmap, vertex)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fitting.toymc.gammas import GAMMA_SOURCES, secondary_electrons
from fitting.toymc.gmap import g_truth, g_truth_xyz
from fitting.toymc.truth import DetectorTruth
from fitting.toymc.vertex import smear_vertex


def test_default_vis_norm_reproduces_the_nh_definition_of_y0() -> None:
    """Y0 is defined by n-H at the centre: mean E_vis(n-H) must be 2.2232 MeV."""
    truth = DetectorTruth.default()
    n = 40_000
    e, idx = secondary_electrons("nH", n, np.random.default_rng(2024))
    vis = np.bincount(idx, truth.electron_visible_energy(e), minlength=n)
    e_gamma = GAMMA_SOURCES["nH"].total_energy
    # statistical error of the mean of n events (the default was derived from 400k events,
    # adding its own error sqrt(1/10) smaller) -> 5 sigma combined
    sigma = vis.std(ddof=1) / np.sqrt(n) * np.sqrt(1.0 + 0.1)
    assert abs(vis.mean() - e_gamma) < 5.0 * sigma


def test_renormalised_matches_default() -> None:
    """renormalised() of the default parameters gives back the stored N_vis."""
    n = 30_000
    t = dataclasses.replace(DetectorTruth.default(), vis_norm=1.0).renormalised(n, seed=5)
    # relative spread of E_vis(n-H) per event is ~1.5 %: 5 sigma of the mean of n events
    assert t.vis_norm == pytest.approx(DetectorTruth.default().vis_norm, rel=5 * 0.02 / np.sqrt(n))


def test_nonlinearity_shape_is_birks_plus_cherenkov() -> None:
    """Quenching lowers f at low energy, Cherenkov raises it at high energy; f is smooth."""
    truth = DetectorTruth.default()
    t = np.geomspace(0.05, 12.0, 200)
    f = truth.nonlin_true(t)
    # monotonic rise up to 6 MeV; above, the relativistic rise of dE/dx flattens it (< 0.1 %)
    assert np.all(np.diff(f[t < 6.0]) > 0.0)
    assert np.ptp(f[t >= 6.0]) < 1e-3
    no_cher = dataclasses.replace(truth, cherenkov_coeff_mev_cm2_g=0.0)
    below = t < truth.cherenkov_threshold_mev()
    np.testing.assert_allclose(no_cher.nonlin_true(t[below]), f[below], rtol=1e-12)
    assert np.all(no_cher.nonlin_true(t[~below]) < f[~below])
    # the Cherenkov share stays below 10 % of the light (paper introduction)
    share = 1.0 - no_cher.electron_visible_energy(t) / truth.electron_visible_energy(t)
    assert share.max() < 0.10


def test_visible_energy_is_additive_in_the_linear_limit() -> None:
    """Without quenching and Cherenkov the response is exactly N_vis * T."""
    t = dataclasses.replace(DetectorTruth.default(), birks_kb_g_cm2_per_mev=0.0,
                            cherenkov_coeff_mev_cm2_g=0.0, vis_norm=1.0)
    energies = np.array([1e-5, 1e-3, 0.1, 1.0, 10.0])
    # linear interpolation in log(T) of a function linear in T on the 4000-point grid
    # (1e-4..40 MeV): relative error <= (d ln T)^2 / 8
    dlog = np.log(40.0 / 1e-4) / 3999
    np.testing.assert_allclose(t.electron_visible_energy(energies), energies, rtol=dlog**2 / 8)


def test_g_is_one_at_the_centre_and_has_the_figure8_features() -> None:
    theta = np.linspace(0.0, np.pi, 13)
    np.testing.assert_allclose(g_truth(0.0, theta), 1.0, rtol=0, atol=1e-15)
    r = np.linspace(0.0, 17_600.0, 177)
    g = g_truth(r[:, None], theta[None, :])
    # rising with r up to ~15 m, sharp drop near the acrylic (total reflection)
    assert np.all(np.diff(g[r <= 15_000.0], axis=0) > 0.0)
    assert np.all(g[r == 15_000.0] > 1.05)
    assert np.all(g[-1] < g[r == 15_000.0][0] - 0.1)
    # theta dependence within a radius
    assert np.ptp(g[r == 16_000.0]) > 0.01
    # Cartesian and spherical evaluations agree
    xyz = np.array([[1000.0, 2000.0, -3000.0], [0.0, 0.0, 17_000.0]])
    r_c = np.linalg.norm(xyz, axis=1)
    np.testing.assert_allclose(g_truth_xyz(xyz), g_truth(r_c, np.arccos(xyz[:, 2] / r_c)))


def test_vertex_resolution_is_a_mean_distance() -> None:
    """8 cm/sqrt(E) is the mean |reco - true|, not sigma per axis (paper section 3.6)."""
    rng = np.random.default_rng(11)
    n = 50_000
    e = np.full(n, 4.0)
    reco = smear_vertex(np.zeros((n, 3)), e, 80.0, rng)
    d = np.linalg.norm(reco, axis=1)
    expected = 80.0 / np.sqrt(4.0)
    # chi(3) distribution: sd/mean = sqrt(3 pi / 8 - 1) = 0.42; 5 sigma of the mean
    assert abs(d.mean() - expected) < 5.0 * 0.422 * expected / np.sqrt(n)


def test_drift_model() -> None:
    truth = DetectorTruth.default()
    dm = truth.drift
    assert dm.y0_factor(0.0) == 1.0
    just_before = dm.y0_factor(dm.y0_step_day - 1e-9)
    after = dm.y0_factor(dm.y0_step_day)
    assert after / just_before == pytest.approx(1.0 + dm.y0_step_frac, rel=1e-9)
    assert truth.at_day(365.25).y0_pe_per_mev == pytest.approx(
        truth.y0_pe_per_mev * (1.0 + dm.y0_rate_per_year) * (1.0 + dm.y0_step_frac))
    gains = dm.gain_factors(1000.0, truth.n_lpmt)
    stepped = [ch for ch, _, _ in dm.gain_steps]
    assert np.count_nonzero(gains != 1.0) == len(stepped)
    assert np.all(dm.gain_factors(0.0, truth.n_lpmt) == 1.0)


def test_response_parts_match_the_separate_lookups() -> None:
    truth = DetectorTruth.default()
    t = np.concatenate(([0.0, 5e-5], np.geomspace(1e-4, 39.0, 500)))
    vis, cher = truth.electron_response_parts(t)
    np.testing.assert_allclose(vis, truth.electron_visible_energy(t), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(cher, truth.electron_cherenkov_energy(t), rtol=1e-12, atol=1e-15)
    # zero below threshold (up to the last grid interval, 0.3 % wide)
    assert np.all(cher[t < 0.99 * truth.cherenkov_threshold_mev()] == 0.0)
    assert np.all(cher <= vis)
