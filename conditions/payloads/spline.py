"""Fast vectorised evaluation of a 2-D tensor-product B-spline (the g(r, theta) map, section 3.5).

The B-spline ``S(u, v) = sum_ij c[i, j] B_i,ku(u) B_j,kv(v)`` (FITPACK / scipy convention: full
knot vectors ``tu``, ``tv`` including the boundary knots, coefficients of shape
``(len(tu) - ku - 1, len(tv) - kv - 1)``) is converted once, exactly, into its piecewise-polynomial
form: on every knot cell ``[u_a, u_a+1) x [v_b, v_b+1)`` it is a polynomial in the local
coordinates ``s = (u - u_a) / (u_a+1 - u_a)`` and ``t = (v - v_b) / (v_b+1 - v_b)``, whose
coefficients are the scaled Taylor coefficients (derivatives at the cell's lower corner).  A point
then costs one cell look-up and a (ku+1) x (kv+1) Horner scheme, with no per-point Python loop.

Only the base rectangle ``[tu[ku], tu[-ku-1]] x [tv[kv], tv[-kv-1]]`` is evaluated; callers clamp
points outside it (see :meth:`TensorSpline.inside`).
"""

from __future__ import annotations

import math

import numpy as np


def _taylor_table(t: np.ndarray, c: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Breakpoints and scaled Taylor coefficients of the (vector-valued) spline ``(t, c, k)``.

    Returns ``(breaks, coef)`` with ``breaks`` the distinct knots of the base interval and
    ``coef[m, a, ...] = S^(m)(breaks[a]) * width_a**m / m!`` for cell ``a``.
    """
    from scipy.interpolate import BSpline  # here: importing scipy costs every HTTP worker ~1 s

    breaks = np.unique(t[k : len(t) - k])
    left = breaks[:-1]
    width = np.diff(breaks)
    spline = BSpline(t, c, k, extrapolate=False)
    coef = np.empty((k + 1, left.size, *c.shape[1:]), dtype=np.float64)
    for m in range(k + 1):
        deriv = spline.derivative(m) if m else spline
        # BSpline evaluates at x = knot with the cell to the right of it: what we need here
        vals = deriv(left)
        scale = (width**m / math.factorial(m)).reshape(-1, *([1] * (c.ndim - 1)))
        coef[m] = vals * scale
    return breaks, coef


#: Largest look-up table (bins) used to locate cells on non-uniform breakpoints.
MAX_LOOKUP_BINS = 1 << 16


class _Axis:
    """Cell look-up along one axis.

    Equally spaced breakpoints: pure arithmetic.  Otherwise a uniform look-up table with bins
    narrower than the narrowest cell gives the cell of each bin's lower edge; a point is then in
    that cell or the next one (one comparison).  Falls back to ``searchsorted`` when the table
    would exceed :data:`MAX_LOOKUP_BINS`.
    """

    def __init__(self, breaks: np.ndarray) -> None:
        self.breaks = breaks
        self.lo = float(breaks[0])
        self.hi = float(breaks[-1])
        self.ncell = breaks.size - 1
        width = np.diff(breaks)
        self.inv_width = 1.0 / width
        self.uniform = bool(np.allclose(width, width[0], rtol=1e-12, atol=0.0))
        self.inv_step = self.ncell / (self.hi - self.lo)
        self.lookup: np.ndarray | None = None
        if not self.uniform:
            nbins = 2 * math.ceil((self.hi - self.lo) / float(width.min())) + 1
            if nbins <= MAX_LOOKUP_BINS:
                self.inv_bin = nbins / (self.hi - self.lo)
                edges = self.lo + np.arange(nbins) / self.inv_bin
                cells = np.searchsorted(breaks, edges, side="right") - 1
                self.lookup = np.clip(cells, 0, self.ncell - 1).astype(np.intp)
                # upper break of each cell, +inf for the last cell (never step past it)
                self.upper = np.append(breaks[1:-1], np.inf)

    def locate(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cell index and local coordinate in [0, 1] of points ``x`` (already in range)."""
        if self.uniform:
            pos = (x - self.lo) * self.inv_step
            cell = pos.astype(np.intp)
            np.minimum(cell, self.ncell - 1, out=cell)
            np.maximum(cell, 0, out=cell)
            pos -= cell
            return cell, pos
        if self.lookup is not None:
            pos = (x - self.lo) * self.inv_bin
            ibin = pos.astype(np.intp)
            np.minimum(ibin, self.lookup.size - 1, out=ibin)
            cell = self.lookup[ibin]
            cell += x >= self.upper[cell]
        else:
            cell = np.searchsorted(self.breaks, x, side="right") - 1
            np.clip(cell, 0, self.ncell - 1, out=cell)
        local = (x - self.breaks[cell]) * self.inv_width[cell]
        return cell, local


class TensorSpline:
    """Piecewise-polynomial form of a 2-D tensor-product B-spline, evaluated vectorised.

    Parameters
    ----------
    knots_u, knots_v : ndarray, shape (nu + ku + 1,), (nv + kv + 1,)
        Full knot vectors (non-decreasing).
    coefficients : ndarray, shape (nu, nv)
        B-spline coefficients.
    degree_u, degree_v : int
        Polynomial degrees ku, kv (1..5).
    """

    def __init__(
        self,
        knots_u: np.ndarray,
        knots_v: np.ndarray,
        coefficients: np.ndarray,
        degree_u: int,
        degree_v: int,
    ) -> None:
        ku, kv = degree_u, degree_v
        c = np.asarray(coefficients, dtype=np.float64)
        bu, a = _taylor_table(np.asarray(knots_u, dtype=np.float64), c, ku)
        # a: (ku+1, ncu, nv) -> spline in v with coefficients of shape (nv, ku+1, ncu)
        bv, b = _taylor_table(np.asarray(knots_v, dtype=np.float64), a.transpose(2, 0, 1), kv)
        # b: (kv+1, ncv, ku+1, ncu) -> table[mu, mv, cell = iu * ncv + iv]
        self.u = _Axis(bu)
        self.v = _Axis(bv)
        self.ku, self.kv = ku, kv
        table = b.transpose(2, 0, 3, 1).reshape(ku + 1, kv + 1, bu.size - 1, bv.size - 1)
        self.table = np.ascontiguousarray(
            table.reshape((ku + 1) * (kv + 1), (bu.size - 1) * (bv.size - 1))
        )

    @property
    def domain(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """((u_lo, u_hi), (v_lo, v_hi)): the base rectangle of the spline."""
        return (self.u.lo, self.u.hi), (self.v.lo, self.v.hi)

    def inside(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Boolean mask of points inside the base rectangle (edges included)."""
        return (u >= self.u.lo) & (u <= self.u.hi) & (v >= self.v.lo) & (v <= self.v.hi)

    def __call__(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """S(u, v) at points (arrays of equal shape); points outside are clamped to the edge.

        NaN coordinates give NaN.
        """
        u_in = np.asarray(u, dtype=np.float64)
        v_in = np.asarray(v, dtype=np.float64)
        # fmax/fmin (unlike clip) turn NaN into a bound, so that every cell index is valid
        u = np.fmin(np.fmax(u_in, self.u.lo), self.u.hi)
        v = np.fmin(np.fmax(v_in, self.v.lo), self.v.hi)
        iu, s = self.u.locate(u)
        iv, t = self.v.locate(v)
        iu *= self.v.ncell
        iu += iv
        coef = self.table[:, iu]
        kv1 = self.kv + 1
        out = np.zeros_like(s)
        tmp = np.empty_like(s)
        for mu in range(self.ku, -1, -1):
            row = mu * kv1
            np.copyto(tmp, coef[row + self.kv])
            for mv in range(self.kv - 1, -1, -1):
                tmp *= t
                tmp += coef[row + mv]
            out *= s
            out += tmp
        nan = np.isnan(u_in) | np.isnan(v_in)
        if bool(nan.any()):
            out[nan] = np.nan
        return out
