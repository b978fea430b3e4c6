"""Per-channel LPMT gain and the single-PE charge resolution from the low-intensity laser steps.

Photon statistics of a compound-Poisson charge (paper section 2.2, laser at the centre).  For a
channel of gain G (mean charge of one PE, in the campaign's PE unit) and SPE relative width s,
at a laser step of mean n_pe PE with a common pulse-to-pulse intensity jitter J:

    m   = <q>    = G n_pe
    Var = Var(q) = G^2 n_pe (1 + s^2) + m^2 J^2                                          (G1)

so X = (Var - m^2 J^2) / m = G (1 + s^2) per channel and step.  J^2 comes from the SPMT total of
each flash (photon counting: Var(S) = <S> + J^2 <S - dark>^2).  Only steps with m <= ``max_pe``
are used, where the channel non-linearity is negligible.  X is averaged over those steps
(weights from the expected variance of X: 2 / (F - 1) + 1 / (F m), Poisson kurtosis).

* s (``spe_resolution``): with the gains calibrated on average (median G = 1),
  s^2 = median_k(X_k) - 1; or configured.
* G_k = X_k / (1 + s^2): a gain step of one channel shows as a step of G_k.  The dual-calorimetry
  slope (LPMT PE per SPMT PE) tracks G x QE x illumination with much smaller errors; it is
  returned as ``relative_response`` (median 1) for trending.

A non-linear channel q = f(q0) has Var(q) / <q> = c X with c = f'(mu)^2 mu / f(mu) (delta
method, mu the true mean PE): ~1 - 3 d(mu) for a charge deficit d(mu) = 1 - f(mu)/mu, i.e. X is
biased low by a few % at 3 PE for a channel losing 50 % at 100 PE.  ``variance_factor`` (S, K) =
c of each step and channel (from the dual-calorimetry response,
:func:`spe_variance_factor`) removes it: X / c.

Inputs are the laser-scan arrays of docs/INPUTS.md: ``lpmt_mean`` (S, K), ``lpmt_sem`` (S, K),
``spmt_total`` (S, F) [PE]; F = flashes per step (any number >= 2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class GainResult:
    """Per-channel gain from photon statistics.

    gain, gain_uncertainty (K,): G_k and its 1 sigma (dimensionless; NaN where no step was
    usable); spe_resolution: s used; spe_measured: True when s came from the data; jitter:
    J estimated from the SPMT; n_steps (K,): steps used per channel.
    """

    gain: FloatArray
    gain_uncertainty: FloatArray
    spe_resolution: float
    spe_measured: bool
    jitter: float
    n_steps: NDArray[np.int64]


def laser_jitter(spmt_total: FloatArray, spmt_dark_pe: float) -> float:
    """Relative pulse-to-pulse intensity jitter J from per-flash SPMT totals (S, F) [PE]."""
    s = np.asarray(spmt_total, dtype=np.float64)
    mean = s.mean(axis=1)
    var = s.var(axis=1, ddof=1)
    signal = mean - spmt_dark_pe
    use = signal > 10.0 * np.sqrt(np.maximum(mean, 1.0))
    if not np.any(use):
        return 0.0
    j2 = (var[use] - mean[use]) / signal[use] ** 2
    w = signal[use] ** 2
    return float(np.sqrt(max(float(np.sum(w * j2) / np.sum(w)), 0.0)))


def fit_channel_gain(
    lpmt_mean: FloatArray,
    lpmt_sem: FloatArray,
    spmt_total: FloatArray,
    spmt_dark_pe: float,
    spe_resolution: float | None = None,
    min_pe: float = 0.05,
    max_pe: float = 3.0,
    variance_factor: FloatArray | None = None,
) -> GainResult:
    """G_k (Eq. G1) of every channel from the steps with ``min_pe <= m <= max_pe``.

    ``spe_resolution`` None: measured as sqrt(median X - 1) (module docstring);
    ``variance_factor`` (S, K): the non-linearity factor c of X (module docstring), None = 1.
    """
    m = np.asarray(lpmt_mean, dtype=np.float64)
    sem = np.asarray(lpmt_sem, dtype=np.float64)
    n_flash = int(np.asarray(spmt_total).shape[1])
    j = laser_jitter(spmt_total, spmt_dark_pe)
    var = sem**2 * n_flash
    use = np.isfinite(m) & np.isfinite(var) & (m >= min_pe) & (m <= max_pe)
    m_safe = np.where(use, m, 1.0)
    x = np.where(use, (var - m_safe**2 * j * j) / m_safe, 0.0)
    if variance_factor is not None:
        c = np.asarray(variance_factor, dtype=np.float64)
        ok_c = np.isfinite(c) & (c > 0)
        x = np.where(use & ok_c, x / np.where(ok_c, c, 1.0), x)
    # weights from the expected variance of X (Var ~ m): weights from the measured variance
    # would favour the steps whose variance fluctuated low and bias X low
    var_x = 2.0 / max(n_flash - 1, 1) + 1.0 / (n_flash * np.maximum(m_safe, 1e-3))
    w = np.where(use, 1.0 / var_x, 0.0)
    wsum = w.sum(axis=0)
    n_steps = use.sum(axis=0).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        x_k = np.where(wsum > 0, (w * x).sum(axis=0) / wsum, np.nan)
        x_err = np.where(wsum > 0, 1.0 / np.sqrt(wsum), np.nan)
    measured = spe_resolution is None
    if measured:
        med = float(np.nanmedian(x_k)) if np.any(np.isfinite(x_k)) else 1.0
        s = float(np.sqrt(max(med - 1.0, 0.0)))
    else:
        s = float(spe_resolution)  # type: ignore[arg-type]
    norm = 1.0 + s * s
    return GainResult(x_k / norm, x_err / norm, s, measured, j, n_steps)


def relative_response(slope: FloatArray, good: NDArray[np.bool_]) -> FloatArray:
    """Dual-calorimetry slope of each channel relative to the median good channel."""
    sl = np.asarray(slope, dtype=np.float64)
    med = float(np.median(sl[good])) if np.any(good) else 1.0
    return np.asarray(sl / med)


def spe_variance_factor(response: Callable[[FloatArray], FloatArray],
                        slope: Callable[[FloatArray], FloatArray],
                        mu_pe: FloatArray) -> FloatArray:
    """c = f'(mu)^2 mu / f(mu) of the module docstring at the true mean PE ``mu_pe`` (S, K).

    ``response`` / ``slope``: the channels' single-event response f [PE] and its derivative,
    each mapping an (S, K) array of true PE to (S, K).  1 where f(mu) <= 0.
    """
    mu = np.asarray(mu_pe, dtype=np.float64)
    f = response(mu)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.where(f > 0, slope(mu) ** 2 * mu / np.where(f > 0, f, 1.0), 1.0)
    return np.asarray(c)
