"""Slow statistical tests of the f_nonlin fit: pulls over 200 toys, the Table 2 band with
200 toys, and an end-to-end closure on mock-detector events (section 2.1.3, figures 1-2).

Run with ``pytest -m slow tests/unit/test_nonlinearity_slow.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from fitting.lightyield import fit_light_yield
from fitting.nonlinearity import (
    B12_EDGES_MEV,
    B12Histogram,
    GammaPeak,
    NonlinFitConfig,
    NonlinFitResult,
    SecondarySpectrum,
    f_nonlin_sigma,
    fit_nonlinearity,
    gamma_visible_energy,
    predict_b12_counts,
    reconstruct_positron_energy,
    systematics_band,
)
from fitting.peaks import fit_gaussian
from fitting.resolution import sigma_over_e
from fitting.toymc.beta12b import sample_b12_kinetic
from fitting.toymc.gammas import GAMMA_SOURCES, secondary_electrons
from fitting.toymc.positrons import positron_deposits
from fitting.toymc.truth import DetectorTruth
from tests.unit.test_nonlinearity import (
    ABC,
    N_B12_MONTH,
    P_TRUE_4PAR,
    beta_spectrum_b12,
    peak_sigma,
)

pytestmark = pytest.mark.slow


def test_pulls_of_p0_p3_over_200_toys() -> None:
    """Acceptance: pulls (p_fit - p_true) / error over 200 toys have mean 0 within 0.25
    (3.5 / sqrt(200)) and width 1 within 0.15 (the std of 200 samples is known to 5 %, 3 sigma).

    Toys: gamma centroids ~ N(P_i, sigma_i) with 100k-event errors, 12B counts ~ Poisson of one
    month of data, truth = the 4-parameter form (so pulls test the fit, not the model)."""
    rng = np.random.default_rng(20240601)
    n_ev = 4000
    sp = [SecondarySpectrum.from_electrons(n, GAMMA_SOURCES[n].total_energy, e, n_ev)
          for n, (e, _) in ((n, secondary_electrons(n, n_ev, rng)) for n in GAMMA_SOURCES)]
    beta = beta_spectrum_b12()
    m = gamma_visible_energy(sp, P_TRUE_4PAR)
    sig = np.array([peak_sigma(float(v)) for v in m])
    mu_b = predict_b12_counts(beta, P_TRUE_4PAR, N_B12_MONTH, resolution_abc=ABC)
    pulls = []
    for _ in range(200):
        mm = m + sig * rng.standard_normal(m.size)
        g = [GammaPeak(s.source, float(v), float(e), s) for s, v, e in zip(sp, mm, sig,
                                                                            strict=True)]
        b = B12Histogram(counts=rng.poisson(mu_b).astype(float), beta=beta)
        res = fit_nonlinearity(g, b, NonlinFitConfig(resolution_abc=ABC))
        assert res.fit.valid, res.fit.message
        pulls.append((res.p - P_TRUE_4PAR) / res.fit.errors)
    pa = np.array(pulls)
    assert np.all(np.abs(pa.mean(axis=0)) < 0.25), pa.mean(axis=0)
    assert np.all(np.abs(pa.std(axis=0, ddof=1) - 1.0) < 0.15), pa.std(axis=0, ddof=1)


# -------------------------------------------------------------------- end-to-end mock closure
Y0 = 1345.0
N_PEAK = 100_000  # events per gamma source (section 2.1.3)


@dataclass(frozen=True)
class MockCampaign:
    truth: DetectorTruth
    gammas: list[GammaPeak]
    b12: B12Histogram
    y0: float
    rng_seed: int


def _pe(e_vis: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Detected PE at the centre: Poisson(Y0 E_vis) (g = 1, dark noise already subtracted)."""
    return rng.poisson(Y0 * np.clip(e_vis, 0.0, None)).astype(np.float64)


@pytest.fixture(scope="module")
def campaign() -> MockCampaign:
    """Gamma sources at the centre (100k events each, Gaussian centroids of PE / Y0 with Y0 from
    n-H), P(E^e) from an independent 20k-event simulation, one month of 12B smeared by Eq 3.1."""
    truth = DetectorTruth.default()
    rng = np.random.default_rng(77)
    evis: dict[str, np.ndarray] = {}
    for name in GAMMA_SOURCES:
        e, idx = secondary_electrons(name, N_PEAK, rng)
        evis[name] = np.bincount(idx, weights=truth.electron_visible_energy(e), minlength=N_PEAK)
    pe = {name: _pe(v, rng) for name, v in evis.items()}
    y0 = fit_light_yield(pe["nH"])["Y0"]  # section 2.1.3 definition
    gammas = []
    for name in GAMMA_SOURCES:
        g = fit_gaussian(pe[name] / y0)
        e_sim, _ = secondary_electrons(name, 20_000, rng)
        spec = SecondarySpectrum.from_electrons(name, GAMMA_SOURCES[name].total_energy, e_sim,
                                                20_000)
        gammas.append(GammaPeak(name, g["mu"], g.error("mu"), spec))
    t = sample_b12_kinetic(int(N_B12_MONTH), rng)
    ev = truth.electron_visible_energy(t) * Y0 / y0
    ev = ev * (1.0 + sigma_over_e(ev, *ABC) * rng.standard_normal(ev.size))
    counts, _ = np.histogram(ev, bins=B12_EDGES_MEV)
    b12 = B12Histogram(counts=counts.astype(float), beta=beta_spectrum_b12())
    return MockCampaign(truth, gammas, b12, y0, 77)


@pytest.fixture(scope="module")
def campaign_fit(campaign: MockCampaign) -> NonlinFitResult:
    return fit_nonlinearity(campaign.gammas, campaign.b12, NonlinFitConfig(resolution_abc=ABC))


def test_mock_campaign_f_nonlin_within_0p3_percent(campaign: MockCampaign,
                                                   campaign_fit: NonlinFitResult) -> None:
    """Acceptance on full mock events: |f_fit / f_true - 1| < 0.3 % + 3 sigma_stat(E) over
    0.5-8 MeV. The truth is scaled by Y0_true / Y0_fit (E_vis is defined by the measured Y0);
    sigma_stat is the propagated fit error (0.02-0.1 %)."""
    res = campaign_fit
    assert res.fit.valid, res.fit.message
    e = np.linspace(0.5, 8.0, 76)
    f_true = campaign.truth.nonlin_true(e) * Y0 / campaign.y0
    dev = np.abs(res.f(e) / f_true - 1.0)
    sig = f_nonlin_sigma(e, res.p, res.fit.covariance) / res.f(e)
    assert np.all(dev < 3e-3 + 3 * sig), (dev.max(), sig.max())
    assert res.fit.chi2_ndf < 5.0


def test_mock_campaign_positron_bias_within_0p2_percent(campaign: MockCampaign,
                                                        campaign_fit: NonlinFitResult) -> None:
    """Acceptance (figure 2): mono-energetic positrons at the centre (20k events each), E_rec of
    Eq 2.4 per event with E_vis^anni = the measured 68Ge centroid; the Gaussian centroid of E_rec
    is unbiased within 0.2 % + 3 sigma_stat over 1-8 MeV (sigma_stat ~ 0.02 % per point)."""
    res = campaign_fit
    assert res.e_vis_anni_mev is not None
    rng = np.random.default_rng(99)
    n = 20_000
    for t in (1.0, 2.0, 3.0, 4.0, 6.0, 8.0):
        dep = positron_deposits(np.full(n, t), rng)
        ev = dep.per_event_sum(campaign.truth.electron_visible_energy(dep.energy_mev))
        e_prompt = _pe(ev, rng) / campaign.y0
        e_rec = reconstruct_positron_energy(e_prompt, res.e_vis_anni_mev, res.p)
        g = fit_gaussian(e_rec[np.isfinite(e_rec)])
        bias = g["mu"] / t - 1.0
        assert abs(bias) < 2e-3 + 3 * g.error("mu") / t, (t, bias)


def test_table2_band_with_200_toys(campaign: MockCampaign,
                                   campaign_fit: NonlinFitResult) -> None:
    """Section 2.3.7: band with 200 toys. Paper: ~0.7 % across energy, instrumental NL and
    position 0.3 % each. We require 0.3 % +- 0.03 % for those two (pure scale effects) and a
    combined band between 0.35 % and 1.4 % (0.7 % within a factor 2) over 1-8 MeV; the measured
    values are printed by benchmarks/bench_fits.py."""
    grid = np.linspace(1.0, 8.0, 15)
    band = systematics_band(campaign_fit, campaign.gammas, campaign.b12, n_toys=200,
                            grid_mev=grid, n_jobs=2)
    assert band.n_failed <= 4  # < 2 % of the toys may hit a bound
    for name in ("instrumental_nl", "position"):
        assert np.allclose(band.per_effect[name], 0.003, atol=3e-4), band.per_effect[name]
    assert np.all((band.sigma_rel > 0.0035) & (band.sigma_rel < 0.014)), band.sigma_rel
    assert math.isfinite(float(band.sigma_rel.mean()))
