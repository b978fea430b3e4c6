"""Eq. 3.3 and Eq. 2.1: visible energy from the PE sum, the dark-noise offset, Y0 and g.

    E_vis^prompt(r, theta, phi) = (PE_tot - Delta Q_DR) / Y0 / g(r, theta, phi)      (3.3)

with g = 1 it is Eq. 2.1 (E_vis = PE / Y0) after the dark-noise subtraction.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]


def visible_energy(
    pe_total: ArrayLike, delta_q_dr: float, y0: float, g: ArrayLike = 1.0
) -> FloatArray:
    """E_vis [MeV] of Eq. 3.3.

    Parameters
    ----------
    pe_total : array, shape (n,)
        Total PE of each event [PE] (LPMT + SPMT in the paper).
    delta_q_dr : float
        Dark-noise pile-up offset Delta Q_DR [PE] of the same PE sum.
    y0 : float
        Light yield [PE/MeV].
    g : array broadcastable to (n,)
        Non-uniformity g(r, theta, phi) at each vertex (dimensionless; 1 at the centre).
    """
    pe = np.asarray(pe_total, dtype=np.float64)
    return np.asarray((pe - delta_q_dr) / y0 / np.asarray(g, dtype=np.float64))


def pe_from_visible_energy(
    e_vis: ArrayLike, delta_q_dr: float, y0: float, g: ArrayLike = 1.0
) -> FloatArray:
    """Eq. 3.3 read backwards: mean PE_tot [PE] of a deposit of visible energy ``e_vis`` [MeV]."""
    e = np.asarray(e_vis, dtype=np.float64)
    return np.asarray(e * y0 * np.asarray(g, dtype=np.float64) + delta_q_dr)
