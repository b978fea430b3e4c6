"""Pure cost functions shared by the fits, as residual vectors for least squares.

Each function returns residuals ``r`` whose sum of squares is the cost (a chi2 or a
likelihood chi2), and, where a model gradient is given, the Jacobian ``dr/dtheta`` by the chain
rule. Conventions follow iminuit's ``cost.py`` (Baker & Cousins 1984 for the Poisson case).

* :func:`poisson_deviance` -- binned Poisson likelihood chi2, 2 sum (nu - n + n ln(n / nu)),
  exact for any count including 0 (the peak fits, the 12B spectrum option ``"poisson"``);
* :func:`neyman` -- sum (nu - n)^2 / n, Eq 2.8's 12B term (n > 0 required);
* :func:`pearson` -- sum (nu - n)^2 / nu;
* :func:`gaussian` -- sum ((model - y) / sigma)^2 (gamma peaks of Eq 2.8, constraints).

Shapes: ``n``, ``nu`` (J,); ``dnu`` (J, P) the model gradient; residuals (J,), Jacobian (J, P).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.special import xlogy

FloatArray = NDArray[np.float64]


def poisson_deviance(nu: FloatArray, n: FloatArray) -> FloatArray:
    """Signed square roots of the Poisson deviance terms 2 (nu - n + n ln(n / nu)), shape (J,).

    The sum of squares is the Baker-Cousins likelihood chi2; smooth at nu = n; empty bins give
    sqrt(2 nu). The sign is that of nu - n.
    """
    nu = np.maximum(nu, 1e-300)
    d = 2.0 * (nu - n + xlogy(n, n) - xlogy(n, nu))
    return np.asarray(np.sign(nu - n) * np.sqrt(np.maximum(d, 0.0)), dtype=np.float64)


def poisson_deviance_jac(nu: FloatArray, n: FloatArray,
                         dnu: FloatArray) -> tuple[FloatArray, FloatArray]:
    """:func:`poisson_deviance` and its Jacobian from the model gradient ``dnu`` (J, P)."""
    pp = np.maximum(nu, 1e-300)
    r = poisson_deviance(pp, n)
    near = np.abs(pp - n) <= 1e-7 * pp
    safe_r = np.where(near, 1.0, r)
    drdnu = np.where(near, 1.0 / np.sqrt(pp), (1.0 - n / pp) / safe_r)
    return r, dnu * drdnu[:, None]


def neyman(nu: FloatArray, n: FloatArray, dnu: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(nu - n) / sqrt(n) and its Jacobian (Neyman's chi2; every n must be > 0)."""
    s = np.sqrt(n)
    return (nu - n) / s, dnu / s[:, None]


def pearson(nu: FloatArray, n: FloatArray, dnu: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(nu - n) / sqrt(nu) and its Jacobian (Pearson's chi2)."""
    pp = np.maximum(nu, 1e-300)
    r = (nu - n) / np.sqrt(pp)
    drdnu = (pp + n) / (2.0 * pp**1.5)
    return r, dnu * drdnu[:, None]


def gaussian(model: FloatArray, y: FloatArray, sigma: FloatArray,
             dmodel: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(model - y) / sigma and its Jacobian (least-squares chi2 of Gaussian measurements)."""
    return (model - y) / sigma, dmodel / sigma[:, None]
