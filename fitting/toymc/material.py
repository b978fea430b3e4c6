"""Liquid-scintillator (LAB) material model: electron stopping power and photon cross sections.

Everything here is an *approximation* chosen to be simple, vectorised and documented; it is good
to a few percent, which is enough for a mock detector whose truth is known exactly.

Composition: linear alkylbenzene ~ C18H30, mass fractions C 0.878 / H 0.122, density 0.86 g/cm^3,
mean excitation energy I = 60 eV (between polyethylene 57.4 eV and toluene 62.5 eV).

Photon interactions (used by the gamma cascade of :mod:`fitting.toymc.gammas`, paper Eq. 2.6):

* Compton scattering: free-electron Klein-Nishina cross section (no binding / Doppler
  correction; the incoherent scattering function would lower it by < 10 % below 50 keV,
  where photoabsorption already dominates). Rayleigh scattering is neglected (no energy
  deposit).
* Photoabsorption: carbon only (hydrogen is negligible), power law
  sigma_pe/rho = 1.91 cm^2/g * (10 keV / E)^3.3, a fit to the NIST XCOM carbon values between
  10 and 100 keV (about +-20 %). The photoelectron takes the full photon energy (carbon K-shell
  binding 0.28 keV deposited at the same point, treated as part of the electron).
* Pair production (nuclear + electron field): carbon cross section per gram interpolated
  (log-log) in a short table approximating XCOM between threshold and 10 MeV, hydrogen scaled
  by Z(Z+1)/A relative to carbon. Triplet kinematics are not distinguished.

Units: energies in MeV, lengths in cm inside this module, cross sections as linear attenuation
coefficients mu [1/cm].
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

ELECTRON_MASS_MEV: float = 0.51099895
"""m_e c^2 [MeV]."""
CLASSICAL_ELECTRON_RADIUS_CM: float = 2.8179403262e-13
"""r_e [cm]."""
AVOGADRO: float = 6.02214076e23
"""N_A [1/mol]."""
K_BETHE: float = 2.0 * np.pi * AVOGADRO * CLASSICAL_ELECTRON_RADIUS_CM**2 * ELECTRON_MASS_MEV
"""2 pi N_A r_e^2 m_e c^2 = 0.153537 [MeV cm^2 / mol]."""

LS_DENSITY_G_CM3: float = 0.86
"""LAB density [g/cm^3]."""
LS_MASS_FRACTION_C: float = 0.878
LS_MASS_FRACTION_H: float = 0.122
LS_Z_OVER_A: float = LS_MASS_FRACTION_C * 6.0 / 12.011 + LS_MASS_FRACTION_H * 1.0 / 1.008
"""Electrons per nucleon mass unit <Z/A> of LAB [mol/g] (0.5596)."""
LS_MEAN_EXCITATION_MEV: float = 60.0e-6
"""Mean excitation energy I of LAB [MeV]."""
LS_ELECTRON_DENSITY_CM3: float = LS_DENSITY_G_CM3 * AVOGADRO * LS_Z_OVER_A
"""Electron density n_e [1/cm^3]."""

_PAIR_E_MEV = np.array([1.022, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0, 20.0])
_PAIR_C_CM2_G = np.array(
    [0.0, 1.8e-5, 6.2e-5, 2.9e-4, 9.3e-4, 1.52e-3, 2.06e-3, 2.53e-3, 2.95e-3, 3.33e-3, 3.97e-3,
     6.1e-3]
)
_PAIR_H_OVER_C_PER_GRAM = (1.0 * 2.0 / 1.008) / (6.0 * 7.0 / 12.011)


def beta_squared(kinetic_mev: FloatArray | float) -> FloatArray:
    """Return beta^2 = 1 - 1/gamma^2 of an electron of kinetic energy T [MeV]."""
    gamma = 1.0 + np.asarray(kinetic_mev, dtype=np.float64) / ELECTRON_MASS_MEV
    return np.asarray(1.0 - 1.0 / gamma**2)


def electron_stopping_power(kinetic_mev: FloatArray | float) -> FloatArray:
    """Collision stopping power of electrons in LAB, S/rho [MeV cm^2 / g].

    Rohrlich-Carlson (ICRU 37) formula for electrons without density-effect correction
    (delta < 1 % below 20 MeV in LS):
    S/rho = K <Z/A> / beta^2 [ ln(tau^2 (tau+2) / (2 (I/mc^2)^2)) + F(tau) ],
    F(tau) = 1 - beta^2 + (tau^2/8 - (2 tau + 1) ln 2) / (tau + 1)^2, tau = T / mc^2.
    Below 1 keV the formula is unreliable; the value at 1 keV is used (constant).
    """
    t = np.maximum(np.asarray(kinetic_mev, dtype=np.float64), 1.0e-3)
    tau = t / ELECTRON_MASS_MEV
    b2 = beta_squared(t)
    i_rel = LS_MEAN_EXCITATION_MEV / ELECTRON_MASS_MEV
    log_term = np.log(tau**2 * (tau + 2.0) / (2.0 * i_rel**2))
    f_minus = 1.0 - b2 + (tau**2 / 8.0 - (2.0 * tau + 1.0) * np.log(2.0)) / (tau + 1.0) ** 2
    return np.asarray(K_BETHE * LS_Z_OVER_A / b2 * (log_term + f_minus))


def klein_nishina_per_electron_cm2(energy_mev: FloatArray) -> FloatArray:
    """Total Klein-Nishina cross section per free electron [cm^2] at photon energy E [MeV]."""
    k = np.asarray(energy_mev, dtype=np.float64) / ELECTRON_MASS_MEV
    k = np.maximum(k, 1.0e-6)
    ln12k = np.log1p(2.0 * k)
    term1 = (1.0 + k) / k**2 * (2.0 * (1.0 + k) / (1.0 + 2.0 * k) - ln12k / k)
    term2 = ln12k / (2.0 * k) - (1.0 + 3.0 * k) / (1.0 + 2.0 * k) ** 2
    sigma = 2.0 * np.pi * CLASSICAL_ELECTRON_RADIUS_CM**2 * (term1 + term2)
    # Thomson limit for tiny k where the closed form loses precision.
    thomson = 8.0 / 3.0 * np.pi * CLASSICAL_ELECTRON_RADIUS_CM**2 * (1.0 - 2.0 * k)
    return np.asarray(np.where(k < 1.0e-3, thomson, sigma))


def mu_compton(energy_mev: FloatArray) -> FloatArray:
    """Compton linear attenuation coefficient in LS [1/cm]."""
    return LS_ELECTRON_DENSITY_CM3 * klein_nishina_per_electron_cm2(energy_mev)


def mu_photoelectric(energy_mev: FloatArray) -> FloatArray:
    """Photoabsorption linear attenuation coefficient in LS [1/cm] (carbon power law)."""
    e = np.maximum(np.asarray(energy_mev, dtype=np.float64), 1.0e-4)
    return np.asarray(LS_DENSITY_G_CM3 * LS_MASS_FRACTION_C * 1.91 * (0.010 / e) ** 3.3)


def mu_pair(energy_mev: FloatArray) -> FloatArray:
    """Pair-production linear attenuation coefficient in LS [1/cm] (table interpolation)."""
    e = np.asarray(energy_mev, dtype=np.float64)
    above = e > _PAIR_E_MEV[0]
    out = np.zeros_like(e)
    if np.any(above):
        # interpolate sigma linearly in log(E - threshold) for a smooth threshold turn-on
        x = np.log(np.clip(e[above], _PAIR_E_MEV[1], _PAIR_E_MEV[-1]))
        xs = np.log(_PAIR_E_MEV[1:])
        sig_c = np.exp(np.interp(x, xs, np.log(_PAIR_C_CM2_G[1:])))
        # below 1.25 MeV: quadratic turn-on from threshold
        low = e[above] < _PAIR_E_MEV[1]
        frac = (e[above] - _PAIR_E_MEV[0]) / (_PAIR_E_MEV[1] - _PAIR_E_MEV[0])
        sig_c = np.where(low, _PAIR_C_CM2_G[1] * frac**2, sig_c)
        per_gram = sig_c * (LS_MASS_FRACTION_C + LS_MASS_FRACTION_H * _PAIR_H_OVER_C_PER_GRAM)
        out[above] = LS_DENSITY_G_CM3 * per_gram
    return out


def attenuation_coefficients(energy_mev: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return (mu_compton, mu_photo, mu_pair) in LS [1/cm] for photon energies E [MeV]."""
    return mu_compton(energy_mev), mu_photoelectric(energy_mev), mu_pair(energy_mev)
