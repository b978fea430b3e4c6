"""fitting/physics: the 12B shape, Eq 3.3, LPMT curve interpolation and the monotone inverse."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import loggamma

from fitting.physics import b12, detector, lpmt, sources, visible


def test_log_gamma_matches_scipy() -> None:
    z = np.array([0.98 + 0.05j, 0.98 + 3.0j, 2.9 + 0.0j, 0.5 + 0.01j, 12.0 + 1.0j])
    np.testing.assert_allclose(b12.log_gamma(z), loggamma(z), atol=1e-12)


def test_b12_spectrum_shape() -> None:
    t = np.linspace(0.0, 14.0, 1401)
    s = b12.b12_spectrum(t)
    assert s[0] == 0.0 and np.all(s[t >= b12.B12_Q_MEV] == 0.0) and np.all(s >= 0)
    mean = float(np.sum(t * s) / np.sum(s))
    assert 5.5 < mean < 7.0  # allowed shape: mean kinetic energy ~ 6.4 MeV for Q = 13.37 MeV


def test_eq33_round_trip() -> None:
    e = np.array([0.5, 2.0, 8.0])
    g = np.array([1.0, 1.1, 0.8])
    pe = visible.pe_from_visible_energy(e, 184.8, 1345.0, g)
    np.testing.assert_allclose(visible.visible_energy(pe, 184.8, 1345.0, g), e, rtol=1e-14)


def test_interpolate_curves_is_linear_between_nodes_and_beyond() -> None:
    grid = np.array([0.0, 10.0, 100.0])
    curves = np.array([[0.0, 10.0, 120.0], [0.0, 5.0, 50.0]])
    out = lpmt.interpolate_curves(grid, curves, np.array([0, 0, 1, 1]),
                                  np.array([5.0, 55.0, 5.0, 200.0]))
    np.testing.assert_allclose(out, [5.0, 65.0, 2.5, 100.0])


def test_invert_monotone_converges_on_flat_stretches() -> None:
    # f has a near-flat stretch (slope 1e-6) where Newton steps overshoot
    def f(x: np.ndarray) -> np.ndarray:
        return np.where(x < 1.0, x, np.where(x < 2.0, 1.0 + 1e-6 * (x - 1.0), x - 1.0 + 1e-6))

    targets = np.array([[0.5, 1.0000005, 1.5]])
    x = lpmt.invert_monotone(f, targets, np.array([3.0]))
    np.testing.assert_allclose(f(x), targets, rtol=1e-12)


@pytest.mark.parametrize("name", list(sources.GAMMA_SOURCES))
def test_source_table(name: str) -> None:
    s = sources.GAMMA_SOURCES[name]
    assert 0.5 < s.total_energy < 6.2 and s.name == name


def test_detector_constants() -> None:
    assert detector.N_LPMT == 17_612 and detector.R_LS_M == 17.7
    assert detector.R_LS_MM < detector.GT_RADIUS_MM < detector.LPMT_RADIUS_MM
