"""Dual calorimetry: the pure model of Eqs. (R1)-(R2) (see :mod:`fitting.dualcal`).

Compound-Poisson moments of the linear charge, the moment matrix ``alpha = M' beta`` that
deconvolves the photon statistics, the polynomial response (R1) with its derivative and
inverse, the fit basis and the tabulated correction curves.  No I/O, no state.  Charges in PE.
"""

from __future__ import annotations

from math import comb

import numpy as np
from numpy.typing import NDArray

from fitting.physics.lpmt import invert_monotone

FloatArray = NDArray[np.float64]


def spe_moments(max_order: int, spe_resolution: float) -> FloatArray:
    """Raw moments ``E[X**j]``, j = 0..max_order, of a Gaussian SPE charge N(1, sigma²)."""
    s2 = spe_resolution**2
    out = np.zeros(max_order + 1)
    for j in range(max_order + 1):
        # E[(1 + sigma Z)^j] = sum over even k of C(j,k) sigma^k (k-1)!!
        tot = 0.0
        for k in range(0, j + 1, 2):
            dfact = float(np.prod(np.arange(k - 1, 0, -2))) if k > 0 else 1.0
            tot += comb(j, k) * s2 ** (k // 2) * dfact
        out[j] = tot
    return out


def moment_matrix(degree: int, spe_resolution: float = 0.0, pe_ref: float = 1.0) -> FloatArray:
    """Matrix ``M'`` of Eq. (R2) in reduced units: ``alpha = M' @ beta``.

    ``E[q0**j]`` for a compound Poisson ``q0`` (Poisson mean ``mu``, SPE moments ``nu``) is
    built from its cumulants ``kappa_j = mu nu_j`` with the moment-cumulant recursion
    ``m_n = sum_k C(n-1,k) kappa_{k+1} m_{n-1-k}``.  With ``u = mu/pe_ref`` the element is
    ``M'[k, j] = [mu**k] E[q0**j] * pe_ref**(k - j)`` (rows/cols 1..degree, returned 0-based).

    For ``spe_resolution = 0`` the columns are Stirling numbers of the second kind
    (Touchard polynomials).
    """
    nu = spe_moments(degree, spe_resolution)
    # m[n] is a polynomial in mu: coefficient array of length degree+1
    m = [np.zeros(degree + 1) for _ in range(degree + 1)]
    m[0][0] = 1.0
    for n in range(1, degree + 1):
        acc = np.zeros(degree + 1)
        for k in range(n):
            kappa = np.zeros(degree + 1)
            kappa[1] = nu[k + 1]  # kappa_{k+1} = nu_{k+1} * mu
            prod = np.convolve(kappa, m[n - 1 - k])[: degree + 1]
            acc += comb(n - 1, k) * prod
        m[n] = acc
    out = np.zeros((degree, degree))
    for j in range(1, degree + 1):
        for k in range(1, degree + 1):
            out[k - 1, j - 1] = m[j][k] * pe_ref ** (k - j)
    return out


def poly_eval(coeffs: FloatArray, x: FloatArray) -> FloatArray:
    """Evaluate ``sum_{j=1..d} coeffs[..., j-1] * x**j`` (no constant term), broadcasting.

    ``coeffs`` has shape (..., d); ``x`` broadcasts against ``coeffs[..., 0]``.
    """
    out = np.zeros(np.broadcast_shapes(coeffs.shape[:-1], np.shape(x)))
    for j in range(coeffs.shape[-1] - 1, -1, -1):  # Horner
        out = (out + coeffs[..., j]) * x
    return out


def poly_deriv(coeffs: FloatArray, x: FloatArray) -> FloatArray:
    """Derivative of :func:`poly_eval` with respect to ``x``."""
    d = coeffs.shape[-1]
    out = np.zeros(np.broadcast_shapes(coeffs.shape[:-1], np.shape(x)))
    for j in range(d - 1, -1, -1):
        out = out * x + (j + 1) * coeffs[..., j]
    return out


def invert_response(
    coeffs: FloatArray, y: FloatArray, n_iter: int = 30, tol: float = 1e-12
) -> FloatArray:
    """Solve ``poly_eval(coeffs, x) = y`` for ``x`` (vectorised safeguarded Newton).

    ``coeffs`` shape (..., d) broadcasting against ``y``; the polynomial is assumed
    increasing on the relevant range (status NON_MONOTONIC otherwise).  Starts from
    ``x = y / coeffs[..., 0]`` and keeps ``x >= 0``.
    """
    y = np.asarray(y, dtype=np.float64)
    x = np.maximum(y / coeffs[..., 0], 0.0)
    for _ in range(n_iter):
        fx = poly_eval(coeffs, x) - y
        dfx = poly_deriv(coeffs, x)
        step = np.where(dfx > 0, fx / np.where(dfx > 0, dfx, 1.0), 0.0)
        x_new = np.maximum(x - step, 0.5 * x)
        if np.all(np.abs(x_new - x) <= tol * (1.0 + np.abs(x))):
            return x_new
        x = x_new
    return x


def design(x: FloatArray, degree: int) -> FloatArray:
    """Power basis through the origin, shape (K, d): ``x**j``, j = 1..d."""
    return np.stack([x**j for j in range(1, degree + 1)], axis=1)




def legendre_design(x: FloatArray, degree: int) -> tuple[FloatArray, FloatArray]:
    """Well-conditioned basis ``x * P_j(2x-1)`` (j = 0..d-1) and its map to the power basis.

    Returns ``(B, T)`` with ``B`` shape (K, d) and ``T`` shape (d, d) such that
    ``B @ c = X_power @ (T @ c)``.
    """
    leg = np.polynomial.legendre
    basis = np.empty((len(x), degree))
    to_power = np.zeros((degree, degree))
    for j in range(degree):
        unit = np.zeros(j + 1)
        unit[j] = 1.0
        # Legendre P_j(2x - 1) as a power series in x
        pj = np.polynomial.Polynomial(leg.leg2poly(unit))(np.polynomial.Polynomial([-1.0, 2.0]))
        coef = np.zeros(degree)
        coef[: len(pj.coef)] = pj.coef  # coefficient of x**i in P_j(2x-1)
        basis[:, j] = x * pj(x)
        # x * P_j(2x-1) = sum_i coef[i] x**(i+1): power-basis index i (for x**(i+1))
        to_power[:, j] = coef
    return basis, to_power


def ratio_roughness(degree: int, x_min: float, n_nodes: int = 512) -> FloatArray:
    """Roughness (P1) of the response ratio in log-charge, basis of :func:`legendre_design`.

    For the mean response ``<q>(x) = sum_j c_j x P_j(2x - 1)`` the ratio is
    ``r(x) = <q>/x = sum_j c_j P_j(2x - 1)`` and, with ``t = ln x`` (``d/dt = x d/dx``),

        R[c] = int_{ln x_min}^{0} (d^3 r / dt^3)^2 dt = c^T Omega c,
        d^3 r / dt^3 = x r^(1) + 3 x^2 r^(2) + x^3 r^(3).                         (P1)

    A saturating channel's ratio falls smoothly from 1 over decades of charge with a slowly
    varying log-slope and curvature (power-law, exponential and dead-time saturation alike), so
    (P1) is the smoothness prior between widely spaced laser steps; it vanishes only for a
    constant ratio (a linear channel) and, unlike a curvature penalty, does not pull a
    saturating ratio towards a straight line in ``t``.  Trapezoidal rule on ``n_nodes`` nodes.
    Returns ``Omega`` of shape (degree, degree).
    """
    leg = np.polynomial.legendre
    t = np.linspace(np.log(x_min), 0.0, n_nodes)
    xq = np.exp(t)
    rows = np.empty((degree, n_nodes))
    shift = np.polynomial.Polynomial([-1.0, 2.0])
    for j in range(degree):
        unit = np.zeros(j + 1)
        unit[j] = 1.0
        pj = np.polynomial.Polynomial(leg.leg2poly(unit))(shift)
        # d^3 r / dt^3 with d/dt = x d/dx
        rows[j] = xq * pj.deriv(1)(xq) + 3.0 * xq**2 * pj.deriv(2)(xq) + xq**3 * pj.deriv(3)(xq)
    wt = np.full(n_nodes, t[1] - t[0])
    wt[[0, -1]] *= 0.5
    return np.asarray((rows * wt) @ rows.T)


def correction_curves(
    beta: FloatArray, v_top: FloatArray, charge_grid: FloatArray, pe_ref: float
) -> FloatArray:
    """Tabulate ``q0 = f^{-1}(q)`` [PE] on ``charge_grid`` for each row of ``beta``.

    Inside the scanned range (true reduced PE ``v <= v_top``, where the response was checked
    to increase) the polynomial (R1) is inverted exactly by bisection
    (:func:`fitting.physics.lpmt.invert_monotone`: converges for any increasing response, no
    Newton overshoot on flat stretches); above it the response is continued linearly with the
    slope at ``v_top`` instead of trusting the polynomial's extrapolation.
    """
    y = charge_grid[None, :] / pe_ref
    y_top = poly_eval(beta, v_top)[:, None]
    s_top = poly_deriv(beta, v_top)[:, None]
    b3 = beta[:, None, :]
    inside = invert_monotone(lambda v: poly_eval(b3, v), np.minimum(y, y_top), v_top)
    above = v_top[:, None] + (y - y_top) / s_top
    return np.asarray(pe_ref * np.where(y <= y_top, inside, above), dtype=np.float64)


