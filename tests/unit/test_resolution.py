"""Energy resolution: (a, b, c) of Eq 3.1 and a-tilde of Eq 3.2 (section 3, Table 3)."""

from __future__ import annotations

import numpy as np
import pytest

from fitting.resolution import (
    a_tilde,
    a_tilde_error,
    fit_resolution,
    resolution_points,
    sigma_over_e,
)

#: Table 3 rows: (a, b, c, a-tilde) in %
TABLE3 = [
    (2.62, 0.73, 1.38, 2.99), (2.57, 0.73, 1.25, 2.93), (2.57, 0.78, 1.26, 2.96),
    (2.57, 0.80, 1.24, 2.98), (2.57, 0.81, 1.23, 2.98), (2.60, 0.82, 1.27, 3.01),
    (2.61, 0.82, 1.23, 3.02), (2.62, 0.84, 1.23, 3.04), (2.63, 0.86, 1.20, 3.06),
    (2.62, 0.85, 1.25, 3.05), (2.68, 0.85, 1.28, 3.11), (2.62, 0.82, 1.27, 3.03),
    (2.72, 0.83, 1.23, 3.12),
]


@pytest.mark.parametrize(("a", "b", "c", "at"), TABLE3)
def test_a_tilde_reproduces_table3(a: float, b: float, c: float, at: float) -> None:
    """Acceptance: a-tilde from each row's (a, b, c) within 0.01 (the table's last digit is
    rounded, so |diff| <= 0.005 + rounding of a, b, c propagated ~0.004)."""
    assert a_tilde(a, b, c) == pytest.approx(at, abs=0.01)


def test_eq31_values() -> None:
    """Eq 3.1 at E = 1 MeV is sqrt(a^2 + b^2 + c^2); at large E it tends to b."""
    assert sigma_over_e(1.0, 0.03, 0.01, 0.01) == pytest.approx(np.sqrt(0.0011))
    assert sigma_over_e(1e8, 0.03, 0.01, 0.01) == pytest.approx(0.01, rel=1e-6)


def test_fit_closure_on_exact_points() -> None:
    """Exact points (no noise) -> the fit returns (a, b, c) to 1e-6 and chi2 ~ 0."""
    e = np.arange(1.0, 9.0)
    truth = (0.0262, 0.0073, 0.0138)
    y = sigma_over_e(e, *truth)
    res = fit_resolution(e, y, 0.002 * y)
    assert res.fit.valid
    assert np.allclose(res.fit.values, truth, rtol=1e-6)
    assert res.fit.chi2 == pytest.approx(0.0, abs=1e-10)
    assert res.a_tilde == pytest.approx(a_tilde(*truth), rel=1e-6)


def test_fit_pulls_and_a_tilde_error_over_toys() -> None:
    """100 toys with 0.5 % relative errors on sigma/E at 1..8 MeV: the pulls of a and of a-tilde
    have mean 0 within 0.35 (3.5/sqrt(100)) and width 1 within 25 % (std of 100 samples is
    known to 7 %; the fit is slightly non-linear)."""
    rng = np.random.default_rng(21)
    e = np.arange(1.0, 9.0)
    truth = (0.0262, 0.0073, 0.0138)
    y0 = sigma_over_e(e, *truth)
    err = 0.005 * y0
    pa, pt = [], []
    for _ in range(100):
        res = fit_resolution(e, y0 + err * rng.standard_normal(e.size), err)
        pa.append((res.fit["a"] - truth[0]) / res.fit.error("a"))
        pt.append((res.a_tilde - a_tilde(*truth)) / res.a_tilde_err)
    for pulls in (np.array(pa), np.array(pt)):
        assert abs(pulls.mean()) < 0.35
        assert np.std(pulls, ddof=1) == pytest.approx(1.0, abs=0.25)


def test_a_tilde_error_uses_correlations() -> None:
    """With zero correlation it is the quadrature sum of the three terms; a positive a-c
    correlation increases it."""
    a, b, c = 2.6, 0.8, 1.2
    cov = np.diag([0.02, 0.01, 0.04]) ** 2
    at = a_tilde(a, b, c)
    expect = np.sqrt((a * 0.02) ** 2 + (1.6**2 * b * 0.01) ** 2 + (c / 1.6**2 * 0.04) ** 2) / at
    assert a_tilde_error(a, b, c, cov) == pytest.approx(expect, rel=1e-12)
    cov_c = cov.copy()
    cov_c[0, 2] = cov_c[2, 0] = 0.9 * 0.02 * 0.04
    assert a_tilde_error(a, b, c, cov_c) > expect


def test_resolution_points_from_gaussian_samples() -> None:
    """sigma/mean from Gaussian fits of 20k-event samples: within 4 quoted errors."""
    rng = np.random.default_rng(22)
    energies = np.array([1.0, 3.0, 6.0])
    rel = sigma_over_e(energies, 0.0262, 0.0073, 0.0138)
    samples = [rng.normal(e, r * e, 20_000) for e, r in zip(energies, rel, strict=True)]
    mean, r, err = resolution_points(samples)
    assert np.all(np.abs(r - rel) < 4 * err)
    assert np.all(np.abs(mean - energies) < 4 * rel * energies / np.sqrt(20_000))


def test_invalid_inputs() -> None:
    with pytest.raises(ValueError, match="three or more"):
        fit_resolution(np.ones(2), np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match="positive"):
        fit_resolution(np.array([1.0, 2.0, -3.0]), np.ones(3), np.ones(3))
