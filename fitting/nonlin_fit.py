"""Eq 2.8 chi2 fit of f_nonlin (Eq 2.5) to gamma peaks and the 12B spectrum.

Split out of :mod:`fitting.nonlinearity` (which re-exports every public name; the model is in
its docstring): the inputs (:class:`GammaPeak`, :class:`B12Histogram`, :class:`PeakCorrection`),
settings (:class:`NonlinFitConfig`), results and :func:`fit_nonlinearity`.  Energies in MeV.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import least_squares

from fitting import cost as costs
from fitting.nonlin_response import (
    B12_EDGES_MEV,
    DEFAULT_E_REG_MEV,
    DEFAULT_RESOLUTION_ABC,
    BetaSpectrum,
    SecondarySpectrum,
    _B12Model,
    _GammaModel,
    gamma_visible_energy,
)
from fitting.peaks import fit_gaussian, fit_peak_tail
from fitting.physics.nonlinearity import (
    MODEL_ID,
    PARAM_NAMES,
    f_nonlin,
)
from fitting.physics.nonlinearity import (
    electron_visible_energy as electron_visible_energy,
)
from fitting.physics.nonlinearity import (
    f_nonlin_grad as f_nonlin_grad,
)
from fitting.physics.nonlinearity import (
    invert_electron_visible_energy as invert_electron_visible_energy,
)
from fitting.physics.nonlinearity import (
    reconstruct_positron_energy as reconstruct_positron_energy,
)
from fitting.result import FitResult

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: default start of the fit (Daya-Bay-like shape, scale 1)
DEFAULT_P_START = (1.0, 0.1, 1.0, 0.0)
B12Cost = Literal["neyman", "pearson", "poisson"]


# ============================================================================================
# inputs, settings, results
# ============================================================================================
@dataclass(frozen=True)
class PeakCorrection:
    """Fractional shift of a measured gamma peak from its Eq 2.6 value, from the simulation.

    For the (alpha, n) prompt gammas (AmBe 4.44 MeV, AmC 6.13 MeV) the recoil protons of the
    accompanying neutron add visible energy (section 2.3.4, Table 2: +0.4 % for 6.13 MeV).
    The fit compares M_i / (1 + shift) with Eq 2.6 and adds ``uncertainty * M_i`` in quadrature
    to sigma_i of Eq 2.8: the point is corrected *and* de-weighted by what is not known of the
    correction, and the uncertainty reaches the band through the fit covariance (it is not
    drawn again in the Table 2 toys). shift, uncertainty: fractions of M_i.
    """

    shift: float
    uncertainty: float
    reference: str = ""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.shift) and math.isfinite(self.uncertainty)
                and self.uncertainty >= 0.0 and abs(self.shift) < 0.5):
            raise ValueError(f"peak correction {self.shift!r} +- {self.uncertainty!r} is not a "
                             "small fractional shift with a non-negative uncertainty")


#: (alpha, n) recoil corrections of section 2.3.4 / Table 2 ("bias +0.4 %, uncertainty 0.4 %"
#: for the AmC 6.13 MeV gamma). The paper gives no shift for AmBe 4.44 MeV, so none is applied
#: by default: de-weighting it by an invented 0.4 % removes the only precise point between
#: 2.5 and 6 MeV and moved f_nonlin by -0.6 % at 8 MeV on the mock
#: (benchmarks/nonlinearity_study.py). A campaign's declared simulation inputs override these.
PAPER_ALPHA_N_CORRECTIONS: dict[str, PeakCorrection] = {
    "AmC": PeakCorrection(0.004, 0.004, "paper section 2.3.4, Table 2"),
}


@dataclass(frozen=True)
class GammaPeak:
    """Measured visible-energy peak M_i^gamma of one source (e.g. Gaussian-fit centroid).

    Attributes: source name, visible energy [MeV] (PE / Y0, Eq 2.1), its statistical 1 sigma
    [MeV], the secondary-electron spectrum of the source, and an optional
    :class:`PeakCorrection` (the (alpha, n) recoil shift).
    """

    source: str
    e_vis_mev: float
    sigma_mev: float
    spectrum: SecondarySpectrum
    correction: PeakCorrection | None = None

    @property
    def corrected_mev(self) -> float:
        """M_i / (1 + shift): the measured peak as Eq 2.6 predicts it [MeV]."""
        return self.e_vis_mev / (1.0 + (self.correction.shift if self.correction else 0.0))

    @property
    def fit_sigma_mev(self) -> float:
        """sigma_i of Eq 2.8: statistical error (+) correction uncertainty x M_i [MeV]."""
        if self.correction is None:
            return self.sigma_mev
        return math.hypot(self.sigma_mev / (1.0 + self.correction.shift),
                          self.correction.uncertainty * self.corrected_mev)


@dataclass(frozen=True)
class B12Histogram:
    """Measured 12B visible-energy spectrum M_j^B12 (section 2.1.3) and its true spectrum."""

    counts: FloatArray
    beta: BetaSpectrum
    edges_mev: FloatArray = field(default_factory=lambda: B12_EDGES_MEV.copy())

    def __post_init__(self) -> None:
        if self.counts.shape != (self.edges_mev.size - 1,):
            raise ValueError("12B counts do not match the bin edges")
        if np.any(self.counts < 0) or not np.all(np.isfinite(self.counts)):
            raise ValueError("12B counts must be finite and >= 0")


@dataclass(frozen=True)
class NonlinFitConfig:
    """Settings of the Eq 2.8 fit.

    gamma_sources : names of the gamma peaks entering the first sum of Eq 2.8 (None: all).
    use_b12 : include the 12B term.
    b12_cost : "neyman" (Eq 2.8), "pearson" or "poisson" (see module docstring).
    min_bin_count : for "neyman", merge adjacent bins until each group has this many events.
    resolution_abc : (a, b, c) of Eq 3.1 used to smear the predicted 12B spectrum.
    p_start : start values of p0..p3.
    anni_source : name of the 68Ge peak giving E_vis^anni.
    valid_range_mev : kinetic-energy range written as the validity of the curve.
    e_reg_mev : Eq 2.6 per electron above it, linear continuation below (0 = bare form).
    """

    gamma_sources: tuple[str, ...] | None = None
    use_b12: bool = True
    b12_cost: B12Cost = "neyman"
    min_bin_count: float = 10.0
    resolution_abc: tuple[float, float, float] = DEFAULT_RESOLUTION_ABC
    p_start: tuple[float, float, float, float] = DEFAULT_P_START
    anni_source: str = "Ge68"
    valid_range_mev: tuple[float, float] = (0.5, 8.0)
    e_reg_mev: float = DEFAULT_E_REG_MEV


@dataclass(frozen=True)
class NonlinBand:
    """Systematics band of f_nonlin (section 2.3.7, Table 2).

    grid_mev : (G,) kinetic energies [MeV]; f_nominal : (G,) best-fit f_nonlin;
    sigma_rel : (G,) relative 1 sigma of f_nonlin from the toys (std of f_toy / f_nominal);
    stat_rel : (G,) relative 1 sigma from the fit covariance (statistics and the peak-correction
        uncertainties);
    lower, upper : (G,) f_nominal (1 -/+ total), total = sqrt(sigma_rel^2 + stat_rel^2);
    per_effect : effect name -> (G,) relative 1 sigma with only that effect on;
    method : "toys" or "linear" (how per_effect was obtained); n_toys : toys of the combined band;
    n_failed : toy fits that did not converge (excluded).
    """

    grid_mev: FloatArray
    f_nominal: FloatArray
    sigma_rel: FloatArray
    lower: FloatArray
    upper: FloatArray
    per_effect: dict[str, FloatArray]
    method: str
    n_toys: int
    n_failed: int
    stat_rel: FloatArray | None = None

    @property
    def total_rel(self) -> FloatArray:
        """sqrt(sigma_rel^2 + stat_rel^2), shape (G,)."""
        stat = self.stat_rel if self.stat_rel is not None else np.zeros_like(self.sigma_rel)
        return np.asarray(np.hypot(self.sigma_rel, stat), dtype=np.float64)


@dataclass(frozen=True)
class NonlinFitResult:
    """Result of the f_nonlin fit (payload "energy non-linearity" of GUIDE section 4).

    fit : FitResult of p0..p3 (covariance marginalised over the 12B normalisation); chi2/ndf of
        Eq 2.8 in total.
    model_id, valid_range_mev, sources_used (gamma names, plus "B12" when used).
    b12_norm, b12_norm_err : fitted number of 12B decays (all energies) and its error.
    chi2_gamma, chi2_b12, n_b12_groups : the two parts of Eq 2.8.
    gamma_predicted : source -> P_i^gamma [MeV]; gamma_residual : source -> (M - P) / P.
    e_vis_anni_mev, e_vis_anni_err_mev : measured 68Ge peak [MeV] (None if absent).
    band : systematics band, attached by :func:`with_band`.
    """

    fit: FitResult
    model_id: str
    valid_range_mev: tuple[float, float]
    sources_used: tuple[str, ...]
    b12_norm: float
    b12_norm_err: float
    chi2_gamma: float
    chi2_b12: float
    n_b12_groups: int
    gamma_predicted: dict[str, float]
    gamma_residual: dict[str, float]
    e_vis_anni_mev: float | None
    e_vis_anni_err_mev: float | None
    config: NonlinFitConfig
    band: NonlinBand | None = None

    @property
    def p(self) -> FloatArray:
        """Best-fit p0..p3."""
        return self.fit.values

    def f(self, e_mev: ArrayLike) -> FloatArray:
        """Best-fit f_nonlin(E) (Eq 2.5)."""
        return f_nonlin(e_mev, self.fit.values)

    def with_band(self, band: NonlinBand) -> NonlinFitResult:
        """Copy with the systematics band attached."""
        return replace(self, band=band)


def measure_gamma_peak(
    source: str,
    e_vis_mev: ArrayLike,
    spectrum: SecondarySpectrum,
    method: Literal["gauss", "peak_tail"] = "gauss",
    correction: PeakCorrection | None = None,
) -> GammaPeak:
    """M_i^gamma and sigma_i of Eq 2.8 from the event visible energies E_vis = PE / Y0 [MeV].

    ``"gauss"``: iterated Gaussian fit (section 2.1.3); ``"peak_tail"``: full-absorption peak of
    the peak + exponential-tail fit (section 2.3.2), for sources with an energy-loss tail.
    ``correction``: the (alpha, n) recoil shift of the source (:class:`PeakCorrection`).
    Raises ValueError when the peak fit is invalid.
    """
    x = np.asarray(e_vis_mev, dtype=np.float64)
    res = fit_gaussian(x) if method == "gauss" else fit_peak_tail(x)
    if not res.valid:
        raise ValueError(f"{source}: peak fit failed ({res.message})")
    return GammaPeak(source, res["mu"], res.error("mu"), spectrum, correction)


def b12_histogram_from_events(
    e_vis_mev: ArrayLike, beta: BetaSpectrum, edges_mev: ArrayLike = B12_EDGES_MEV
) -> B12Histogram:
    """M_j^B12: histogram of the 12B event visible energies [MeV] (default 90 bins 3-12 MeV)."""
    edges = np.asarray(edges_mev, dtype=np.float64)
    counts, _ = np.histogram(np.asarray(e_vis_mev, dtype=np.float64), bins=edges)
    return B12Histogram(counts=counts.astype(np.float64), beta=beta, edges_mev=edges)


# ============================================================================================
# Eq 2.8 fit
# ============================================================================================
def _groups(counts: FloatArray, min_count: float) -> IntArray:
    """Start indices of groups of adjacent bins, each with >= min_count entries (last merged)."""
    starts: list[int] = []
    acc = 0.0
    start = 0
    for i, c in enumerate(counts):
        acc += float(c)
        if acc >= min_count:
            starts.append(start)
            start = i + 1
            acc = 0.0
    if not starts:
        return np.array([0], dtype=np.int64)
    # a remainder below min_count at the end joins the last group
    return np.array(starts, dtype=np.int64)


def _b12_residuals(m: FloatArray, pred: FloatArray, dpred: FloatArray,
                   cost: B12Cost) -> tuple[FloatArray, FloatArray]:
    """Residuals r_j with sum r_j^2 = the 12B chi2, and dr/dtheta (:mod:`fitting.cost`)."""
    if cost == "neyman":
        return costs.neyman(pred, m, dpred)
    if cost == "pearson":
        return costs.pearson(pred, m, dpred)
    return costs.poisson_deviance_jac(pred, m, dpred)


class _Problem:
    """Residual vector and Jacobian of Eq 2.8 in theta = (p0, p1, p2, p3, log N_B12)."""

    def __init__(self, gammas: Sequence[GammaPeak], b12: B12Histogram | None,
                 cfg: NonlinFitConfig) -> None:
        self.gm = _GammaModel([g.spectrum for g in gammas], cfg.e_reg_mev) if gammas else None
        self.m_g = np.array([g.corrected_mev for g in gammas])
        self.s_g = np.array([g.fit_sigma_mev for g in gammas])
        self.cost: B12Cost = cfg.b12_cost
        self.b12 = b12
        if b12 is not None:
            self.bm = _B12Model(b12.beta, b12.edges_mev, cfg.resolution_abc)
            if cfg.b12_cost == "neyman":
                self.starts = _groups(b12.counts, cfg.min_bin_count)
                self.m_b = np.add.reduceat(b12.counts, self.starts)
            else:
                self.starts = np.arange(b12.counts.size, dtype=np.int64)
                self.m_b = b12.counts.astype(np.float64)
        self.n_par = 5 if b12 is not None else 4
        self._key = b""
        self._cache: tuple[FloatArray, FloatArray] = (np.zeros(0), np.zeros((0, 0)))

    def split(self, theta: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Gamma and 12B residuals (for the chi2 parts)."""
        r = self.residuals(theta)
        ng = self.m_g.size
        return r[:ng], r[ng:]

    def _eval(self, theta: FloatArray) -> tuple[FloatArray, FloatArray]:
        key = np.asarray(theta, dtype=np.float64).tobytes()
        if key != self._key:  # least_squares asks for fun and jac at the same point
            self._cache = self._compute(theta)
            self._key = key
        return self._cache

    def _compute(self, theta: FloatArray) -> tuple[FloatArray, FloatArray]:
        p = theta[:4]
        rs: list[FloatArray] = []
        js: list[FloatArray] = []
        if self.gm is not None:
            pred, jac = self.gm.predict(p)
            r_g, j_g = costs.gaussian(pred, self.m_g, self.s_g, jac)
            rs.append(r_g)
            jg = np.zeros((self.m_g.size, self.n_par))
            jg[:, :4] = j_g
            js.append(jg)
        if self.b12 is not None:
            norm = math.exp(float(theta[4]))
            prob, dprob = self.bm.predict(p)
            prob = np.add.reduceat(prob, self.starts)
            dprob = np.add.reduceat(dprob, self.starts, axis=0)
            pred = norm * prob
            dpred = np.empty((pred.size, 5))
            dpred[:, :4] = norm * dprob
            dpred[:, 4] = pred  # d/d log N
            r, j = _b12_residuals(self.m_b, pred, dpred, self.cost)
            rs.append(r)
            js.append(j)
        return np.concatenate(rs), np.concatenate(js, axis=0)

    def residuals(self, theta: FloatArray) -> FloatArray:
        return self._eval(theta)[0]

    def jacobian(self, theta: FloatArray) -> FloatArray:
        return self._eval(theta)[1]


def _select(gammas: Sequence[GammaPeak], cfg: NonlinFitConfig) -> list[GammaPeak]:
    if cfg.gamma_sources is None:
        return list(gammas)
    names = {g.source for g in gammas}
    missing = [s for s in cfg.gamma_sources if s not in names]
    if missing:
        raise ValueError(f"gamma sources {missing} requested but not measured; "
                         f"have {sorted(names)}")
    return [g for g in gammas if g.source in cfg.gamma_sources]


def fit_nonlinearity(
    gammas: Sequence[GammaPeak],
    b12: B12Histogram | None,
    config: NonlinFitConfig | None = None,
    p_start: ArrayLike | None = None,
) -> NonlinFitResult:
    """Fit p0..p3 of Eq 2.5 by minimising the chi2 of Eq 2.8.

    Parameters
    ----------
    gammas : measured gamma peaks with their P(E^e) spectra; ``config.gamma_sources`` selects
        which enter the fit (68Ge may be measured for E_vis^anni without being fitted).
    b12 : measured 12B histogram with its true beta spectrum, or None (gammas only).
    config : settings, :class:`NonlinFitConfig`.
    p_start : optional start values (overrides ``config.p_start``; used by the toys).

    Returns
    -------
    NonlinFitResult; ``fit.valid`` is False when the minimiser did not converge, the
    covariance is not positive definite, or there are fewer constraints than parameters.
    """
    cfg = config or NonlinFitConfig()
    used = _select(gammas, cfg)
    b = b12 if cfg.use_b12 else None
    if not used and b is None:
        raise ValueError("nothing to fit: no gamma sources and no 12B spectrum")
    prob = _Problem(used, b, cfg)
    p0 = np.asarray(cfg.p_start if p_start is None else p_start, dtype=np.float64)
    theta0 = p0
    if b is not None:
        pr, _ = prob.bm.predict(p0)
        pr_sum = float(np.sum(pr))
        n0 = float(np.sum(b.counts)) / pr_sum if pr_sum > 0 else float(np.sum(b.counts))
        theta0 = np.append(p0, math.log(max(n0, 1.0)))
    lower = np.full(theta0.size, -np.inf)
    upper = np.full(theta0.size, np.inf)
    lower[1], lower[2] = -0.999, 1e-4          # positive denominator, damping at high energy
    upper[2] = 50.0
    theta0 = np.clip(theta0, lower + 1e-9, upper - 1e-9)
    sol = least_squares(prob.residuals, theta0, jac=prob.jacobian, bounds=(lower, upper),
                        method="trf", x_scale="jac", xtol=1e-12, ftol=1e-12, gtol=1e-10,
                        max_nfev=500)
    jac = sol.jac
    n_res = sol.fun.size
    try:
        cov_full = np.linalg.inv(jac.T @ jac)  # chi2 = sum r^2  ->  cov = (J^T J)^-1
    except np.linalg.LinAlgError:
        cov_full = np.full((theta0.size, theta0.size), np.nan)
    rg, rb = prob.split(sol.x)
    chi2 = float(np.sum(sol.fun**2))
    ndf = n_res - theta0.size
    at_bound = bool(np.any(np.isclose(sol.x, lower, rtol=0, atol=1e-7)
                           | np.isclose(sol.x, upper, rtol=0, atol=1e-7)))
    valid = bool(sol.success) and ndf >= 0 and not at_bound
    msg = str(sol.message) + ("; parameter at bound" if at_bound else "")
    if ndf < 0:
        msg += "; fewer constraints than parameters"
    fit = FitResult.from_covariance(PARAM_NAMES, sol.x[:4], cov_full[:4, :4], chi2, ndf, valid,
                                    msg, extra={"nfev": int(sol.nfev)})
    pred = (gamma_visible_energy([g.spectrum for g in gammas], sol.x[:4], cfg.e_reg_mev)
            if gammas
            else np.zeros(0))
    gpred = {g.source: float(v) for g, v in zip(gammas, pred, strict=True)}
    gres = {g.source: (g.corrected_mev - gpred[g.source]) / gpred[g.source] for g in gammas}
    anni = [g for g in gammas if g.source == cfg.anni_source]
    sources = tuple(g.source for g in used) + (("B12",) if b is not None else ())
    has_b = b is not None
    return NonlinFitResult(
        fit=fit, model_id=MODEL_ID, valid_range_mev=cfg.valid_range_mev, sources_used=sources,
        b12_norm=math.exp(float(sol.x[4])) if has_b else 0.0,
        b12_norm_err=math.exp(float(sol.x[4])) * math.sqrt(max(float(cov_full[4, 4]), 0.0))
        if has_b else 0.0,
        chi2_gamma=float(np.sum(rg**2)), chi2_b12=float(np.sum(rb**2)),
        n_b12_groups=int(rb.size), gamma_predicted=gpred, gamma_residual=gres,
        e_vis_anni_mev=anni[0].e_vis_mev if anni else None,
        e_vis_anni_err_mev=anni[0].sigma_mev if anni else None,
        config=cfg,
    )


