"""Inverse of E -> E_vis^e(E) = E f_nonlin(E) (Eq. 2.3, 2.5): the cubic-Hermite table the energy
scale solves Eq. (2.4) with, and the domain on which the function increases."""

from __future__ import annotations

import numpy as np

from conditions.payloads.nonlinearity import (
    visible_electron_energy,
    visible_electron_energy_slope,
)


class InverseNonlinearity:
    """Vectorised inverse of E_vis^e(E) = E f_nonlin(E) (Eq. 2.3, 2.5) on [e_lo, e_hi].

    A cubic Hermite table in y = E_vis^e, uniform in y, with node values solved by bisection to
    the last bit and node slopes 1 / (dE_vis^e/dE).  The number of intervals is doubled (from
    1024, up to 2**18) until the error at the midpoints and quarter points of every interval is
    below ``atol + rtol * E``.

    Parameters
    ----------
    p : tuple of float
        (p0, p1, p2 [1/MeV], p3 [MeV]) of Eq. (2.5).
    e_lo, e_hi : float
        Energy interval [MeV] on which E f_nonlin(E) must be strictly increasing.
    rtol, atol : float
        Required accuracy (relative, absolute [MeV]) of the table.
    """

    def __init__(
        self,
        p: tuple[float, float, float, float],
        e_lo: float,
        e_hi: float,
        rtol: float = 1e-11,
        atol: float = 1e-13,
    ) -> None:
        self.p = p
        self.e_lo, self.e_hi = float(e_lo), float(e_hi)
        self.rtol, self.atol = rtol, atol
        self.y_lo = float(visible_electron_energy(np.array(e_lo), *p))
        self.y_hi = float(visible_electron_energy(np.array(e_hi), *p))
        if not self.y_lo < self.y_hi:
            raise ValueError("E * f_nonlin(E) is not increasing on [e_lo, e_hi]")
        n = 1024
        while True:
            self._build(n)
            err = self._max_error(n)
            if err <= 1.0 or n >= 1 << 18:
                break
            n *= 2
        #: largest error / (atol + rtol E) at the check points (<= 1 unless the cap was hit)
        self.max_error_ratio = err

    def solve_exact(self, y: np.ndarray) -> np.ndarray:
        """E with E f_nonlin(E) = y by bisection (slow path, exact to the last bit).

        ``y`` must lie in [y_lo, y_hi]; used to build and to check the table.
        """
        y = np.asarray(y, dtype=np.float64)
        lo = np.full(y.shape, self.e_lo)
        hi = np.full(y.shape, self.e_hi)
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            done = (mid <= lo) | (mid >= hi)
            if bool(done.all()):
                break
            above = visible_electron_energy(mid, *self.p) > y
            hi = np.where(above, mid, hi)
            lo = np.where(above, lo, mid)
        # the closer end of the final bracket
        f_lo = np.abs(visible_electron_energy(lo, *self.p) - y)
        f_hi = np.abs(visible_electron_energy(hi, *self.p) - y)
        return np.where(f_lo <= f_hi, lo, hi)

    def _build(self, n: int) -> None:
        self.n = n
        self.dy = (self.y_hi - self.y_lo) / n
        self.inv_dy = n / (self.y_hi - self.y_lo)
        y_nodes = self.y_lo + self.dy * np.arange(n + 1)
        y_nodes[-1] = self.y_hi
        e = self.solve_exact(y_nodes)
        e[0], e[-1] = self.e_lo, self.e_hi
        d = self.dy / visible_electron_energy_slope(e, *self.p)  # dE/ds, s = local coordinate
        e0, e1, d0, d1 = e[:-1], e[1:], d[:-1], d[1:]
        self.c0 = e0.copy()
        self.c1 = d0.copy()
        self.c2 = 3.0 * (e1 - e0) - 2.0 * d0 - d1
        self.c3 = 2.0 * (e0 - e1) + d0 + d1

    def _max_error(self, n: int) -> float:
        rtol, atol = self.rtol, self.atol
        s = np.array([0.25, 0.5, 0.75])
        y = (self.y_lo + self.dy * (np.arange(n)[:, None] + s[None, :])).ravel()
        exact = self.solve_exact(y)
        approx = self.evaluate(y)
        return float(np.max(np.abs(approx - exact) / (atol + rtol * np.abs(exact))))

    def evaluate(self, y: np.ndarray) -> np.ndarray:
        """E(y) from the table.

        ``y`` outside [y_lo, y_hi] is clamped to the end nodes and NaN is treated as y_lo: the
        caller masks those (see :meth:`EnergyScale.positron_energy`).
        """
        t = (np.asarray(y, dtype=np.float64) - self.y_lo) * self.inv_dy
        np.fmax(t, 0.0, out=t)  # fmax/fmin also replace NaN, keeping the index valid
        np.fmin(t, float(self.n), out=t)
        i = t.astype(np.intp)
        np.minimum(i, self.n - 1, out=i)
        t -= i
        out = self.c3[i]
        out *= t
        out += self.c2[i]
        out *= t
        out += self.c1[i]
        out *= t
        out += self.c0[i]
        return out


def _monotone_domain(
    p: tuple[float, float, float, float], e_min: float, e_max: float
) -> tuple[float, float]:
    """Largest [lo, hi] in [0, 2 e_max], containing [e_min, e_max], where E f(E) increases.

    Checked on a 20,001-point grid (step 1e-4 e_max) with the analytic derivative.
    """
    grid = np.linspace(0.0, 2.0 * e_max, 20001)
    with np.errstate(all="ignore"):
        rising = (visible_electron_energy_slope(grid, *p) > 0) & np.isfinite(
            visible_electron_energy(grid, *p)
        )
    i_min = int(np.searchsorted(grid, e_min, side="left"))
    i_max = int(np.searchsorted(grid, e_max, side="right")) - 1
    bad = np.flatnonzero(~rising)
    below, above = bad[bad < i_min], bad[bad > i_max]
    lo = float(grid[below[-1] + 1]) if below.size else 0.0
    hi = float(grid[above[0] - 1]) if above.size else float(grid[-1])
    return min(lo, e_min), max(hi, e_max)
