"""Per-channel LPMT charge correction curves (paper section 2.2), shared by every user.

A correction curve maps the measured charge q of one LPMT hit to the linearised ("true") charge
q0 [PE].  Curves are tabulated on one common, increasing grid of measured charge; between nodes
they are linear and beyond the ends they continue the end segments.

:func:`interpolate_curves` applies them to hits (the energy scale, drift checks, the fit's own
residuals); :func:`invert_monotone` tabulates a curve from a fitted monotone response
q = f(q0) by bracketing bisection, which converges for every increasing f (no Newton
overshoot on flat stretches).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]


def interpolate_curves(
    charge_grid: ArrayLike, curves: ArrayLike, rows: ArrayLike, charge: ArrayLike
) -> FloatArray:
    """Linearised charge [PE] of hits: ``curves[rows](charge)``, piecewise linear.

    Parameters
    ----------
    charge_grid : shape (G,), strictly increasing measured-charge nodes [PE]
    curves : shape (C, G), linearised charge at the nodes [PE]
    rows : shape (N,), row of ``curves`` of each hit (0-based index, not a channel id)
    charge : shape (N,), measured charge of each hit [PE]
    """
    grid = np.asarray(charge_grid, dtype=np.float64)
    table = np.asarray(curves)
    r = np.asarray(rows, dtype=np.intp)
    q = np.asarray(charge, dtype=np.float64)
    k = np.searchsorted(grid, q, side="right") - 1
    np.clip(k, 0, grid.size - 2, out=k)
    t = (q - grid[k]) / (grid[k + 1] - grid[k])
    y0 = table[r, k].astype(np.float64)
    y1 = table[r, k + 1].astype(np.float64)
    return np.asarray(y0 + t * (y1 - y0))


def invert_monotone(
    response: Callable[[FloatArray], FloatArray],
    targets: ArrayLike,
    x_hi: ArrayLike,
    n_iter: int = 60,
) -> FloatArray:
    """Solve ``response(x) = target`` on ``[0, x_hi]`` by bisection, vectorised over rows.

    ``response`` maps an array of shape (C, G) of x to f(x) of the same shape, row c being
    channel c's increasing function with f(0) = 0; ``targets`` has shape (C, G) and ``x_hi``
    shape (C,) (the top of the range where f is known to increase).  Targets above
    ``f(x_hi)`` return ``x_hi`` (the caller continues the curve linearly there).  After
    ``n_iter`` halvings the bracket is ``x_hi / 2**n_iter`` wide (1e-18 relative for 60).
    """
    y = np.asarray(targets, dtype=np.float64)
    hi = np.broadcast_to(np.asarray(x_hi, dtype=np.float64)[:, None], y.shape).copy()
    lo = np.zeros_like(y)
    for _ in range(n_iter):
        mid = 0.5 * (lo + hi)
        above = response(mid) > y
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    return np.asarray(0.5 * (lo + hi))
