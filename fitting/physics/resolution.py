"""Energy resolution formulas: Eq 3.1, Eq 3.2 and the energy-sharing variance of gamma peaks.

numpy-only leaf module (paper section 3).

* Eq 3.1:  sigma_E / E = sqrt( (a / sqrt(E))^2 + b^2 + (c / E)^2 ),  E = E_vis^prompt [MeV];
  in absolute form sigma_E^2 = a^2 E + b^2 E^2 + c^2.
* Eq 3.2:  a-tilde = sqrt( a^2 + (1.6 b)^2 + (c / 1.6)^2 ).

Units: ``a`` in sqrt(MeV) and ``c`` in MeV, quoted as fractions (a = 0.0262 is 2.62 % at 1 MeV);
``b`` dimensionless; a-tilde has the unit of ``a``.

Energy sharing. A gamma deposits its energy through several secondary electrons (Eq 2.6); as
f_nonlin varies with the electron energy, the visible energy of a fully absorbed gamma
fluctuates from event to event even without any photon statistics:
Var_sharing = Var_events( sum_k E_vis^e(E_k) ). This term is not of the form of Eq 3.1 (it
depends on the source's Compton history, section 3.1 "fluctuations in secondary electrons
produced by the annihilation gammas, folded with their corresponding non-linearity"), so it is
subtracted from gamma-peak widths before Eq 3.1 is fitted, and added back as the annihilation
part of c for positrons (:func:`sharing_variance`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fitting.physics.nonlinearity import regularised_visible_energy

FloatArray = NDArray[np.float64]

#: factors of Eq 3.2
A_TILDE_B_FACTOR = 1.6
A_TILDE_C_FACTOR = 1.0 / 1.6


def sigma_over_e(e_vis_mev: ArrayLike, a: float, b: float, c: float) -> FloatArray:
    """Fractional resolution sigma_E / E of Eq 3.1 at visible energy ``e_vis_mev`` [MeV]."""
    e = np.asarray(e_vis_mev, dtype=np.float64)
    return np.asarray(np.sqrt(a * a / e + b * b + (c / e) ** 2), dtype=np.float64)


def a_tilde(a: float, b: float, c: float) -> float:
    """Effective resolution a-tilde of Eq 3.2 (same unit as ``a``)."""
    return float(np.sqrt(a * a + (A_TILDE_B_FACTOR * b) ** 2 + (A_TILDE_C_FACTOR * c) ** 2))


def a_tilde_error(a: float, b: float, c: float, covariance: ArrayLike) -> float:
    """1 sigma error of a-tilde from the (a, b, c) covariance, correlations included (Table 3)."""
    at = a_tilde(a, b, c)
    grad = np.array([a, A_TILDE_B_FACTOR**2 * b, A_TILDE_C_FACTOR**2 * c]) / at
    cov = np.asarray(covariance, dtype=np.float64)
    return float(np.sqrt(max(float(grad @ cov @ grad), 0.0)))


def sharing_deviations(
    electron_energies_mev: ArrayLike, event_index: ArrayLike, n_events: int, p: ArrayLike,
    e_reg_mev: float = 0.0,
) -> FloatArray:
    """Per-event energy-sharing deviation of a gamma source from its mean [MeV].

    Parameters
    ----------
    electron_energies_mev : (K,) kinetic energies of the secondary electrons of ``n_events``
        simulated gamma events (the per-event form of P(E^e) of Eq 2.6).
    event_index : (K,) event of each electron, 0..n_events-1.
    p : f_nonlin parameters p0..p3 (Eq 2.5), e.g. the fitted ones.
    e_reg_mev : low-energy continuation of Eq 2.5 per electron (see
        :func:`fitting.physics.nonlinearity.regularised_visible_energy`).

    Returns
    -------
    (n_full,) sum_k E_vis^e(E_k) minus its mean, for the fully absorbed events only (deposited
    kinetic energy within 0.1 % of the largest): the visible-energy spread of the peak that no
    photon statistics cause.
    """
    e = np.asarray(electron_energies_mev, dtype=np.float64)
    idx = np.asarray(event_index, dtype=np.int64)
    if e.shape != idx.shape or n_events < 2:
        raise ValueError("need per-electron energies and event indices of equal shape, "
                         ">= 2 events")
    ev, _ = regularised_visible_energy(e, p, e_reg_mev)
    vis = np.bincount(idx, weights=ev, minlength=n_events)
    dep = np.bincount(idx, weights=e, minlength=n_events)
    v = vis[dep > 0.999 * float(np.max(dep))]
    return np.asarray(v - v.mean(), dtype=np.float64)


def sharing_variance(
    electron_energies_mev: ArrayLike, event_index: ArrayLike, n_events: int, p: ArrayLike,
    e_reg_mev: float = 0.0,
) -> tuple[float, float]:
    """Energy-sharing variance [MeV^2] of a gamma source and its error (4th moment).

    Same arguments as :func:`sharing_deviations`.
    """
    d = sharing_deviations(electron_energies_mev, event_index, n_events, p, e_reg_mev)
    var = float(np.mean(d * d))
    err = float(np.sqrt(max(float(np.mean(d**4)) - var * var, 0.0) / d.size))
    return var, err


#: kinetic-energy offset T0 [MeV] of the Cherenkov proxy (:func:`cherenkov_proxy`): Cherenkov
#: light of an electron in LS is close to kappa (T - T0) above ~1 MeV with T0 = 0.35-0.49 MeV
#: for n = 1.47-1.51 (threshold 0.17-0.19 MeV plus the slow rise of 1 - 1/(beta n)^2)
CHERENKOV_T0_MEV = 0.4


def cherenkov_proxy_kinetic(kinetic_mev: ArrayLike, t0_mev: float = CHERENKOV_T0_MEV) -> FloatArray:
    """Cherenkov-light proxy l(T) = max(T - T0, 0) [MeV] of one electron of kinetic energy T.

    The Cherenkov part of E_vis^e is ~ kappa l(T) (kappa a few %); only the shape enters the
    resolution model, kappa times the track-length fluctuation is fitted (the b term).
    """
    t = np.asarray(kinetic_mev, dtype=np.float64)
    return np.asarray(np.clip(t - t0_mev, 0.0, None), dtype=np.float64)


def cherenkov_proxy(
    electron_energies_mev: ArrayLike, event_index: ArrayLike, n_events: int,
    t0_mev: float = CHERENKOV_T0_MEV,
) -> FloatArray:
    """Per-event Cherenkov proxy L = sum_k l(E_k) [MeV] of a gamma source, for the same fully
    absorbed events (and in the same order) as :func:`sharing_deviations`."""
    e = np.asarray(electron_energies_mev, dtype=np.float64)
    idx = np.asarray(event_index, dtype=np.int64)
    if e.shape != idx.shape or n_events < 2:
        raise ValueError("need per-electron energies and event indices of equal shape, "
                         ">= 2 events")
    lsum = np.bincount(idx, weights=cherenkov_proxy_kinetic(e, t0_mev), minlength=n_events)
    dep = np.bincount(idx, weights=e, minlength=n_events)
    return np.asarray(lsum[dep > 0.999 * float(np.max(dep))], dtype=np.float64)
