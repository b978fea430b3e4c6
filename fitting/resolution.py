"""Energy resolution: (a, b, c) of Eq 3.1 and the effective resolution a-tilde of Eq 3.2.

Eq 3.1:  sigma_E / E = sqrt( (a / sqrt(E))^2 + b^2 + (c / E)^2 ),   E = E_vis^prompt [MeV]
Eq 3.2:  a-tilde = sqrt( a^2 + (1.6 b)^2 + (c / 1.6)^2 )

Units: ``E`` in MeV; ``a`` in sqrt(MeV) and ``c`` in MeV, both quoted as fractions (a = 0.0262
means 2.62 % at 1 MeV); ``b`` dimensionless. ``a_tilde`` has the unit of ``a``.
Section 3: (a, b, c) "extracted" from sigma/E of positrons at several energies, each from a
Gaussian fit (figure 9) -- :func:`resolution_points` does that step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import least_squares

from fitting.peaks import fit_gaussian
from fitting.result import FitResult

FloatArray = NDArray[np.float64]

RESOLUTION_NAMES = ("a", "b", "c")
#: factors of Eq 3.2
A_TILDE_B_FACTOR = 1.6
A_TILDE_C_FACTOR = 1.0 / 1.6


def sigma_over_e(e_vis_mev: ArrayLike, a: float, b: float, c: float) -> FloatArray:
    """Fractional resolution sigma_E / E of Eq 3.1 at visible energy ``e_vis_mev`` [MeV]."""
    e = np.asarray(e_vis_mev, dtype=np.float64)
    return np.asarray(np.sqrt(a * a / e + b * b + (c / e) ** 2), dtype=np.float64)


def a_tilde(a: float, b: float, c: float) -> float:
    """Effective resolution a-tilde of Eq 3.2 (same unit as ``a``)."""
    return float(np.sqrt(a * a + (A_TILDE_B_FACTOR * b) ** 2 + (A_TILDE_C_FACTOR * c) ** 2))


def a_tilde_error(a: float, b: float, c: float, covariance: ArrayLike) -> float:
    """1 sigma error of a-tilde from the (a, b, c) covariance, correlations included (Table 3)."""
    at = a_tilde(a, b, c)
    grad = np.array([a, A_TILDE_B_FACTOR**2 * b, A_TILDE_C_FACTOR**2 * c]) / at
    cov = np.asarray(covariance, dtype=np.float64)
    return float(np.sqrt(max(float(grad @ cov @ grad), 0.0)))


@dataclass(frozen=True)
class ResolutionResult:
    """(a, b, c) fit of Eq 3.1 and a-tilde of Eq 3.2.

    Attributes
    ----------
    fit : FitResult with names ("a", "b", "c") (fractions, see module docstring).
    a_tilde : Eq 3.2 at the best fit.
    a_tilde_err : its error with correlations.
    """

    fit: FitResult
    a_tilde: float
    a_tilde_err: float


def fit_resolution(
    e_vis_mev: ArrayLike, rel_sigma: ArrayLike, rel_sigma_err: ArrayLike
) -> ResolutionResult:
    """Fit (a, b, c) of Eq 3.1 to measured sigma/E points (chi2 in sigma/E).

    Parameters
    ----------
    e_vis_mev : array, shape (n,), visible prompt energies [MeV], n >= 3.
    rel_sigma : array, shape (n,), measured sigma_E / E (fraction).
    rel_sigma_err : array, shape (n,), their 1 sigma errors (fraction, > 0).

    Returns
    -------
    ResolutionResult. a, b, c are constrained >= 0 (only their squares enter Eq 3.1); a
    parameter at 0 is reported in the message, the fit stays valid.
    """
    e = np.asarray(e_vis_mev, dtype=np.float64)
    y = np.asarray(rel_sigma, dtype=np.float64)
    s = np.asarray(rel_sigma_err, dtype=np.float64)
    if not (e.shape == y.shape == s.shape) or e.ndim != 1 or e.size < 3:
        raise ValueError("need three or more (E, sigma/E, error) points of equal shape")
    if np.any(e <= 0) or np.any(s <= 0):
        raise ValueError("energies and errors must be positive")
    # start: weighted linear least squares of (sigma/E)^2 = a^2 / E + b^2 + c^2 / E^2
    design = np.stack([1.0 / e, np.ones_like(e), 1.0 / e**2], axis=1)
    w = 1.0 / (2.0 * y * s)
    sq, *_ = np.linalg.lstsq(design * w[:, None], y * y * w, rcond=None)
    start = np.sqrt(np.clip(sq, 1e-8, None))

    def resid(p: FloatArray) -> FloatArray:
        return (sigma_over_e(e, p[0], p[1], p[2]) - y) / s

    def jac(p: FloatArray) -> FloatArray:
        model = sigma_over_e(e, p[0], p[1], p[2])
        d = np.stack([p[0] / e, np.full_like(e, p[1]), p[2] / e**2], axis=1)
        return d / (model * s)[:, None]

    sol = least_squares(resid, start, jac=jac, bounds=(0.0, np.inf), method="trf",
                        xtol=1e-14, ftol=1e-14, gtol=1e-14)
    j = sol.jac
    try:
        cov = np.linalg.inv(j.T @ j)
    except np.linalg.LinAlgError:
        cov = np.full((3, 3), np.nan)
    msg = str(sol.message)
    at_zero = [n for n, v in zip(RESOLUTION_NAMES, sol.x, strict=True) if v <= 1e-12]
    if at_zero:
        msg += "; at lower bound 0: " + ", ".join(at_zero)
    fit = FitResult.from_covariance(RESOLUTION_NAMES, sol.x, cov, float(np.sum(sol.fun**2)),
                                    e.size - 3, bool(sol.success), msg)
    a, b, c = (float(v) for v in sol.x)
    return ResolutionResult(fit=fit, a_tilde=a_tilde(a, b, c),
                            a_tilde_err=a_tilde_error(a, b, c, fit.covariance))


def resolution_points(
    samples_mev: Sequence[ArrayLike],
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """sigma/E of each mono-energetic sample by Gaussian fit (section 3, figure 9).

    Parameters
    ----------
    samples_mev : sequence of arrays, each the E_vis^prompt [MeV] of one energy point.

    Returns
    -------
    (mean [MeV], sigma/mean, error of sigma/mean), each of shape (n_points,); the error uses
    the (mu, sigma) covariance of the Gaussian fit.
    """
    means, rel, err = [], [], []
    for x in samples_mev:
        g = fit_gaussian(x)
        mu, sg = g["mu"], g["sigma"]
        cov = g.covariance[1:, 1:]
        grad = np.array([-sg / mu**2, 1.0 / mu])
        means.append(mu)
        rel.append(sg / mu)
        err.append(float(np.sqrt(grad @ cov @ grad)))
    return np.array(means), np.array(rel), np.array(err)
