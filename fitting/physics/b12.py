"""Shape of the 12B beta spectrum (paper sections 2.1.1, 2.1.3), numpy only.

12B -> 12C + e- + anti-nu, ground-state branch (98.2 %), Q = 13.369 MeV.  Allowed shape of the
electron kinetic energy T [MeV]:

    dN/dT ∝ p W (Q - T)^2 F(Z, W),      W = T + m_e,  p = sqrt(W^2 - m_e^2),

with the relativistic Fermi function at the nuclear surface

    F(Z, W) = 2 (1 + g0) (2 p R)^(2 g0 - 2) exp(pi eta) |Gamma(g0 + i eta)|^2 / Gamma(2 g0 + 1)^2,
    g0 = sqrt(1 - (alpha Z)^2), eta = alpha Z W / p, Z = 6, R = 1.2 A^(1/3) fm.

Finite-size, screening and radiative corrections are neglected (< 1 % on the shape).  This is
what a simulation writes into the declared 12B spectrum input of a campaign; the fits read the
spectrum from that input, not from here.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fitting.physics.sources import ELECTRON_MASS_MEV

FloatArray = NDArray[np.float64]

B12_Q_MEV: float = 13.369
"""Q value of the 12B ground-state beta decay [MeV]."""
B12_DAUGHTER_Z: int = 6
B12_MASS_NUMBER: int = 12
FINE_STRUCTURE: float = 1.0 / 137.035999
HBAR_C_MEV_FM: float = 197.3269804

_STIRLING = (1.0 / 12.0, -1.0 / 360.0, 1.0 / 1260.0, -1.0 / 1680.0, 1.0 / 1188.0)


def log_gamma(z: ArrayLike) -> NDArray[np.complex128]:
    """Complex log Gamma(z) for Re z > 0 (Stirling series after shifting Re z above 10).

    Accurate to ~1e-14 there; ``np.real`` of it is ln|Gamma(z)|.
    """
    w = np.asarray(z, dtype=np.complex128).copy()
    shift = np.zeros_like(w)
    for _ in range(12):
        small = w.real < 10.0
        if not bool(small.any()):
            break
        shift = np.where(small, shift + np.log(w), shift)
        w = np.where(small, w + 1.0, w)
    inv = 1.0 / w
    inv2 = inv * inv
    series = np.zeros_like(w)
    for c in reversed(_STIRLING):
        series = series * inv2 + c
    out = (w - 0.5) * np.log(w) - w + 0.5 * np.log(2.0 * np.pi) + series * inv
    return np.asarray(out - shift)


def fermi_function(kinetic_mev: ArrayLike, z_daughter: int = B12_DAUGHTER_Z,
                   mass_number: int = B12_MASS_NUMBER) -> FloatArray:
    """Relativistic Fermi function F(Z, W) for beta- decay (dimensionless), T [MeV] > 0."""
    t = np.maximum(np.asarray(kinetic_mev, dtype=np.float64), 1.0e-9)
    w = t + ELECTRON_MASS_MEV
    p = np.sqrt(w**2 - ELECTRON_MASS_MEV**2)
    az = FINE_STRUCTURE * z_daughter
    gamma0 = np.sqrt(1.0 - az**2)
    eta = az * w / p
    radius = 1.2 * mass_number ** (1.0 / 3.0) / HBAR_C_MEV_FM  # [1/MeV]
    log_f = (
        np.log(2.0 * (1.0 + gamma0))
        + (2.0 * gamma0 - 2.0) * np.log(2.0 * p * radius)
        + np.pi * eta
        + 2.0 * np.real(log_gamma(gamma0 + 1j * eta))
        - 2.0 * np.real(log_gamma(np.array(2.0 * gamma0 + 1.0)))
    )
    return np.asarray(np.exp(log_f))


def b12_spectrum(kinetic_mev: ArrayLike, q_mev: float = B12_Q_MEV) -> FloatArray:
    """Unnormalised allowed 12B spectrum dN/dT at electron kinetic energy T [MeV]."""
    t = np.asarray(kinetic_mev, dtype=np.float64)
    w = t + ELECTRON_MASS_MEV
    p = np.sqrt(np.clip(w**2 - ELECTRON_MASS_MEV**2, 0.0, None))
    shape = p * w * np.clip(q_mev - t, 0.0, None) ** 2 * fermi_function(t)
    return np.asarray(np.where((t > 0.0) & (t < q_mev), shape, 0.0))
