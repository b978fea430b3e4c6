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

Mock truth against the paper's detector (nominal variant, centre, Eq 3.1 fitted to positrons
of 0.5-8 MeV kinetic, 20,000 each; benchmarks/resolution_study.py --scale 1): a 2.31(6) %,
b 0.89(2) %, c 1.81(12) %, a-tilde 2.94(1) % against Table 3's central row 2.62 / 0.73 / 1.38,
2.99 %. The mock's Cherenkov light fluctuates by 12 % of itself and is ~0.078 (T - 0.38 MeV):
for positrons a term beta (E - E_off), beta ~ 0.9 %, E_off ~ 1.3 MeV, which in Eq 3.1 lowers
a^2 by 2 beta^2 E_off ~ 2.1 %^2 MeV and raises c^2 by (beta E_off)^2 ~ 1.3 %^2 MeV^2: from the
Gaussian electron terms (a_e 2.81 %, c_e (+) annihilation sharing ~1.2 %) to a ~ 2.4 %,
c ~ 1.7 %, as the mock's positrons show. a-tilde hardly moves with that a <-> c trade (2.94
against 2.99 %); Table 3's nominal row (3.02 %) is for uniform events after the 250-point map
(the mock's ideal uniform value is 2.89(1) %), so the job's centre a-tilde is compared with
the mock's own truth, and with 2.99 / 3.02 only within these differences.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import least_squares

from fitting.peaks import fit_gaussian
from fitting.physics.nonlinearity import invert_electron_visible_energy
from fitting.physics.resolution import (
    A_TILDE_B_FACTOR,
    A_TILDE_C_FACTOR,
    CHERENKOV_T0_MEV,
    a_tilde,
    a_tilde_error,
    cherenkov_proxy_kinetic,
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
#: grid of sigma_0 / M (Gaussian part of a peak, relative) on which the width maps are tabulated
_SIGMA0_REL_GRID = np.geomspace(0.004, 0.12, 16)
#: low-energy continuation of Eq 2.5 for the sharing spreads: the same as the f_nonlin fit's
#: own (``fitting.nonlinearity.DEFAULT_E_REG_MEV``): below 0.1 MeV no calibration point
#: constrains p0..p3, and continuing the fitted form down to 0.01 MeV let a poorly constrained
#: p3 (reduced statistics) inflate the spreads ~3x and collapse a to 0.3 %.  With the truth's
#: p, 0.01 MeV matched the mock's spreads within 7 % (resolution_study.py); 0.1 MeV is the
#: robust choice, covered by the 20 % conversion systematic
SHARING_E_REG_MEV = 0.1
#: visible energies [MeV] of the converted positron points (figure 10: 1-8 MeV)
POSITRON_POINTS_MEV = np.arange(1.0, 8.01, 0.5)


@dataclass(frozen=True)
class GammaWidth:
    """Width of one gamma peak at the centre and the source's energy-sharing spread.

    source : name; e_vis_mev : peak centroid M_i [MeV]; sigma_mev, sigma_err_mev : width of
    the Gaussian fit to the peak (:func:`fitting.peaks.fit_gaussian`) and its error [MeV];
    sharing_mev : (n,) per-event sharing deviations of the source from the simulation with the
    fitted f_nonlin (:func:`fitting.physics.resolution.sharing_deviations`) [MeV];
    cherenkov_mev : (n,) per-event Cherenkov proxy L = sum_k (T_k - T0)+ of the same events
    (:func:`fitting.physics.resolution.cherenkov_proxy`) [MeV]; None = the constant-b form
    (sigma_b = b M, the Cherenkov light taken proportional to the visible energy).
    """

    source: str
    e_vis_mev: float
    sigma_mev: float
    sigma_err_mev: float
    sharing_mev: FloatArray
    cherenkov_mev: FloatArray | None = None

    def cherenkov_moments(self) -> tuple[float, float]:
        """(mean L, mean L^2) of the Cherenkov proxy [MeV, MeV^2]; (M, M^2) without one."""
        if self.cherenkov_mev is None or self.cherenkov_mev.size == 0:
            return self.e_vis_mev, self.e_vis_mev**2
        c = np.asarray(self.cherenkov_mev, dtype=np.float64)
        return float(c.mean()), float(np.mean(c * c))


class _WidthMap:
    """sigma_0 -> width of the Gaussian fit to (sharing spread (x) N(0, sigma_0^2)) [MeV].

    The peak of a gamma is its sharing distribution convolved with the Gaussian of photon
    statistics, Cherenkov and dark noise; a Gaussian fit (figure 9, section 2.1.3) of that
    non-Gaussian shape sees only part of the sharing tail, the more the narrower sigma_0.
    Tabulated by fitting samples v_k + sigma_0 z_k (z fixed: the map is smooth in sigma_0).
    """

    def __init__(self, sharing: FloatArray, e_ref_mev: float, scale: float,
                 rng: np.random.Generator, max_samples: int = 60_000) -> None:
        v = np.asarray(sharing, dtype=np.float64) * scale
        reps = max(1, max_samples // max(v.size, 1))
        v = np.tile(v, reps)[:max(max_samples, v.size)]
        z = rng.standard_normal(v.size)
        self.grid = _SIGMA0_REL_GRID * e_ref_mev
        self.width = np.array([fit_gaussian(e_ref_mev + v + s0 * z)["sigma"] for s0 in self.grid])
        #: statistical error of the tabulated widths (Gaussian sample, sigma / sqrt(2 n))
        self.rel_err = 1.0 / math.sqrt(2.0 * v.size)

    def __call__(self, sigma0: FloatArray) -> FloatArray:
        # width^2 is nearly linear in sigma_0^2 (variances add): interpolate there
        w2 = np.interp(np.asarray(sigma0) ** 2, self.grid**2, self.width**2)
        return np.asarray(np.sqrt(w2), dtype=np.float64)


@dataclass(frozen=True)
class PositronResolutionResult:
    """Positron (a, b, c) of Eq 3.1 converted from gamma widths (:func:`fit_positron_resolution`).

    fit : FitResult ("a", "b", "c") of the *positron* resolution; covariance = statistical
        (+) conversion systematic; chi2/ndf of the gamma-width fit (dark-noise constraint
        included). a_tilde, a_tilde_err : Eq 3.2 with that covariance.
    electron : FitResult ("a", "b", "c") of the Gaussian part sigma_0^2 = a^2 E + b^2 E^2 + c^2
        (single electrons; c = the dark-noise term).
    systematic : (3,) conversion systematic of the positron (a, b, c).
    """

    fit: FitResult
    a_tilde: float
    a_tilde_err: float
    electron: FitResult
    systematic: FloatArray


def _fit_electron_terms(
    e: FloatArray, sig: FloatArray, err: FloatArray, maps: Sequence[_WidthMap],
    c_dark: float, c_dark_err: float, l2: FloatArray,
) -> FitResult:
    """(a, b, c_e) with sigma_i = map_i(sqrt(a^2 M + b^2 <L^2>_i + c_e^2)), c_e ~ N(c_dark,
    err); <L^2>_i the mean squared Cherenkov proxy of source i (M_i^2 in the constant-b form)."""

    def resid(q: FloatArray) -> FloatArray:
        s0 = np.sqrt(q[0] ** 2 * e + q[1] ** 2 * l2 + q[2] ** 2)
        model = np.array([m(np.array([x]))[0] for m, x in zip(maps, s0, strict=True)])
        return np.append((model - sig) / err, (q[2] - c_dark) / c_dark_err)

    start = np.array([float(np.sqrt(max(np.median((sig**2 - c_dark**2) / e), 1e-6))), 0.005,
                      c_dark])
    sol = least_squares(resid, start, bounds=(0.0, np.inf), method="trf", diff_step=1e-4,
                        xtol=1e-12, ftol=1e-12, gtol=1e-12)
    # a term at its bound 0 has zero gradient (only squares enter): pseudo-inverse, flagged
    cov = np.linalg.pinv(sol.jac.T @ sol.jac)
    msg = str(sol.message)
    at_zero = [n for n, v in zip(RESOLUTION_NAMES, sol.x, strict=True) if v <= 1e-9]
    if at_zero:
        msg += "; at lower bound 0 (no error): " + ", ".join(at_zero)
    return FitResult.from_covariance(RESOLUTION_NAMES, sol.x, cov, float(np.sum(sol.fun**2)),
                                     e.size + 1 - 3, bool(sol.success), msg)


@dataclass(frozen=True)
class _PositronModel:
    """What the positron widths need besides (a, b, c_e): the annihilation width map, the
    annihilation peak M_anni [MeV] and Cherenkov moments, f_nonlin parameters (None = the
    constant-b form), the light gain and the extra b of uniform events."""

    anni: _WidthMap
    m_anni: float
    l_anni: tuple[float, float]
    p_nonlin: FloatArray | None
    light_gain: float
    b_extra: float

    def cherenkov_l2(self, e_vis: FloatArray) -> FloatArray:
        """<(l(T) + L_anni)^2> [MeV^2] of positrons of visible energy ``e_vis`` [MeV]; the
        kinetic energy T solves T f_nonlin(T) = E_vis - M_anni (Eq 2.2)."""
        if self.p_nonlin is None:
            return np.asarray(e_vis**2, dtype=np.float64)
        t = invert_electron_visible_energy(np.clip(e_vis - self.m_anni, 1e-3, None),
                                           self.p_nonlin)
        lt = cherenkov_proxy_kinetic(np.nan_to_num(t, nan=0.0), self.t0_mev)
        mean_a, mean2_a = self.l_anni
        return np.asarray(lt**2 + 2.0 * lt * mean_a + mean2_a, dtype=np.float64)

    t0_mev: float = CHERENKOV_T0_MEV


def _positron_terms(q: FloatArray, model: _PositronModel) -> FloatArray:
    """Eq 3.1 fitted to converted positron widths sigma(E) = anni(sigma_0(E)) at 1-8 MeV,
    sigma_0^2 = a^2 E + b^2 <(l(T) + L_anni)^2> + c_e^2 (scaled to uniform events)."""
    a_e, b_e, c_e = (float(v) for v in q)
    a_e, c_e = a_e / math.sqrt(model.light_gain), c_e / model.light_gain
    e = POSITRON_POINTS_MEV
    var_b = b_e**2 * model.cherenkov_l2(e) + (model.b_extra * e) ** 2
    width = model.anni(np.sqrt(a_e**2 * e + var_b + c_e**2))
    rel = width / e
    res = fit_resolution(e, rel, np.full(e.size, 1e-4) * rel)
    return res.fit.values


def fit_positron_resolution(
    widths: Sequence[GammaWidth],
    c_dark: float,
    c_dark_err: float,
    anni_source: str = "Ge68",
    sharing_rel_uncertainty: float = 0.2,
    light_gain: float = 1.0,
    b_extra: float = 0.0,
    seed: int = 31,
    p_nonlin: ArrayLike | None = None,
    cherenkov_t0_mev: float = CHERENKOV_T0_MEV,
    sharing_point_uncertainty: float = 0.1,
) -> PositronResolutionResult:
    """Positron resolution (Eq 3.1, Table 3) from gamma-peak widths at the centre (section 3.1).

    Conversion model. A fully absorbed gamma of visible energy M_i is its energy-sharing spread
    (:class:`GammaWidth`, simulated with the fitted f_nonlin) convolved with a Gaussian of
    variance ``sigma_0^2 = a^2 M + b^2 <L^2> + c_e^2``: photon statistics (a, SPE charge
    smearing included), the Cherenkov track-length fluctuation (b: the Cherenkov light of an
    event fluctuates by a fixed fraction of itself, section 3.1) and the dark-noise pile-up
    (c_e, constrained to ``c_dark`` +- ``c_dark_err`` from the random triggers). The
    Cherenkov light of an event is taken proportional to L = sum over its electrons of
    (T_k - T0)+ (:func:`fitting.physics.resolution.cherenkov_proxy`, T0 =
    ``CHERENKOV_T0_MEV`` = 0.4 MeV): a 0.662 MeV gamma (Compton electrons mostly below
    threshold) has little, an 8 MeV positron almost T. Without a proxy (``cherenkov_mev``
    None) L = M, the constant-b form of Eq 3.1. The measured Gaussian width is compared with
    the Gaussian fit of that shape (the width map), which fixes (a, b, c_e).
    A positron of visible energy E is one electron of kinetic T (T f_nonlin(T) = E - M_anni,
    fitted ``p_nonlin``) plus the annihilation gammas (Eq 2.2): its peak is the 68Ge sharing
    spread convolved with sigma_0(E), sigma_0^2 = a^2 E + b^2 <((T - T0)+ + L_anni)^2> + c_e^2,
    through the width map of ``anni_source``; Eq 3.1 fitted to those widths at 1-8 MeV (as
    figure 10 does with simulated positrons) gives the positron (a, b, c). The Cherenkov term
    b (T - T0) is linear in E with an offset: in Eq 3.1 it lowers a and raises c (the central
    positrons of the mock: a 2.3 %, c 2.0 % against a_e 2.8 %, c_e 1.04 %), the annihilation
    sharing adds to c (section 3.1: c = 1.38 % > 1.0 % "due to the fluctuations in secondary
    electrons produced by the annihilation gammas").

    Events uniform in the detector (Eq 3.3): ``light_gain`` = mean g*Q over the fiducial volume
    scales a by 1/sqrt(gain) and c_e by 1/gain; ``b_extra`` (residual of the g map, vertex
    smearing) is added in quadrature to b. Defaults: the centre.

    Systematic of the conversion: the sharing spreads scaled by 1 +- ``sharing_rel_uncertainty``
    (the simulation's Compton / low-energy response and f_nonlin below 0.5 MeV); half the
    difference of the two refits is added to the covariance, fully correlated. T0 +- 0.1 MeV
    (the linear offset of C(T) is 0.35-0.49 MeV for refractive index 1.47-1.51 and Frank-Tamm
    power 0.8-1.5) moves the positron a by -+0.015 %, c by +-0.02 % and a-tilde by < 0.01 % on
    the nominal mock (benchmarks/resolution_study.py --t0 0.3 / 0.5); not in the covariance.

    Parameters
    ----------
    widths : gamma peaks at the centre (>= 3 sources, including ``anni_source``; (alpha, n)
        prompt peaks carry the recoil spread and are best left out).
    c_dark, c_dark_err : sqrt(dark-noise variance) / Y0 [MeV] and its error.
    seed : seed of the samples that tabulate the width maps.
    p_nonlin : fitted f_nonlin p0..p3 (Eq 2.5) for T(E); None with proxies: T = E - M_anni.
    cherenkov_t0_mev : the T0 the gamma proxies were computed with.
    sharing_point_uncertainty : relative uncertainty of each source's own sharing variance
        (uncorrelated between sources), added to the width errors: ``u V_sharing / (2 width)``.
        On the nominal mock at nominal statistics the width fit has chi2 19.5 / 4 without it
        (68Ge 1.3 % wider than modelled, 137Cs / 54Mn 0.6 % narrower: the simulated response
        of the soft Compton electrons, continued linearly below ``SHARING_E_REG_MEV``); 0 = off.

    Returns
    -------
    PositronResolutionResult.
    """
    ws = list(widths)
    if len(ws) < 3:
        raise ValueError("need the widths of three or more gamma sources")
    if not any(w.source == anni_source for w in ws):
        raise ValueError(f"no {anni_source} width: the annihilation term of c is unknown")
    if c_dark <= 0 or c_dark_err <= 0 or light_gain <= 0:
        raise ValueError("c_dark, its error and light_gain must be positive")
    e = np.array([w.e_vis_mev for w in ws])
    sig = np.array([w.sigma_mev for w in ws])
    sig_err = np.array([w.sigma_err_mev for w in ws])
    if np.any(e <= 0) or np.any(sig <= 0) or np.any(sig_err <= 0):
        raise ValueError("energies, widths and their errors must be positive")
    proxies = [w.cherenkov_mev is not None for w in ws]
    if any(proxies) and not all(proxies):
        raise ValueError("give the Cherenkov proxy of every gamma source or of none")
    l2 = np.array([w.cherenkov_moments()[1] for w in ws])
    w_anni = ws[[w.source for w in ws].index(anni_source)]
    if all(proxies) and p_nonlin is None:
        p_nonlin = np.array([1.0, 0.0, 1.0, 0.0])  # T = E - M_anni
    p_arr = None if not all(proxies) else np.asarray(p_nonlin, dtype=np.float64)

    def solve(scale: float) -> tuple[FitResult, FloatArray, _PositronModel]:
        maps = [_WidthMap(w.sharing_mev, w.e_vis_mev, scale, np.random.default_rng(seed))
                for w in ws]
        err = np.hypot(sig_err, sig * np.array([m.rel_err for m in maps]))
        electron = _fit_electron_terms(e, sig, err, maps, c_dark, c_dark_err, l2)
        if sharing_point_uncertainty > 0:
            # per-source model error of the sharing spread (its low-energy part differs with
            # the Compton history): delta width = u * V_sharing / (2 width), then refit
            q = electron.values
            s0 = np.sqrt(q[0] ** 2 * e + q[1] ** 2 * l2 + q[2] ** 2)
            width = np.array([m(np.array([x]))[0] for m, x in zip(maps, s0, strict=True)])
            v_share = np.clip(width**2 - s0**2, 0.0, None)
            err = np.hypot(err, sharing_point_uncertainty * v_share / (2.0 * width))
            electron = _fit_electron_terms(e, sig, err, maps, c_dark, c_dark_err, l2)
        model = _PositronModel(maps[ws.index(w_anni)], w_anni.e_vis_mev,
                               w_anni.cherenkov_moments(), p_arr, light_gain, b_extra,
                               cherenkov_t0_mev)
        return electron, _positron_terms(electron.values, model), model

    electron, vals, model = solve(1.0)
    jac = np.empty((3, 3))
    for k in range(3):
        h = 1e-3 * max(abs(float(electron.values[k])), 1e-3)
        dq = np.zeros(3)
        dq[k] = h
        jac[:, k] = (_positron_terms(electron.values + dq, model)
                     - _positron_terms(np.maximum(electron.values - dq, 0.0), model)) / (2 * h)
    cov = jac @ electron.covariance @ jac.T
    up = solve(1.0 + sharing_rel_uncertainty)[1]
    down = solve(1.0 - sharing_rel_uncertainty)[1]
    syst = 0.5 * (up - down)
    cov = cov + np.outer(syst, syst)
    fit = FitResult.from_covariance(
        RESOLUTION_NAMES, vals, cov, electron.chi2, electron.ndf, electron.valid,
        electron.message + "; positron (a, b, c) converted from gamma widths",
        extra={"sources": [w.source for w in ws]})
    a, b, c = (float(v) for v in vals)
    return PositronResolutionResult(fit=fit, a_tilde=a_tilde(a, b, c),
                                    a_tilde_err=a_tilde_error(a, b, c, fit.covariance),
                                    electron=electron, systematic=np.abs(syst))


__all__ = [
    "A_TILDE_B_FACTOR", "A_TILDE_C_FACTOR", "RESOLUTION_NAMES", "GammaWidth",
    "PositronResolutionResult", "ResolutionResult", "a_tilde", "a_tilde_error",
    "fit_positron_resolution", "fit_resolution", "resolution_points",
    "sigma_over_e",
]
