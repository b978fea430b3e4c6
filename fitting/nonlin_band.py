"""Systematics band of f_nonlin from toy refits (section 2.3.7, Table 2).

Split out of :mod:`fitting.nonlinearity` (which re-exports every public name).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fitting.nonlin_fit import (
    B12Histogram,
    GammaPeak,
    NonlinBand,
    NonlinFitConfig,
    NonlinFitResult,
    fit_nonlinearity,
)
from fitting.physics.nonlinearity import (
    electron_visible_energy as electron_visible_energy,
)
from fitting.physics.nonlinearity import (
    f_nonlin,
    f_nonlin_sigma,
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

FloatArray = NDArray[np.float64]


# ============================================================================================
# systematics band (section 2.3.7, Table 2)
# ============================================================================================
@dataclass(frozen=True)
class SystematicEffect:
    """One row of Table 2: a fractional energy-scale uncertainty of the calibration points.

    name : label; nature : "correlated" (one random draw moves all listed points together,
    each by its own size) or "single_point" (an independent draw per point);
    gamma_sigma : source -> fractional 1 sigma (key "*" = every other source);
    b12_sigma : fractional 1 sigma of the 12B visible-energy scale (correlated only).
    """

    name: str
    nature: Literal["correlated", "single_point"]
    gamma_sigma: Mapping[str, float]
    b12_sigma: float = 0.0

    def sigma_for(self, source: str) -> float:
        """Fractional 1 sigma for a gamma source."""
        return float(self.gamma_sigma.get(source, self.gamma_sigma.get("*", 0.0)))


#: Table 2 of the paper (the "6.13 MeV gamma" row is a :class:`PeakCorrection` of the AmC
#: peak: its uncertainty is in sigma_i of Eq 2.8 and so in the fit covariance).
#: Shadowing 0.1-0.2 % and energy loss 0.05-0.1 % per source follow the
#: trends stated in sections 2.3.1-2.3.2 (largest at low energy and for the neutron-source
#: lines, smallest for n-H); the instrumental non-linearity and the position-dependent effect
#: are "fully correlated uncertainty in energy" and move gammas and 12B alike.
TABLE2_EFFECTS: tuple[SystematicEffect, ...] = (
    SystematicEffect("shadowing", "correlated",
                     {"Cs137": 0.0020, "Mn54": 0.0018, "Ge68": 0.0020, "Co60": 0.0013,
                      "K40": 0.0010, "nH": 0.0010, "AmBe": 0.0015, "nC": 0.0015,
                      "AmC": 0.0020, "*": 0.0015}),
    SystematicEffect("energy_loss", "correlated",
                     {"Cs137": 0.0010, "Mn54": 0.0009, "Ge68": 0.0010, "Co60": 0.0007,
                      "K40": 0.0006, "nH": 0.0005, "AmBe": 0.0006, "nC": 0.0005,
                      "AmC": 0.0005, "*": 0.00075}),
    SystematicEffect("instrumental_nl", "correlated", {"*": 0.003}, b12_sigma=0.003),
    SystematicEffect("position", "correlated", {"*": 0.003}, b12_sigma=0.003),
)


def rescale_histogram(counts: FloatArray, edges: FloatArray, scale: float) -> FloatArray:
    """Counts of a histogram whose x values are all multiplied by ``scale`` (same edges).

    The density is taken constant within each bin (and continued flat beyond the first/last
    bin) and the cumulative distribution is re-read at edges / scale.
    """
    dens = counts / np.diff(edges)

    def cum(x: FloatArray) -> FloatArray:
        inner = np.concatenate([[0.0], np.cumsum(counts)])
        c = np.interp(x, edges, inner)
        c = np.where(x < edges[0], (x - edges[0]) * dens[0], c)
        return np.where(x > edges[-1], inner[-1] + (x - edges[-1]) * dens[-1], c)

    return np.asarray(np.diff(cum(edges / scale)), dtype=np.float64)


def _apply_shifts(
    gammas: Sequence[GammaPeak], b12: B12Histogram | None,
    gamma_shift: FloatArray, b12_shift: float,
) -> tuple[list[GammaPeak], B12Histogram | None]:
    new_g = [replace(g, e_vis_mev=g.e_vis_mev * (1.0 + float(s)))
             for g, s in zip(gammas, gamma_shift, strict=True)]
    new_b = None
    if b12 is not None:
        new_b = replace(b12, counts=rescale_histogram(b12.counts, b12.edges_mev, 1.0 + b12_shift))
    return new_g, new_b


def _effect_patterns(
    effects: Sequence[SystematicEffect], sources: Sequence[str]
) -> tuple[FloatArray, FloatArray]:
    """Shift patterns: each column is one independent N(0,1) nuisance.

    Returns (gamma pattern (n_src, n_nuis), 12B pattern (n_nuis,)) of fractional 1 sigma shifts.
    """
    g_cols: list[FloatArray] = []
    b_cols: list[float] = []
    for eff in effects:
        sig = np.array([eff.sigma_for(s) for s in sources])
        if eff.nature == "correlated":
            g_cols.append(sig)
            b_cols.append(eff.b12_sigma)
        else:
            for k in np.flatnonzero(sig):
                col = np.zeros(len(sources))
                col[k] = sig[k]
                g_cols.append(col)
                b_cols.append(0.0)
    if not g_cols:
        return np.zeros((len(sources), 0)), np.zeros(0)
    return np.stack(g_cols, axis=1), np.array(b_cols)


def _toy_chunk(
    args: tuple[list[GammaPeak], B12Histogram | None, NonlinFitConfig, FloatArray,
                FloatArray, FloatArray, FloatArray, FloatArray],
) -> tuple[FloatArray, int]:
    """Refit a block of toys; returns (f_toy on the grid (n, G), number failed)."""
    gammas, b12, cfg, p_nom, grid, g_pat, b_pat, z = args
    out = np.full((z.shape[0], grid.size), np.nan)
    failed = 0
    for t in range(z.shape[0]):
        gs = g_pat @ z[t]
        bs = float(b_pat @ z[t])
        g2, b2 = _apply_shifts(gammas, b12, gs, bs)
        res = fit_nonlinearity(g2, b2, cfg, p_start=p_nom)
        if not res.fit.valid:  # one retry from the configured start before giving up
            res = fit_nonlinearity(g2, b2, cfg)
        if res.fit.valid:
            out[t] = f_nonlin(grid, res.fit.values)
        else:
            failed += 1
    return out, failed


def _run_toys(
    gammas: list[GammaPeak], b12: B12Histogram | None, cfg: NonlinFitConfig,
    p_nom: FloatArray, grid: FloatArray, g_pat: FloatArray, b_pat: FloatArray,
    z: FloatArray, n_jobs: int,
) -> tuple[FloatArray, int]:
    if n_jobs <= 1 or z.shape[0] < 2 * n_jobs:
        return _toy_chunk((gammas, b12, cfg, p_nom, grid, g_pat, b_pat, z))
    chunks = np.array_split(z, n_jobs)
    with ProcessPoolExecutor(max_workers=n_jobs) as ex:
        parts = list(ex.map(_toy_chunk, [(gammas, b12, cfg, p_nom, grid, g_pat, b_pat, c)
                                         for c in chunks]))
    return np.concatenate([p[0] for p in parts]), sum(p[1] for p in parts)


def _band_sigma(f_toys: FloatArray, f_nom: FloatArray) -> FloatArray:
    ok = np.all(np.isfinite(f_toys), axis=1)
    rel = f_toys[ok] / f_nom[None, :] - 1.0
    if rel.shape[0] < 2:
        return np.full(f_nom.size, np.nan)
    return np.asarray(np.std(rel, axis=0, ddof=1), dtype=np.float64)


def systematics_band(
    nominal: NonlinFitResult,
    gammas: Sequence[GammaPeak],
    b12: B12Histogram | None,
    effects: Sequence[SystematicEffect] = TABLE2_EFFECTS,
    n_toys: int = 200,
    grid_mev: ArrayLike | None = None,
    seed: int = 12345,
    per_effect: Literal["linear", "toys", "none"] = "linear",
    n_jobs: int = 1,
) -> NonlinBand:
    """±1 sigma band of f_nonlin from toy refits with biased calibration points (section 2.3.7).

    Each toy draws one N(0,1) per correlated effect (moving every gamma point by its own
    fractional size and the 12B energy scale together) and one per point of each single-point
    effect, biases the measured peaks and 12B spectrum accordingly, and refits Eq 2.8 with the
    nominal settings. The band is the standard deviation over the toys of f_toy / f_nominal - 1;
    ``lower``/``upper`` add the fit's own statistical error in quadrature.

    Parameters
    ----------
    nominal : the fit to the unbiased data (its config is reused).
    gammas, b12 : the same inputs as the nominal fit.
    effects : the rows of Table 2 (:data:`TABLE2_EFFECTS`).
    n_toys : number of toys of the combined band.
    grid_mev : kinetic-energy grid [MeV] (default 0.5-12 MeV, 116 points).
    seed : random seed.
    per_effect : "linear" -- each effect alone from two refits per nuisance, at +1 and -1 sigma,
        combined as sqrt((d+^2 + d-^2) / 2) (exact for a fit linear in small shifts, cheap);
        "toys" -- ``n_toys`` toys per effect (the paper's procedure); "none".
    n_jobs : worker processes for the toys.
    """
    grid = (np.linspace(0.5, 12.0, 116) if grid_mev is None
            else np.asarray(grid_mev, dtype=np.float64))
    cfg = nominal.config
    glist = list(gammas)
    sources = [g.source for g in glist]
    p_nom = nominal.fit.values
    f_nom = f_nonlin(grid, p_nom)
    g_pat, b_pat = _effect_patterns(effects, sources)
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n_toys, g_pat.shape[1]))
    f_toys, failed = _run_toys(glist, b12, cfg, p_nom, grid, g_pat, b_pat, z, n_jobs)
    sigma = _band_sigma(f_toys, f_nom)
    contrib: dict[str, FloatArray] = {}
    for eff in effects if per_effect != "none" else ():
        gp, bp = _effect_patterns([eff], sources)
        if gp.shape[1] == 0:
            contrib[eff.name] = np.zeros(grid.size)
            continue
        if per_effect == "toys":
            ze = rng.standard_normal((n_toys, gp.shape[1]))
            ft, _ = _run_toys(glist, b12, cfg, p_nom, grid, gp, bp, ze, n_jobs)
            contrib[eff.name] = _band_sigma(ft, f_nom)
        else:
            eye = np.eye(gp.shape[1])
            ft, _ = _toy_chunk((glist, b12, cfg, p_nom, grid, gp, bp, np.vstack([eye, -eye])))
            # rms of the +1 and -1 sigma shifts, summed over the independent nuisances
            contrib[eff.name] = np.sqrt(0.5 * np.nansum((ft / f_nom[None, :] - 1.0) ** 2, axis=0))
    stat = f_nonlin_sigma(grid, p_nom, nominal.fit.covariance) / f_nom
    total = np.hypot(sigma, stat)
    return NonlinBand(grid_mev=grid, f_nominal=f_nom, sigma_rel=sigma,
                      lower=f_nom * (1.0 - total), upper=f_nom * (1.0 + total),
                      per_effect=contrib, method=per_effect, n_toys=n_toys, n_failed=failed,
                      stat_rel=stat)
