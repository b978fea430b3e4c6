"""Positrons for validation (paper Eq. 2.2 / 2.4, Figure 2): kinetic energy plus annihilation.

A positron of kinetic energy T deposits T at its vertex (same visible response as an electron,
the approximation stated below Eq. 2.2) and then annihilates at rest into two back-to-back
0.511 MeV gammas (para-positronium; ortho-positronium 3-gamma decays are neglected), which
are transported by :func:`fitting.toymc.gammas.transport_photons`.
Energies in MeV; positions in mm.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fitting.toymc.gammas import (
    ANNIHILATION_MEV,
    Deposits,
    isotropic_directions,
    transport_photons,
)

FloatArray = NDArray[np.float64]


def positron_deposits(
    kinetic_mev: ArrayLike,
    rng: np.random.Generator,
    origin_mm: ArrayLike | None = None,
) -> Deposits:
    """Deposits of positrons with kinetic energies ``kinetic_mev`` (shape (n,)) [MeV].

    ``origin_mm``: (3,) or (n, 3) vertices [mm] (default the centre). Each event has the
    positron kinetic deposit first, then the secondary electrons of the annihilation gammas
    (infinite medium; the caller applies LS leakage).
    """
    t = np.atleast_1d(np.asarray(kinetic_mev, dtype=np.float64))
    n = t.size
    if origin_mm is None:
        origin = np.zeros((n, 3))
    else:
        o = np.asarray(origin_mm, dtype=np.float64)
        origin = np.broadcast_to(o, (n, 3)).copy() if o.ndim == 1 else o.copy()
    dirs = isotropic_directions(n, rng)
    ids = np.arange(n, dtype=np.int64)
    gam = transport_photons(
        np.full(2 * n, ANNIHILATION_MEV),
        np.concatenate((origin, origin)),
        np.concatenate((dirs, -dirs)),
        np.concatenate((ids, ids)),
        n,
        rng,
    )
    energy = np.concatenate((t, gam.energy_mev))
    events = np.concatenate((ids, gam.event_index))
    pos = np.concatenate((origin, gam.pos_mm))
    order = np.argsort(events, kind="stable")
    return Deposits(energy[order], events[order], pos[order], n)
