"""Cosmogenic 12B beta decays (paper section 2.1.1 / 2.1.3): allowed spectrum with Fermi function.

12B -> 12C + e- + anti-nu, ground-state branch only (98.2 %; the 1.3 % branch to the 4.44 MeV
level is neglected), Q = 13.369 MeV. The allowed spectrum of the electron kinetic energy T is

    dN/dT ∝ p W (Q - T)^2 F(Z, W),      W = T + m_e (total energy), p = sqrt(W^2 - m_e^2),

with the relativistic Fermi function (point nucleus of radius R evaluated at the surface)

    F(Z, W) = 2 (1 + gamma0) (2 p R)^(2 gamma0 - 2) exp(pi eta) |Gamma(gamma0 + i eta)|^2
              / Gamma(2 gamma0 + 1)^2,
    gamma0 = sqrt(1 - (alpha Z)^2), eta = alpha Z W / p,  Z = 6 (daughter), R = 1.2 A^(1/3) fm.

Finite-size, screening and radiative corrections are neglected (< 1 % on the shape).
Energies in MeV; positions in mm.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from fitting.physics.b12 import B12_Q_MEV, b12_spectrum, fermi_function

FloatArray = NDArray[np.float64]
__all__ = ["B12_Q_MEV", "b12_spectrum", "fermi_function"]

def b12_pdf_grid(n: int = 20_000, q_mev: float = B12_Q_MEV) -> tuple[FloatArray, FloatArray]:
    """(T grid [MeV], normalised pdf [1/MeV]) on a uniform grid for numerical use."""
    t = np.linspace(0.0, q_mev, n)
    pdf = b12_spectrum(t, q_mev)
    pdf /= np.trapezoid(pdf, t)
    return t, pdf


def sample_b12_kinetic(n_events: int, rng: np.random.Generator,
                       q_mev: float = B12_Q_MEV) -> FloatArray:
    """Sample electron kinetic energies [MeV] from the allowed 12B spectrum (inverse CDF)."""
    t, pdf = b12_pdf_grid(q_mev=q_mev)
    cdf = np.concatenate(([0.0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]) * np.diff(t))))
    cdf /= cdf[-1]
    return np.asarray(np.interp(rng.random(n_events), cdf, t))


def uniform_in_sphere(n: int, radius_mm: float, rng: np.random.Generator) -> FloatArray:
    """n positions uniform in a sphere of ``radius_mm`` [mm], shape (n, 3)."""
    r = radius_mm * np.cbrt(rng.random(n))
    cos_t = 2.0 * rng.random(n) - 1.0
    phi = 2.0 * np.pi * rng.random(n)
    sin_t = np.sqrt(1.0 - cos_t**2)
    return np.stack((r * sin_t * np.cos(phi), r * sin_t * np.sin(phi), r * cos_t), axis=1)
