"""Leakage-tail peak fit on mock-detector 60Co events with enclosure energy loss (section 2.3.2,
figures 6-7). Slow: ~20 s of photon transport."""

from __future__ import annotations

import numpy as np
import pytest

from fitting.peaks import fit_gaussian, fit_peak_tail
from fitting.toymc.gammas import simulate_source_deposits
from fitting.toymc.truth import DetectorTruth

pytestmark = pytest.mark.slow
Y0 = 1345.0
N = 100_000


def _visible(src: str, loss_prob: float, rng: np.random.Generator) -> np.ndarray:
    """E_vis = PE / Y0 of N source events at the centre with Poisson PE statistics."""
    truth = DetectorTruth.default()
    dep = simulate_source_deposits(src, N, rng, enclosure_loss_prob=loss_prob)
    ev = dep.per_event_sum(truth.electron_visible_energy(dep.energy_mev))
    return rng.poisson(Y0 * ev) / Y0


@pytest.mark.parametrize("loss_prob", [0.1, 0.2])
def test_co60_leakage_fit_bias_below_0p06_percent(loss_prob: float) -> None:
    """Acceptance: |peak+tail centroid / ideal - 1| < 0.06 % + 3 sigma (sigma = combined fit
    errors, ~0.012 %), where the Gaussian fit is biased low by more than 3 sigma.

    "Ideal" is the Gaussian centroid of events without enclosure loss (figure 7 definition).
    The toymc loss is one Compton scatter in the enclosure, not exactly exponential. At 30 % per
    gamma (51 % of 60Co events leak) the fit runs to frac = 1 and reports itself invalid: one
    exponential cannot describe a Compton-continuum loss that dominates the spectrum."""
    rng = np.random.default_rng(31)
    ideal = fit_gaussian(_visible("Co60", 0.0, rng))
    x = _visible("Co60", loss_prob, rng)
    tail = fit_peak_tail(x)
    gaus = fit_gaussian(x)
    sig = float(np.hypot(tail.error("mu"), ideal.error("mu")))
    assert tail.valid, tail.message
    assert abs(tail["mu"] - ideal["mu"]) < 6e-4 * ideal["mu"] + 3 * sig
    assert ideal["mu"] - gaus["mu"] > 3 * float(np.hypot(gaus.error("mu"), ideal.error("mu")))
