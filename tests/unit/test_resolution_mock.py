"""(a, b, c) of Eq 3.1 from mock-detector positrons at the centre (section 3.1). Slow (~5 s)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fitting.resolution import fit_resolution, resolution_points
from fitting.toymc.positrons import positron_deposits
from fitting.toymc.truth import DetectorTruth

pytestmark = pytest.mark.slow


def test_central_positron_resolution_terms() -> None:
    """Positrons of 0.5-8 MeV (20k each), PE = Poisson(Y0 E_vis) + Poisson dark noise, E_vis of
    Eq 3.3 with g = 1. Photon statistics fix a = 1/sqrt(Y0) = 2.727 %: the fit must agree within
    3 of its errors (~0.04 %). The dark noise alone gives c = sqrt(184.8)/Y0 = 1.01 %; the
    annihilation-gamma fluctuations add to it (section 3.1: c = 1.38 % > 1.0 %), so c must not be
    below 1.01 % - 3 sigma. chi2/ndf of the (a, b, c) fit below 3."""
    truth = DetectorTruth.default()
    y0, dq = truth.y0_pe_per_mev, truth.lpmt_dark_noise_pe
    rng = np.random.default_rng(4)
    n = 20_000
    samples = []
    for t in (0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0):
        dep = positron_deposits(np.full(n, t), rng)
        ev = dep.per_event_sum(truth.electron_visible_energy(dep.energy_mev))
        pe = rng.poisson(y0 * ev) + rng.poisson(dq, n)
        samples.append((pe - dq) / y0)
    mean, rel, err = resolution_points(samples)
    res = fit_resolution(mean, rel, err)
    assert res.fit.valid, res.fit.message
    a, _, c = res.fit.values
    assert abs(a - 1.0 / math.sqrt(y0)) < 3 * res.fit.error("a")
    assert c > math.sqrt(dq) / y0 - 3 * res.fit.error("c")
    assert res.fit.chi2_ndf < 3.0
    assert res.a_tilde_err > 0
