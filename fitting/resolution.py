"""Energy resolution: (a, b, c) of Eq 3.1 and the effective resolution a-tilde of Eq 3.2.

Formulas in :mod:`fitting.physics.resolution`; this module holds the fits:
:func:`fit_resolution` (Eq 3.1 to sigma/E points of mono-energetic positrons, figure 9/10) and
:func:`fit_positron_resolution` (the positron resolution converted from gamma-source widths,
model below).

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
from fitting.physics.resolution import (
    A_TILDE_B_FACTOR,
    A_TILDE_C_FACTOR,
    a_tilde,
    a_tilde_error,
    sharing_variance,
    sigma_over_e,
)
from fitting.result import FitResult

FloatArray = NDArray[np.float64]

RESOLUTION_NAMES = ("a", "b", "c")


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


# ============================================================================================
# positron resolution from gamma-source widths
# ============================================================================================
@dataclass(frozen=True)
class GammaWidth:
    """Width of one gamma peak at the centre and its energy-sharing variance.

    source : name; e_vis_mev : peak centroid M_i [MeV]; sigma_mev, sigma_err_mev : Gaussian width
    of the peak and its error [MeV]; sharing_var_mev2, sharing_var_err_mev2 : energy-sharing
    variance of the source from the simulated secondary electrons and the fitted f_nonlin
    (:func:`fitting.physics.resolution.sharing_variance`) and its error [MeV^2].
    """

    source: str
    e_vis_mev: float
    sigma_mev: float
    sigma_err_mev: float
    sharing_var_mev2: float
    sharing_var_err_mev2: float = 0.0


@dataclass(frozen=True)
class PositronResolutionResult:
    """Positron (a, b, c) of Eq 3.1 converted from gamma widths (:func:`fit_positron_resolution`).

    fit : FitResult ("a", "b", "c") of the *positron* resolution; covariance = statistical
        (+) conversion systematic; chi2/ndf of the gamma-width fit (with the dark-noise
        constraint). a_tilde, a_tilde_err : Eq 3.2.
    electron_c : c of single electrons (the dark-noise term) fitted with its constraint.
    anni_sharing_var_mev2 : the annihilation sharing variance added to c^2 for positrons.
    systematic : (3,) conversion systematic of (a, b, c) (sharing variances scaled by
        1 +- ``sharing_rel_uncertainty``), included in the covariance.
    """

    fit: FitResult
    a_tilde: float
    a_tilde_err: float
    electron_c: float
    anni_sharing_var_mev2: float
    systematic: FloatArray


def _fit_widths(
    e: FloatArray, sig: FloatArray, sig_err: FloatArray, share: FloatArray, share_err: FloatArray,
    c_dark: float, c_dark_err: float,
) -> tuple[FloatArray, FloatArray, float, int, bool, str]:
    """(a, b, c_e) of sigma_i^2 = a^2 M + b^2 M^2 + c_e^2 + s_i, c_e ~ N(c_dark, c_dark_err)."""
    err = np.sqrt(sig_err**2 + (share_err / (2.0 * sig)) ** 2)

    def model(q: FloatArray) -> FloatArray:
        return np.sqrt(np.maximum(q[0] ** 2 * e + q[1] ** 2 * e**2 + q[2] ** 2 + share, 1e-30))

    def resid(q: FloatArray) -> FloatArray:
        return np.append((model(q) - sig) / err, (q[2] - c_dark) / c_dark_err)

    def jac(q: FloatArray) -> FloatArray:
        m = model(q)
        d = np.stack([q[0] * e, q[1] * e**2, np.full_like(e, q[2])], axis=1) / (m * err)[:, None]
        return np.vstack([d, [0.0, 0.0, 1.0 / c_dark_err]])

    start = np.array([float(np.sqrt(max(np.median((sig**2 - share - c_dark**2) / e), 1e-6))),
                      0.005, c_dark])
    sol = least_squares(resid, start, jac=jac, bounds=(0.0, np.inf), method="trf",
                        xtol=1e-14, ftol=1e-14, gtol=1e-14)
    try:
        cov = np.linalg.inv(sol.jac.T @ sol.jac)
    except np.linalg.LinAlgError:
        cov = np.full((3, 3), np.nan)
    return (sol.x, cov, float(np.sum(sol.fun**2)), e.size + 1 - 3, bool(sol.success),
            str(sol.message))


def fit_positron_resolution(
    widths: Sequence[GammaWidth],
    c_dark: float,
    c_dark_err: float,
    anni_source: str = "Ge68",
    sharing_rel_uncertainty: float = 0.2,
    light_gain: float = 1.0,
    b_extra: float = 0.0,
) -> PositronResolutionResult:
    """Positron resolution (Eq 3.1) from gamma-peak widths at the centre (section 3.1).

    Conversion model. A fully absorbed gamma of visible energy M_i has
    ``sigma_i^2 = a^2 M_i + b^2 M_i^2 + c_e^2 + s_i``: photon statistics (a), the constant term
    (b: Cherenkov track-length fluctuations), the dark-noise pile-up (c_e, constrained to the
    random-trigger rms ``c_dark`` +- ``c_dark_err``) and the energy sharing among its secondary
    electrons s_i (:class:`GammaWidth`, from the simulation). A positron of visible energy E is
    a single electron plus the annihilation gammas (Eq 2.2), so it carries the 68Ge sharing
    term once: ``c_e+^2 = c_e^2 + s_Ge68`` (section 3.1: "the additional contribution in c is
    due to the fluctuations in secondary electrons produced by the annihilation gammas").

    For events uniform in the detector corrected by g (Eq 3.3), ``light_gain`` = mean g*Q over
    the fiducial volume scales a by 1/sqrt(gain) and the dark-noise part of c by 1/gain, and
    ``b_extra`` (e.g. the residual of the g map) is added in quadrature to b.

    Systematic of the conversion: every s_i (and s_Ge68) scaled by 1 +- ``sharing_rel_uncertainty``
    (the simulation's Compton / low-energy response); half the difference of the refits is added
    to the covariance as a fully correlated term. The b of gammas (soft electrons, less
    Cherenkov light) is a lower bound of the positron b.

    Parameters
    ----------
    widths : gamma peaks at the centre (>= 3 sources; (alpha, n) prompt peaks carry the recoil
        spread and are best left out); must include ``anni_source``.
    c_dark, c_dark_err : sqrt(Var(random-trigger charge)) / Y0 [MeV] and its error.

    Returns
    -------
    PositronResolutionResult; ``fit.valid`` False if the minimiser failed or the covariance is
    not positive.
    """
    ws = list(widths)
    if len(ws) < 3:
        raise ValueError("need the widths of three or more gamma sources")
    anni = [w for w in ws if w.source == anni_source]
    if not anni:
        raise ValueError(f"no {anni_source} width: the annihilation term of c is unknown")
    if c_dark <= 0 or c_dark_err <= 0 or light_gain <= 0:
        raise ValueError("c_dark, its error and light_gain must be positive")
    e = np.array([w.e_vis_mev for w in ws])
    sig = np.array([w.sigma_mev for w in ws])
    sig_err = np.array([w.sigma_err_mev for w in ws])
    share = np.array([w.sharing_var_mev2 for w in ws])
    share_err = np.array([w.sharing_var_err_mev2 for w in ws])
    if np.any(e <= 0) or np.any(sig <= 0) or np.any(sig_err <= 0) or np.any(share < 0):
        raise ValueError("energies, widths and their errors must be positive, sharing >= 0")
    s_anni = float(anni[0].sharing_var_mev2)

    def convert(q: FloatArray, s_a: float) -> FloatArray:
        a_e, b_e, c_e = q
        return np.array([a_e / np.sqrt(light_gain), float(np.hypot(b_e, b_extra)),
                         float(np.sqrt((c_e / light_gain) ** 2 + s_a))])

    q, cov_q, chi2, ndf, ok, msg = _fit_widths(e, sig, sig_err, share, share_err, c_dark,
                                               c_dark_err)
    vals = convert(q, s_anni)
    # Jacobian of the conversion (numerical, 3 x 3) for the statistical covariance
    jac = np.empty((3, 3))
    for k in range(3):
        h = 1e-7 * max(abs(float(q[k])), 1e-4)
        dq = np.zeros(3)
        dq[k] = h
        jac[:, k] = (convert(q + dq, s_anni) - convert(q - dq, s_anni)) / (2 * h)
    cov = jac @ cov_q @ jac.T
    shifts = []
    for sgn in (1.0, -1.0):
        scale = 1.0 + sgn * sharing_rel_uncertainty
        qs, *_ = _fit_widths(e, sig, sig_err, share * scale, share_err * scale, c_dark,
                             c_dark_err)
        shifts.append(convert(qs, s_anni * scale))
    syst = 0.5 * (shifts[0] - shifts[1])
    cov = cov + np.outer(syst, syst)
    fit = FitResult.from_covariance(
        RESOLUTION_NAMES, vals, cov, chi2, ndf, ok,
        msg + "; positron (a, b, c) converted from gamma widths",
        extra={"electron_abc": q.tolist(), "sources": [w.source for w in ws]})
    a, b, c = (float(v) for v in vals)
    return PositronResolutionResult(fit=fit, a_tilde=a_tilde(a, b, c),
                                    a_tilde_err=a_tilde_error(a, b, c, fit.covariance),
                                    electron_c=float(q[2]), anni_sharing_var_mev2=s_anni,
                                    systematic=np.abs(syst))


__all__ = [
    "A_TILDE_B_FACTOR", "A_TILDE_C_FACTOR", "RESOLUTION_NAMES", "GammaWidth",
    "PositronResolutionResult", "ResolutionResult", "a_tilde", "a_tilde_error",
    "fit_positron_resolution", "fit_resolution", "resolution_points", "sharing_variance",
    "sigma_over_e",
]
