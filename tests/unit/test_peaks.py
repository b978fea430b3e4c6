"""Peak fits: Gaussian and full-absorption peak + exponential leakage tail (x) Gaussian.

Paper section 2.1.3 (Gaussian centroids of 100k events) and section 2.3.2 / ref. [30].
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad

from fitting.peaks import (
    fit_gaussian,
    fit_gaussian_hist,
    fit_peak_tail,
    gauss_cdf,
    peak_tail_cdf,
    peak_tail_pdf,
    tail_cdf,
    tail_pdf,
)


@pytest.mark.parametrize("tau", [0.01, 0.3, 1.0, 5.0])
def test_tail_pdf_is_normalised(tau: float) -> None:
    """The tail density integrates to 1 (quad accuracy ~1e-8 on a smooth integrand)."""
    sigma = 0.3
    total, _ = quad(lambda x: float(tail_pdf(np.array([x]), 0.0, sigma, tau)[0]),
                    -60.0 * tau - 20 * sigma, 20 * sigma, limit=400, points=[0.0])
    assert total == pytest.approx(1.0, abs=1e-7)


def test_tail_cdf_is_integral_of_pdf() -> None:
    """d CDF / dx == pdf (central difference, truncation error ~h^2 f''' ~ 1e-10)."""
    x = np.linspace(-4.0, 2.0, 61)
    h = 1e-5
    for frac in (0.0, 0.3, 1.0):
        num = (peak_tail_cdf(x + h, 0.1, 0.25, frac, 0.7)
               - peak_tail_cdf(x - h, 0.1, 0.25, frac, 0.7)) / (2 * h)
        assert np.allclose(num, peak_tail_pdf(x, 0.1, 0.25, frac, 0.7), atol=1e-8)
    assert tail_cdf(np.array([-1e3]), 0, 1, 1)[0] == pytest.approx(0.0, abs=1e-300)
    assert tail_cdf(np.array([1e3]), 0, 1, 1)[0] == pytest.approx(1.0, abs=1e-15)


def test_tail_is_numerically_stable_in_extreme_regimes() -> None:
    """Very short tail (tau << sigma) and far points: finite, non-negative, no overflow.

    A tail much shorter than the resolution is indistinguishable from the Gaussian itself.
    """
    x = np.array([-1e6, -50.0, -5.0, 0.0, 5.0, 1e6])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        for mu, sigma, tau in [(0.0, 1.0, 1e-6), (0.0, 1e-4, 10.0), (3.0, 1.0, 1e4)]:
            v = tail_pdf(x, mu, sigma, tau)
            assert np.all(np.isfinite(v)) and np.all(v >= 0.0)
    xs = np.linspace(-6, 6, 121)
    assert np.allclose(tail_cdf(xs, 0.0, 1.0, 1e-7), gauss_cdf(xs, 0.0, 1.0), atol=1e-6)


def test_gaussian_hist_fit_closure_on_expected_counts() -> None:
    """Asimov histogram (exact expected counts): the fit returns the input to 1e-6."""
    edges = np.linspace(900.0, 1100.0, 81)
    counts = 1e5 * np.diff(gauss_cdf(edges, 1000.0, 20.0))
    res = fit_gaussian_hist(counts, edges)
    assert res.valid, res.message
    assert res["mu"] == pytest.approx(1000.0, rel=1e-6)
    assert res["sigma"] == pytest.approx(20.0, rel=1e-6)
    assert res["norm"] == pytest.approx(1e5, rel=1e-6)
    assert res.chi2 == pytest.approx(0.0, abs=1e-6)


def test_gaussian_fit_of_100k_events_reaches_paper_precision() -> None:
    """Section 2.1.3: centroid "to a level of 0.01 % statistically" for 100k events.

    sigma/E = 3 %/sqrt(1 MeV): the centroid error is ~ sigma/sqrt(N) x ~1.1 (window) = 0.01 %.
    The fitted centroid must lie within 4 of its own errors of the truth.
    """
    rng = np.random.default_rng(7)
    x = rng.normal(1.0, 0.03, 100_000)
    res = fit_gaussian(x)
    assert res.valid, res.message
    assert res.error("mu") / 1.0 < 1.2e-4
    assert abs(res["mu"] - 1.0) < 4 * res.error("mu")
    assert abs(res["sigma"] - 0.03) < 4 * res.error("sigma")


def test_gaussian_fit_errors_match_spread_over_toys() -> None:
    """The quoted centroid error equals the scatter over 40 toys (within 30 %: the std of 40
    samples has a relative error 1/sqrt(2*39) = 11 %, 30 % is ~2.7 sigma)."""
    rng = np.random.default_rng(11)
    mus, errs = [], []
    for _ in range(40):
        r = fit_gaussian(rng.normal(50.0, 2.0, 5000))
        mus.append(r["mu"])
        errs.append(r.error("mu"))
    assert np.std(mus, ddof=1) == pytest.approx(np.mean(errs), rel=0.3)


def _leaky_peak(rng: np.random.Generator, n: int, mu: float, sigma: float, frac: float,
                tau: float) -> np.ndarray:
    x = mu + sigma * rng.standard_normal(n)
    leak = rng.random(n) < frac
    x[leak] -= rng.exponential(tau, int(leak.sum()))
    return x


def test_peak_tail_fit_removes_energy_loss_bias() -> None:
    """Section 2.3.2 / figure 7: residual bias of the peak < 0.06 %, where a Gaussian is biased.

    60Co-like peak: 2.5 MeV at 1345 PE/MeV -> mu = 3371 PE, sigma = 2 %, 15 % leaked events with
    a mean loss of 3 sigma. 100k events: centroid error ~ 0.012 % (checked), so the 0.06 %
    requirement is 5 sigma; the plain Gaussian is shifted by ~0.2 % (> 10 of its errors).
    """
    rng = np.random.default_rng(2024)
    mu, sigma = 3371.0, 0.02 * 3371.0
    x = _leaky_peak(rng, 100_000, mu, sigma, 0.15, 3.0 * sigma)
    tail = fit_peak_tail(x)
    gaus = fit_gaussian(x)
    assert tail.valid, tail.message
    assert tail.error("mu") / mu < 1.5e-4
    assert abs(tail["mu"] / mu - 1.0) < 6e-4
    assert abs(tail["mu"] - mu) < 4 * tail.error("mu")
    assert abs(tail["frac"] - 0.15) < 4 * tail.error("frac")
    assert abs(tail["tau"] - 3 * sigma) < 4 * tail.error("tau")
    # the Gaussian is visibly biased low
    assert (mu - gaus["mu"]) > 10 * gaus.error("mu")
    assert (mu - gaus["mu"]) / mu > 1e-3
    # chi2 of the right model is compatible with ndf (5 sigma of sqrt(2 ndf))
    assert abs(tail.chi2 - tail.ndf) < 5 * np.sqrt(2 * tail.ndf)


def test_peak_tail_fit_without_tail_returns_gaussian() -> None:
    """No leakage: the tail is not significant, the Gaussian peak is reported (frac = tau = 0)
    with a sensible error (sigma/sqrt(N) = 0.11, x 1.5 for the window), not the degenerate
    errors of the tail parametrisation."""
    rng = np.random.default_rng(5)
    x = rng.normal(1000.0, 25.0, 50_000)
    tail = fit_peak_tail(x)
    assert abs(tail["mu"] - 1000.0) < 4 * tail.error("mu")
    assert tail.error("mu") < 1.5 * 25.0 / np.sqrt(50_000)
    assert tail["frac"] == 0.0 and "no significant leakage tail" in tail.message
    assert tail.valid


def test_bad_histograms_are_rejected() -> None:
    with pytest.raises(ValueError, match="shape"):
        fit_gaussian_hist(np.ones(3), np.arange(3.0))
    with pytest.raises(ValueError, match="increasing"):
        fit_gaussian_hist(np.ones(2), np.array([0.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match="empty"):
        fit_gaussian_hist(np.zeros(2), np.arange(3.0))
    with pytest.raises(ValueError, match="at least"):
        fit_gaussian(np.ones(3))
