"""Checks of the 12B generator (fitting.toymc.beta12b): Fermi function, endpoint and mean."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate

from fitting.toymc.beta12b import (
    B12_Q_MEV,
    b12_spectrum,
    fermi_function,
    sample_b12_kinetic,
    uniform_in_sphere,
)


def test_fermi_function_limits() -> None:
    t = np.array([0.01, 0.5, 5.0, 13.0])
    np.testing.assert_allclose(fermi_function(t, z_daughter=0), 1.0, rtol=1e-12)
    f = fermi_function(t)
    assert np.all(f > 1.0)  # Coulomb attraction of the electron by the daughter nucleus
    assert np.all(np.diff(f) < 0.0)
    # non-relativistic limit 2 pi eta / (1 - exp(-2 pi eta)) at low energy within 10 %
    w = 0.01 + 0.51099895
    p = np.sqrt(w**2 - 0.51099895**2)
    eta = 6 / 137.036 * w / p
    assert f[0] == pytest.approx(2 * np.pi * eta / (1 - np.exp(-2 * np.pi * eta)), rel=0.10)


def test_b12_endpoint_and_mean_of_the_samples() -> None:
    n = 200_000
    t = sample_b12_kinetic(n, np.random.default_rng(12))
    assert t.min() >= 0.0 and t.max() <= B12_Q_MEV
    norm = integrate.quad(b12_spectrum, 0.0, B12_Q_MEV, limit=200)[0]
    mean = integrate.quad(lambda x: x * b12_spectrum(x), 0.0, B12_Q_MEV, limit=200)[0] / norm
    var = integrate.quad(lambda x: (x - mean) ** 2 * b12_spectrum(x), 0.0, B12_Q_MEV,
                         limit=200)[0] / norm
    # sample mean within 5 standard errors of the analytic mean
    assert abs(t.mean() - mean) < 5.0 * np.sqrt(var / n)
    # the spectrum vanishes like (Q - T)^2 at the endpoint: the fraction in the last MeV is
    # the analytic integral (binomial error, 5 sigma); and events do reach it
    p_tail = integrate.quad(b12_spectrum, B12_Q_MEV - 1.0, B12_Q_MEV)[0] / norm
    n_tail = np.count_nonzero(t > B12_Q_MEV - 1.0)
    assert abs(n_tail - n * p_tail) < 5.0 * np.sqrt(n * p_tail * (1 - p_tail))
    assert t.max() > B12_Q_MEV - 0.5


def test_uniform_in_sphere_fills_the_volume_uniformly() -> None:
    n = 100_000
    x = uniform_in_sphere(n, 17_700.0, np.random.default_rng(1))
    r = np.linalg.norm(x, axis=1)
    assert r.max() <= 17_700.0
    # r < 15 m acceptance (15/17.7)^3 = 0.61 (paper section 2.1.3), binomial 5 sigma
    p = (15.0 / 17.7) ** 3
    assert abs(np.mean(r < 15_000.0) - p) < 5.0 * np.sqrt(p * (1 - p) / n)
    assert abs(np.mean(x[:, 2])) < 5.0 * 17_700.0 / np.sqrt(5 * n)
