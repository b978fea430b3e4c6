"""Physics energy non-linearity f_nonlin: Eq 2.5, its integrated gamma form Eq 2.6/2.7, inverse.

numpy-only leaf module (paper sections 2.1.2-2.1.3). Energies in MeV.

* Eq 2.5:  f_nonlin(E) = (p0 + p3 / E) / (1 + p1 exp(-p2 E)),  E kinetic energy [MeV];
  E_vis^e(E) = f_nonlin(E) E = (p0 E + p3) / (1 + p1 exp(-p2 E))  (Eq 2.3).
* Eq 2.6/2.7:  E_vis^gamma = I * Int_0^{E^gamma} P(E^e) f_nonlin(E^e) E^e dE^e,
  I = E^gamma / Int P(E^e) E^e dE^e.

The p3 / E term and low energies.  E f(E) tends to p3 / (1 + p1) != 0 as E -> 0: applied to
each secondary electron of P(E^e) the form would give every (even zero-energy) electron a
fixed visible energy, so a gamma's prediction would depend on its electron *multiplicity*
(many soft Compton electrons), not on its energy -- the "misbehaviour" GUIDE section 5 warns
of. The paper fits the form to the integrated response; here it is applied per electron only
above ``e_reg_mev`` and continued below it as E_vis^e = E f(e_reg) (constant quenching factor,
E_vis^e(0) = 0, continuous at e_reg). :func:`regularised_visible_energy` does this;
``e_reg_mev = 0`` restores the bare per-electron form.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

#: identifier of the model stored in the payload
MODEL_ID = "juno-calib-eq2.5-4par"
PARAM_NAMES = ("p0", "p1", "p2", "p3")


def _params(p: ArrayLike) -> tuple[float, float, float, float]:
    p0, p1, p2, p3 = (float(v) for v in np.asarray(p, dtype=np.float64))
    return p0, p1, p2, p3


def f_nonlin(e_mev: ArrayLike, p: ArrayLike) -> FloatArray:
    """Eq 2.5: f_nonlin(E) = (p0 + p3 / E) / (1 + p1 exp(-p2 E)); E kinetic energy [MeV] > 0."""
    e = np.asarray(e_mev, dtype=np.float64)
    p0, p1, p2, p3 = _params(p)
    return np.asarray((p0 + p3 / e) / (1.0 + p1 * np.exp(-p2 * e)), dtype=np.float64)


def electron_visible_energy(e_mev: ArrayLike, p: ArrayLike) -> FloatArray:
    """E_vis^e = f_nonlin(E) E = (p0 E + p3) / (1 + p1 exp(-p2 E)) [MeV] (Eq 2.3, 2.5)."""
    e = np.asarray(e_mev, dtype=np.float64)
    p0, p1, p2, p3 = _params(p)
    return np.asarray((p0 * e + p3) / (1.0 + p1 * np.exp(-p2 * e)), dtype=np.float64)


def visible_energy_and_grad(e_mev: ArrayLike, p: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """E f(E) [MeV] and its gradient w.r.t. (p0, p1, p2, p3): shapes (K,) and (K, 4)."""
    e = np.atleast_1d(np.asarray(e_mev, dtype=np.float64))
    p0, p1, p2, p3 = _params(p)
    ex = np.exp(-p2 * e)
    den = 1.0 + p1 * ex
    num = p0 * e + p3
    g = np.empty((e.size, 4))
    g[:, 0] = e / den
    g[:, 1] = -num * ex / den**2
    g[:, 2] = num * p1 * e * ex / den**2
    g[:, 3] = 1.0 / den
    return num / den, g


def regularised_visible_energy(
    e_mev: ArrayLike, p: ArrayLike, e_reg_mev: float
) -> tuple[FloatArray, FloatArray]:
    """Per-electron E_vis^e of Eq 2.5 continued as E f(e_reg) below ``e_reg_mev`` (module doc).

    Returns (E_vis^e (K,), gradient (K, 4)); ``e_reg_mev <= 0`` gives the bare form.
    """
    e = np.atleast_1d(np.asarray(e_mev, dtype=np.float64))
    ev, g = visible_energy_and_grad(e, p)
    if e_reg_mev <= 0.0:
        return ev, g
    low = e < e_reg_mev
    if np.any(low):
        ev_r, g_r = visible_energy_and_grad(np.array([e_reg_mev]), p)
        ratio = e[low] / e_reg_mev
        ev = ev.copy()
        ev[low] = ratio * ev_r[0]
        g[low] = ratio[:, None] * g_r[0][None, :]
    return ev, g


def f_nonlin_grad(e_mev: ArrayLike, p: ArrayLike) -> FloatArray:
    """Gradient of Eq 2.5 w.r.t. (p0, p1, p2, p3), shape (n, 4)."""
    e = np.atleast_1d(np.asarray(e_mev, dtype=np.float64))
    _, g = visible_energy_and_grad(e, p)
    return g / e[:, None]


def f_nonlin_sigma(e_mev: ArrayLike, p: ArrayLike, covariance: ArrayLike) -> FloatArray:
    """1 sigma of f_nonlin(E) from the p0..p3 covariance (linear propagation), shape (n,)."""
    g = f_nonlin_grad(e_mev, p)
    cov = np.asarray(covariance, dtype=np.float64)
    return np.asarray(np.sqrt(np.maximum(np.einsum("ni,ij,nj->n", g, cov, g), 0.0)))


def visible_energy_slope(e_mev: ArrayLike, p: ArrayLike) -> FloatArray:
    """d E_vis^e / dE = (p0 den + num p1 p2 e^{-p2 E}) / den^2 (dimensionless)."""
    e = np.asarray(e_mev, dtype=np.float64)
    p0, p1, p2, p3 = _params(p)
    ex = np.exp(-p2 * e)
    den = 1.0 + p1 * ex
    num = p0 * e + p3
    return np.asarray((p0 * den + num * p1 * p2 * ex) / den**2, dtype=np.float64)


def gamma_visible_energy_integrated(
    energies_mev: ArrayLike, counts: ArrayLike, e_gamma_mev: float, p: ArrayLike,
    e_reg_mev: float = 0.0,
) -> tuple[float, FloatArray]:
    """Eq 2.6/2.7 for one source from its binned P(E^e): (E_vis^gamma [MeV], gradient (4,)).

    ``energies_mev`` (K,) mean electron energy per bin, ``counts`` (K,) electrons per gamma
    event in the bin; I = E^gamma / sum(counts * energies) (Eq 2.7).
    """
    e = np.asarray(energies_mev, dtype=np.float64)
    n = np.asarray(counts, dtype=np.float64)
    norm = float(e_gamma_mev / np.sum(n * e))
    ev, g = regularised_visible_energy(e, p, e_reg_mev)
    return norm * float(np.sum(n * ev)), norm * (n @ g)


def invert_electron_visible_energy(
    e_vis_e_mev: ArrayLike, p: ArrayLike, e_max_mev: float = 20.0
) -> FloatArray:
    """Solve E f_nonlin(E) = E_vis^e for the kinetic energy E [MeV] (vectorised).

    Table interpolation on a fine grid followed by Newton steps, each kept inside the grid
    cell bracketing the root (so it cannot overshoot); E_vis^e outside the table maps to nan.
    Requires E f(E) increasing on (0, e_max], true for any physical fit (ValueError otherwise).
    """
    y = np.asarray(e_vis_e_mev, dtype=np.float64)
    grid = np.linspace(1e-3, e_max_mev, 20001)
    table = electron_visible_energy(grid, p)
    if np.any(np.diff(table) <= 0):
        raise ValueError("E f_nonlin(E) is not increasing: the curve cannot be inverted")
    e = np.interp(y, table, grid, left=np.nan, right=np.nan)
    step = grid[1] - grid[0]
    lo = np.clip(e - step, grid[0], None)
    hi = np.clip(e + step, None, grid[-1])
    for _ in range(3):
        e = e - (electron_visible_energy(e, p) - y) / visible_energy_slope(e, p)
        e = np.clip(e, lo, hi)
    return np.asarray(e, dtype=np.float64)


def reconstruct_positron_energy(
    e_vis_prompt_mev: ArrayLike, e_vis_anni_mev: float, p: ArrayLike
) -> FloatArray:
    """Eq 2.4: E_rec^{e+} = (E_vis^prompt - E_vis^anni) / f_nonlin, as the kinetic energy [MeV].

    f_nonlin depends on the unknown E^{e+}, so E_rec solves E f_nonlin(E) = E_vis^prompt -
    E_vis^anni (Eq 2.2).
    """
    e_vis_e = np.asarray(e_vis_prompt_mev, dtype=np.float64) - e_vis_anni_mev
    return invert_electron_visible_energy(e_vis_e, p)
