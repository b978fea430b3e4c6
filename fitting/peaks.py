"""Peak fits: Gaussian, and full-absorption peak + exponential leakage tail (x) Gaussian.

Paper section 2.1.3 (gamma centroids "determined by Gaussian fit to a level of 0.01 %") and
section 2.3.2 / ref. [30] (energy-loss effect: "a single-value peak and an exponential tail,
convolved with a resolution function").

Model of the leakage peak, in the variable ``x`` (PE or visible energy, any unit):

* fully absorbed events: ``x = mu + G``, ``G ~ N(0, sigma^2)``;
* leaked events (fraction ``frac``): ``x = mu - L + G`` with the energy lost ``L ~ Exp(tau)``
  (mean ``tau``, same unit as ``x``).

With ``t = x - mu``, ``lam = 1 / tau`` and ``z = (t + lam sigma^2) / (sqrt(2) sigma)``::

    S(t)        = 1/2 exp(lam t + lam^2 sigma^2 / 2) erfc(z)
                = 1/2 exp(-t^2 / (2 sigma^2)) erfcx(z)                (z >= 0, stable form)
    tail pdf    = lam * S(t)
    tail cdf    = Phi(t / sigma) + S(t)

The second form of ``S`` never overflows for ``z >= 0``; for ``z < 0`` the exponent of the first
form is below ``-lam^2 sigma^2 / 2 < 0``, so it never overflows either.  Both pdf components
are normalised to unity over the real line; fits are binned extended Poisson likelihood fits
(bin contents are exact CDF differences, no bin-centre approximation).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import least_squares
from scipy.special import erfcx, ndtr

from fitting.cost import poisson_deviance
from fitting.result import FitResult

FloatArray = NDArray[np.float64]

_SQRT2 = float(np.sqrt(2.0))
_SQRT2PI = float(np.sqrt(2.0 * np.pi))

GAUSS_NAMES = ("norm", "mu", "sigma")
PEAK_TAIL_NAMES = ("norm", "mu", "sigma", "frac", "tau")


# --------------------------------------------------------------------------------------------
# densities and cumulative distributions
# --------------------------------------------------------------------------------------------
def gauss_pdf(x: ArrayLike, mu: float, sigma: float) -> FloatArray:
    """Normalised Gaussian density [1/unit of x]."""
    u = (np.asarray(x, dtype=np.float64) - mu) / sigma
    return np.exp(-0.5 * u * u) / (_SQRT2PI * sigma)


def gauss_cdf(x: ArrayLike, mu: float, sigma: float) -> FloatArray:
    """Gaussian cumulative distribution Phi((x - mu) / sigma)."""
    return np.asarray(ndtr((np.asarray(x, dtype=np.float64) - mu) / sigma), dtype=np.float64)


def _tail_s(x: ArrayLike, mu: float, sigma: float, tau: float) -> FloatArray:
    """S(t) of the module docstring, evaluated in its numerically stable form."""
    t = np.asarray(x, dtype=np.float64) - mu
    lam = 1.0 / tau
    z = (t + lam * sigma * sigma) / (_SQRT2 * sigma)
    out = np.empty_like(t)
    pos = z >= 0.0
    tp = t[pos]
    out[pos] = 0.5 * np.exp(-0.5 * (tp / sigma) ** 2) * erfcx(z[pos])
    tn = t[~pos]
    # erfc(z) for z < 0 is 2 - erfc(-z) = 2*ndtr(-sqrt2 z); exponent < 0 here, see module doc.
    out[~pos] = 0.5 * np.exp(lam * tn + 0.5 * (lam * sigma) ** 2) * 2.0 * ndtr(-_SQRT2 * z[~pos])
    return out


def tail_pdf(x: ArrayLike, mu: float, sigma: float, tau: float) -> FloatArray:
    """Exponential leakage tail (mean loss ``tau``) below ``mu`` convolved with N(0, sigma^2).

    Normalised to unity; unit 1/[x]. Section 2.3.2, ref. [30].
    """
    return _tail_s(x, mu, sigma, tau) / tau


def tail_cdf(x: ArrayLike, mu: float, sigma: float, tau: float) -> FloatArray:
    """Cumulative distribution of :func:`tail_pdf`."""
    return gauss_cdf(x, mu, sigma) + _tail_s(x, mu, sigma, tau)


def peak_tail_pdf(
    x: ArrayLike, mu: float, sigma: float, frac: float, tau: float
) -> FloatArray:
    """Full-absorption peak + leakage tail density: ``(1-frac) N(mu, sigma) + frac tail``."""
    return (1.0 - frac) * gauss_pdf(x, mu, sigma) + frac * tail_pdf(x, mu, sigma, tau)


def peak_tail_cdf(
    x: ArrayLike, mu: float, sigma: float, frac: float, tau: float
) -> FloatArray:
    """Cumulative distribution of :func:`peak_tail_pdf`."""
    return (1.0 - frac) * gauss_cdf(x, mu, sigma) + frac * tail_cdf(x, mu, sigma, tau)


# --------------------------------------------------------------------------------------------
# binned extended Poisson fits
# --------------------------------------------------------------------------------------------
def _expected_gauss(theta: FloatArray, edges: FloatArray) -> FloatArray:
    norm, mu, sigma = theta
    return float(norm) * np.diff(gauss_cdf(edges, mu, sigma))


def _expected_peak_tail(theta: FloatArray, edges: FloatArray) -> FloatArray:
    norm, mu, sigma, frac, tau = theta
    return float(norm) * np.diff(peak_tail_cdf(edges, mu, sigma, frac, tau))


def _poisson_covariance(
    model: Callable[[FloatArray, FloatArray], FloatArray],
    theta: FloatArray,
    edges: FloatArray,
) -> FloatArray:
    """Inverse Fisher information sum_i (d nu_i/d theta)^2 / nu_i (central differences)."""
    k = theta.size
    jac = np.empty((edges.size - 1, k))
    for j in range(k):
        h = 1e-5 * max(abs(float(theta[j])), 1e-3)
        tp = theta.copy()
        tm = theta.copy()
        tp[j] += h
        tm[j] -= h
        jac[:, j] = (model(tp, edges) - model(tm, edges)) / (2.0 * h)
    nu = np.maximum(model(theta, edges), 1e-300)
    fisher = jac.T @ (jac / nu[:, None])
    try:
        return np.asarray(np.linalg.inv(fisher), dtype=np.float64)
    except np.linalg.LinAlgError:
        return np.full((k, k), np.nan)


def _fit_binned(
    model: Callable[[FloatArray, FloatArray], FloatArray],
    names: tuple[str, ...],
    counts: FloatArray,
    edges: FloatArray,
    theta0: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
) -> FitResult:
    scale = np.maximum(np.abs(theta0), 1e-12)

    def resid(theta: FloatArray) -> FloatArray:
        return poisson_deviance(model(theta, edges), counts)

    sol = least_squares(resid, theta0, bounds=(lower, upper), x_scale=scale, method="trf",
                        xtol=1e-12, ftol=1e-12, gtol=1e-12, max_nfev=2000)
    cov = _poisson_covariance(model, sol.x, edges)
    chi2 = float(np.sum(sol.fun**2))
    ndf = int(np.count_nonzero(np.isfinite(counts))) - len(names)
    at_bound = bool(np.any(np.isclose(sol.x, lower) | np.isclose(sol.x, upper)))
    valid = bool(sol.success) and not at_bound
    msg = str(sol.message) + ("; parameter at bound" if at_bound else "")
    return FitResult.from_covariance(names, sol.x, cov, chi2, ndf, valid, msg,
                                     extra={"nfev": int(sol.nfev)})


def _check_hist(counts: ArrayLike, edges: ArrayLike) -> tuple[FloatArray, FloatArray]:
    c = np.asarray(counts, dtype=np.float64)
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 1 or c.shape != (e.size - 1,):
        raise ValueError(f"counts shape {c.shape} does not match edges shape {e.shape}")
    if np.any(np.diff(e) <= 0):
        raise ValueError("edges must be strictly increasing")
    if np.any(c < 0) or not np.all(np.isfinite(c)):
        raise ValueError("counts must be finite and non-negative")
    if c.sum() <= 0:
        raise ValueError("histogram is empty")
    return c, e


def _moments(counts: FloatArray, edges: FloatArray) -> tuple[float, float, float]:
    centres = 0.5 * (edges[1:] + edges[:-1])
    n = float(counts.sum())
    mean = float(np.sum(counts * centres) / n)
    var = float(np.sum(counts * (centres - mean) ** 2) / n)
    return n, mean, max(np.sqrt(var), float(np.min(np.diff(edges))))


def fit_gaussian_hist(counts: ArrayLike, edges: ArrayLike) -> FitResult:
    """Binned extended-likelihood fit of ``norm * N(mu, sigma)`` to a histogram.

    Parameters
    ----------
    counts : array, shape (n,)
        Entries per bin (fit all bins given; select the window before calling).
    edges : array, shape (n + 1,)
        Bin edges, same unit as ``mu`` and ``sigma``.

    Returns
    -------
    FitResult with names ``("norm", "mu", "sigma")``; ``norm`` is the number of events of the
    whole Gaussian (also outside the window); chi2 is the Baker-Cousins likelihood chi2.
    """
    c, e = _check_hist(counts, edges)
    n, mean, sd = _moments(c, e)
    theta0 = np.array([n, mean, sd])  # events counted in the window as first norm
    lower = np.array([0.0, e[0] - 10 * sd, 1e-6 * sd])
    upper = np.array([np.inf, e[-1] + 10 * sd, 100.0 * sd])
    return _fit_binned(_expected_gauss, GAUSS_NAMES, c, e, theta0, lower, upper)


def fit_peak_tail_hist(
    counts: ArrayLike,
    edges: ArrayLike,
    mu0: float | None = None,
    sigma0: float | None = None,
    min_delta_chi2: float = 9.0,
) -> FitResult:
    """Binned fit of full-absorption peak + exponential leakage tail (x) Gaussian (ref. [30]).

    Parameters
    ----------
    counts, edges : histogram, as in :func:`fit_gaussian_hist`; should cover the peak and
        enough of the tail below it for ``tau`` to be determined.
    mu0, sigma0 : optional starting values of the peak position and width.
    min_delta_chi2 : likelihood-chi2 improvement over a Gaussian required to keep the tail.

    Returns
    -------
    FitResult with names ``("norm", "mu", "sigma", "frac", "tau")``: ``mu`` is the
    full-absorption peak (the quantity free of the energy-loss bias of section 2.3.2),
    ``frac`` the leaked fraction, ``tau`` the mean energy lost by leaked events. When the tail
    is not significant (chi2 better than the Gaussian's by < ``min_delta_chi2``; then frac ~ 0
    or tau << sigma and the parameters are degenerate), the Gaussian fit of the same histogram
    is returned with frac = tau = 0 fixed, the message says so, and the tail fit is kept in
    ``extra["tail_fit"]``. With a very long tail (tau >> window) norm, frac and tau are
    correlated but mu stays well determined.
    """
    c, e = _check_hist(counts, edges)
    n, _mean, sd = _moments(c, e)
    if mu0 is None or sigma0 is None:
        centres = 0.5 * (e[1:] + e[:-1])
        top = float(centres[int(np.argmax(c))])
        # the upper side of the peak is free of the leakage tail: half width from it
        above = centres > top
        upper_sd = (float(np.sqrt(np.sum(c[above] * (centres[above] - top) ** 2)
                                  / max(np.sum(c[above]), 1.0))) if above.any() else sd)
        mu0 = top if mu0 is None else mu0
        sigma0 = max(upper_sd, float(np.min(np.diff(e)))) if sigma0 is None else sigma0
    theta0 = np.array([n, mu0, sigma0, 0.1, 2.0 * sigma0])
    lower = np.array([0.0, e[0], 1e-6 * sigma0, 0.0, 1e-3 * sigma0])
    upper = np.array([np.inf, e[-1], 100.0 * sigma0, 1.0, 100.0 * (e[-1] - e[0])])
    res = _fit_binned(_expected_peak_tail, PEAK_TAIL_NAMES, c, e, theta0, lower, upper)
    g = fit_gaussian_hist(c, e)
    if g.chi2 - res.chi2 >= min_delta_chi2:
        return res
    # No significant tail (the two extra parameters improve the likelihood by less than
    # min_delta_chi2): then frac -> 0 or tau << sigma, where the tail is a shifted Gaussian and
    # (mu, sigma, frac, tau) are degenerate. Report the Gaussian peak with frac = tau = 0 fixed.
    cov = np.zeros((5, 5))
    cov[:3, :3] = g.covariance
    return FitResult.from_covariance(
        PEAK_TAIL_NAMES, np.append(g.values, [0.0, 0.0]), cov, g.chi2, g.ndf, g.valid,
        "no significant leakage tail: Gaussian peak reported (frac = tau = 0 fixed); "
        + g.message,
        extra={"nfev": g.extra.get("nfev", 0), "tail_fit": res},
    )


def _bin_events(x: FloatArray, lo: float, hi: float, width: float) -> tuple[FloatArray,
                                                                            FloatArray]:
    nb = max(int(np.ceil((hi - lo) / width)), 5)
    counts, edges = np.histogram(x, bins=nb, range=(lo, hi))
    return counts.astype(np.float64), edges.astype(np.float64)


def fit_gaussian(
    x: ArrayLike,
    window: tuple[float, float] = (-2.5, 2.5),
    bins_per_sigma: float = 5.0,
    iterations: int = 3,
) -> FitResult:
    """Gaussian fit to the peak of an event sample, in an iterated window around the peak.

    The window ``[mu + window[0] sigma, mu + window[1] sigma]`` is re-centred on each fit's
    result (``iterations`` times), starting from the median and the half 68 % interval.
    This is the "Gaussian fit" of section 2.1.3; it is biased by a leakage tail (section 2.3.2),
    see :func:`fit_peak_tail`.

    Parameters
    ----------
    x : array, shape (n_events,)
        Event values (PE or MeV).
    window : (low, high) in units of sigma, relative to mu.
    bins_per_sigma : histogram bins per sigma.
    iterations : number of window updates (>= 1).

    Returns
    -------
    FitResult (``norm``, ``mu``, ``sigma``) of the last iteration; ``extra["window"]``.
    """
    xs = np.asarray(x, dtype=np.float64)
    if xs.size < 10:
        raise ValueError("need at least 10 events for a Gaussian fit")
    q16, mu, q84 = np.percentile(xs, [15.865, 50.0, 84.135])
    sigma = max(0.5 * float(q84 - q16), 1e-12 * max(abs(float(mu)), 1.0))
    res: FitResult | None = None
    for _ in range(max(iterations, 1)):
        lo, hi = mu + window[0] * sigma, mu + window[1] * sigma
        counts, edges = _bin_events(xs, lo, hi, sigma / bins_per_sigma)
        res = fit_gaussian_hist(counts, edges)
        mu, sigma = res["mu"], res["sigma"]
    assert res is not None
    res.extra["window"] = (float(lo), float(hi))
    return res


def fit_peak_tail(
    x: ArrayLike,
    window: tuple[float, float] = (-8.0, 4.0),
    bins_per_sigma: float = 4.0,
) -> FitResult:
    """Peak + exponential leakage tail (x) Gaussian fit to an event sample (section 2.3.2).

    The fit range is ``[mu + window[0] sigma, mu + window[1] sigma]`` around a first Gaussian
    estimate of the upper side of the peak.

    Parameters
    ----------
    x : array, shape (n_events,)
    window : fit range in sigma around the peak.
    bins_per_sigma : histogram bins per sigma.

    Returns
    -------
    FitResult (``norm``, ``mu``, ``sigma``, ``frac``, ``tau``); ``extra["window"]``.
    """
    xs = np.asarray(x, dtype=np.float64)
    if xs.size < 20:
        raise ValueError("need at least 20 events for a peak + tail fit")
    first = fit_gaussian(xs, window=(-1.0, 2.5), iterations=3)
    mu, sigma = first["mu"], first["sigma"]
    lo, hi = mu + window[0] * sigma, mu + window[1] * sigma
    counts, edges = _bin_events(xs, lo, hi, sigma / bins_per_sigma)
    res = fit_peak_tail_hist(counts, edges, mu0=mu, sigma0=sigma)
    res.extra["window"] = (float(lo), float(hi))
    return res
