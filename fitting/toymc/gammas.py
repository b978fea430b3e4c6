"""Gamma sources of Table 1 and their secondary electrons in the LS (paper Eq. 2.6 / 2.7).

Each gamma is transported in 3D through a homogeneous LS-equivalent medium by a vectorised
Monte Carlo (cross sections and their approximations: :mod:`fitting.toymc.material`):

* Compton scattering: energy and angle sampled from the Klein-Nishina formula (Butcher &
  Messel / Geant4 "standard" sampling); the recoil electron deposits T = E - E' at the vertex;
* photoabsorption: the photoelectron deposits the full photon energy;
* pair production: the kinetic energy E - 2 m_e is shared uniformly between e- and e+; the
  positron stops at the vertex and annihilates into two back-to-back 0.511 MeV gammas that are
  transported in turn (para-positronium 2-gamma decay only; ortho-positronium neglected);
* photons below 1 keV are absorbed on the spot; electrons deposit where they are produced
  (their ~mm ranges are negligible), their bremsstrahlung is part of the electron response.

The mock detector's acrylic and water are treated as LS-equivalent for photon transport; energy
deposited beyond the LS radius is simply not seen (leakage) - this is how calibration points at
the boundary and Guide-Tube points outside the acrylic get their leakage tails.
``secondary_electrons`` returns the electrons of sources at the centre of an infinite LS: the
distribution P(E^e) of Eq. 2.6, with I = 1 exactly in Eq. 2.7 (no production thresholds).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from fitting.physics.sources import GAMMA_SOURCES, GammaSource
from fitting.toymc.material import (
    ELECTRON_MASS_MEV,
    attenuation_coefficients,
)

FloatArray = NDArray[np.float64]
__all__ = ["GAMMA_SOURCES", "GammaSource"]
IntArray = NDArray[np.int64]

PHOTON_CUTOFF_MEV: float = 1.0e-3
"""Photons below this energy are absorbed on the spot [MeV]."""
ANNIHILATION_MEV: float = ELECTRON_MASS_MEV




@dataclass(frozen=True)
class Deposits:
    """Energy deposits of a set of events (flat arrays, one entry per secondary electron).

    energy_mev: kinetic energy of the electron/positron [MeV]; event_index: event of each
    deposit (sorted, 0..n_events-1); pos_mm: (k, 3) position [mm]; n_events: number of events.
    """

    energy_mev: FloatArray
    event_index: IntArray
    pos_mm: FloatArray
    n_events: int

    def per_event_sum(self, values: FloatArray) -> FloatArray:
        """Sum ``values`` (one per deposit) per event -> shape (n_events,)."""
        sums = np.bincount(self.event_index, weights=values, minlength=self.n_events)
        return sums.astype(np.float64)


def isotropic_directions(n: int, rng: np.random.Generator) -> FloatArray:
    """n unit vectors uniform on the sphere, shape (n, 3)."""
    cos_t = 2.0 * rng.random(n) - 1.0
    phi = 2.0 * np.pi * rng.random(n)
    sin_t = np.sqrt(1.0 - cos_t**2)
    return np.stack((sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t), axis=1)


def rotate_directions(d: FloatArray, cos_t: FloatArray, rng: np.random.Generator) -> FloatArray:
    """Turn unit vectors d (n, 3) by polar angles arccos(cos_t) and uniform azimuths."""
    n = d.shape[0]
    phi = 2.0 * np.pi * rng.random(n)
    sin_t = np.sqrt(np.clip(1.0 - cos_t**2, 0.0, None))
    dx, dy, dz = d[:, 0], d[:, 1], d[:, 2]
    # e1 = normalised d x z-axis, or d x x-axis when d is close to z; e2 = d x e1
    near_z = np.abs(dz) > 0.9
    e1x = np.where(near_z, 0.0, dy)
    e1y = np.where(near_z, dz, -dx)
    e1z = np.where(near_z, -dy, 0.0)
    norm = np.sqrt(e1x * e1x + e1y * e1y + e1z * e1z)
    e1x, e1y, e1z = e1x / norm, e1y / norm, e1z / norm
    e2x = dy * e1z - dz * e1y
    e2y = dz * e1x - dx * e1z
    e2z = dx * e1y - dy * e1x
    a = sin_t * np.cos(phi)
    b = sin_t * np.sin(phi)
    out = np.empty_like(d)
    out[:, 0] = cos_t * dx + a * e1x + b * e2x
    out[:, 1] = cos_t * dy + a * e1y + b * e2y
    out[:, 2] = cos_t * dz + a * e1z + b * e2z
    out /= np.sqrt(np.einsum("ij,ij->i", out, out))[:, None]
    return out


def sample_klein_nishina(energy_mev: FloatArray, rng: np.random.Generator) -> FloatArray:
    """Sample eps = E'/E of Compton scattering from the Klein-Nishina distribution.

    Butcher & Messel composition-rejection (as in Geant4 G4KleinNishinaCompton), vectorised.
    The scattering angle follows from cos(theta) = 1 - (1/eps - 1) m_e / E.
    """
    k = energy_mev / ELECTRON_MASS_MEV
    eps0 = 1.0 / (1.0 + 2.0 * k)
    eps0_sq = eps0**2
    alpha1 = -np.log(eps0)
    alpha2 = 0.5 * (1.0 - eps0_sq)
    eps = np.empty_like(k)
    todo = np.arange(k.size)
    while todo.size:
        a1 = alpha1[todo]
        a2 = alpha2[todo]
        r1, r2, r3 = rng.random((3, todo.size))
        first = a1 / (a1 + a2) > r1
        e_try = np.where(
            first,
            np.exp(-a1 * r2),
            np.sqrt(eps0_sq[todo] + (1.0 - eps0_sq[todo]) * r2),
        )
        onecost = (1.0 - e_try) / (e_try * k[todo])
        sint2 = onecost * (2.0 - onecost)
        greject = 1.0 - e_try * sint2 / (1.0 + e_try**2)
        ok = greject >= r3
        eps[todo[ok]] = e_try[ok]
        todo = todo[~ok]
    return eps


def transport_photons(
    energy_mev: FloatArray,
    pos_mm: FloatArray,
    direction: FloatArray,
    event_index: IntArray,
    n_events: int,
    rng: np.random.Generator,
    r_kill_mm: float = np.inf,
) -> Deposits:
    """Transport photons until absorption; return the electron/positron deposits.

    Parameters
    ----------
    energy_mev : (m,) photon energies [MeV]
    pos_mm : (m, 3) start positions [mm]
    direction : (m, 3) unit directions
    event_index : (m,) event of each photon
    n_events : number of events (for the returned :class:`Deposits`)
    r_kill_mm : photons beyond this radius are dropped (they would not come back) [mm]
    """
    e = np.asarray(energy_mev, dtype=np.float64).copy()
    pos = np.asarray(pos_mm, dtype=np.float64).copy() / 10.0  # cm
    d = np.asarray(direction, dtype=np.float64).copy()
    ev = np.asarray(event_index, dtype=np.int64).copy()
    r_kill_cm = r_kill_mm / 10.0
    dep_e: list[FloatArray] = []
    dep_ev: list[IntArray] = []
    dep_pos: list[FloatArray] = []

    def deposit(mask: NDArray[np.bool_], energies: FloatArray) -> None:
        dep_e.append(energies)
        dep_ev.append(ev[mask])
        dep_pos.append(pos[mask])

    while e.size:
        mu_c, mu_p, mu_pp = attenuation_coefficients(e)
        mu = mu_c + mu_p + mu_pp
        pos += (rng.exponential(1.0, e.size) / mu)[:, None] * d
        u = rng.random(e.size) * mu
        photo = u < mu_p
        pair = (~photo) & (u < mu_p + mu_pp)
        compton = ~(photo | pair)
        alive = compton.copy()
        if np.isfinite(r_kill_cm):
            inside = np.einsum("ij,ij->i", pos, pos) < r_kill_cm**2
            photo &= inside
            pair &= inside
            compton &= inside
            alive &= inside
        if photo.any():
            deposit(photo, e[photo])
        new_e: list[FloatArray] = []
        new_pos: list[FloatArray] = []
        new_d: list[FloatArray] = []
        new_ev: list[IntArray] = []
        if pair.any():
            t_kin = e[pair] - 2.0 * ELECTRON_MASS_MEV
            share = rng.random(t_kin.size)
            deposit(pair, t_kin * share)
            deposit(pair, t_kin * (1.0 - share))
            dirs = isotropic_directions(t_kin.size, rng)
            for sign in (1.0, -1.0):
                new_e.append(np.full(t_kin.size, ANNIHILATION_MEV))
                new_pos.append(pos[pair])
                new_d.append(sign * dirs)
                new_ev.append(ev[pair])
        if compton.any():
            ec = e[compton]
            eps = sample_klein_nishina(ec, rng)
            deposit(compton, ec * (1.0 - eps))
            cos_t = 1.0 - (1.0 / eps - 1.0) * ELECTRON_MASS_MEV / ec
            d[compton] = rotate_directions(d[compton], cos_t, rng)
            e[compton] = ec * eps
            soft = compton & (e < PHOTON_CUTOFF_MEV)
            if soft.any():
                deposit(soft, e[soft])
                alive &= ~soft
        e = np.concatenate([e[alive], *new_e])
        pos = np.concatenate([pos[alive], *new_pos]) if new_pos else pos[alive]
        d = np.concatenate([d[alive], *new_d]) if new_d else d[alive]
        ev = np.concatenate([ev[alive], *new_ev])

    if dep_e:
        energies = np.concatenate(dep_e)
        events = np.concatenate(dep_ev)
        positions = np.concatenate(dep_pos) * 10.0
    else:
        energies = np.zeros(0)
        events = np.zeros(0, dtype=np.int64)
        positions = np.zeros((0, 3))
    order = np.argsort(events, kind="stable")
    return Deposits(energies[order], events[order], positions[order], n_events)


def emit_source_gammas(
    source: GammaSource, n_events: int, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray, IntArray]:
    """Initial photons of ``n_events`` decays: (energies [MeV], directions (m,3), event index)."""
    energies: list[FloatArray] = []
    dirs: list[FloatArray] = []
    events: list[IntArray] = []
    ids = np.arange(n_events, dtype=np.int64)
    first_dir = isotropic_directions(n_events, rng)
    for i, eg in enumerate(source.gammas):
        energies.append(np.full(n_events, eg))
        if i == 0:
            dirs.append(first_dir)
        elif source.back_to_back:
            dirs.append(-first_dir)
        else:
            dirs.append(isotropic_directions(n_events, rng))
        events.append(ids)
    return np.concatenate(energies), np.concatenate(dirs), np.concatenate(events)


def simulate_source_deposits(
    source: str | GammaSource,
    n_events: int,
    rng: np.random.Generator,
    origin_mm: FloatArray | None = None,
    enclosure_loss_prob: float = 0.0,
) -> Deposits:
    """Deposits of ``n_events`` source decays emitted at ``origin_mm`` (default the centre).

    ``origin_mm`` is a (3,) position or an (n_events, 3) array of per-event origins [mm].
    With ``enclosure_loss_prob`` > 0 each gamma first Compton-scatters in the (non-scintillating)
    source enclosure with that probability: the recoil energy is lost, which produces the
    low-energy leakage tail of paper section 2.3.2 (Figure 6).
    The medium is infinite: no deposit is dropped (leakage at the LS boundary is applied by the
    caller, see :mod:`fitting.toymc.events`).
    """
    src = GAMMA_SOURCES[source] if isinstance(source, str) else source
    e, d, ev = emit_source_gammas(src, n_events, rng)
    if enclosure_loss_prob > 0.0:
        hit = rng.random(e.size) < enclosure_loss_prob
        if hit.any():
            eps = sample_klein_nishina(e[hit], rng)
            cos_t = 1.0 - (1.0 / eps - 1.0) * ELECTRON_MASS_MEV / e[hit]
            d[hit] = rotate_directions(d[hit], cos_t, rng)
            e[hit] = e[hit] * eps
    if origin_mm is None:
        pos = np.zeros((e.size, 3))
    else:
        o = np.asarray(origin_mm, dtype=np.float64)
        pos = np.broadcast_to(o, (e.size, 3)).copy() if o.ndim == 1 else o[ev]
    return transport_photons(e, pos, d, ev, n_events, rng)


def secondary_electrons(
    source: str, n_events: int, rng: np.random.Generator
) -> tuple[FloatArray, IntArray]:
    """Secondary electron/positron kinetic energies of a bare source at the LS centre.

    Returns ``(energies_flat [MeV], event_index)``: summing
    ``truth.electron_visible_energy(energies_flat)`` per event (``np.bincount``) gives each
    event's gamma visible energy, i.e. Eq. 2.6 with the true f_nonlin, and
    ``np.bincount(event_index, energies_flat)`` = E^gamma exactly (I = 1 in Eq. 2.7).
    The histogram of ``energies_flat`` weighted by ``energies_flat`` is P(E^e) E^e of Eq. 2.6.
    ``source`` is a key of :data:`GAMMA_SOURCES`.
    """
    dep = simulate_source_deposits(source, n_events, rng)
    return dep.energy_mev, dep.event_index


@lru_cache(maxsize=16)
def gamma_library(source: str, n_events: int, seed: int,
                  enclosure_loss_prob: float = 0.0) -> Deposits:
    """Cached, read-only centre-origin deposit library (reused by many calibration points).

    Events are isotropic, so a library event can be placed anywhere (after a random
    reflection of the axes to vary repeated draws).
    """
    dep = simulate_source_deposits(source, n_events, np.random.default_rng(seed),
                                   enclosure_loss_prob=enclosure_loss_prob)
    for a in (dep.energy_mev, dep.event_index, dep.pos_mm):
        a.setflags(write=False)
    return dep
