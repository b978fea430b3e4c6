"""Vertex reconstruction smearing (paper section 3.6).

The resolution 8 cm / sqrt(E[MeV]) is the MEAN distance between true and reconstructed
vertices, not a per-axis sigma. For an isotropic 3D Gaussian of per-axis sigma s the mean
distance is s * 2 sqrt(2/pi) = 1.596 s, so s = (8 cm / 1.596) / sqrt(E) = 5.01 cm / sqrt(E).
E is the event's visible energy [MeV]; positions in mm.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

MEAN_DISTANCE_OVER_SIGMA: float = 2.0 * np.sqrt(2.0 / np.pi)
"""Mean of the chi distribution with 3 degrees of freedom (mean |d| / sigma per axis)."""


def smear_vertex(
    true_mm: ArrayLike,
    energy_mev: ArrayLike,
    mean_distance_mm_at_1mev: float,
    rng: np.random.Generator,
) -> FloatArray:
    """Reconstructed vertices (n, 3) [mm] from true vertices (n, 3) [mm] and energies (n,).

    Energies below 0.05 MeV are clamped to 0.05 MeV to keep the smearing finite.
    """
    xyz = np.asarray(true_mm, dtype=np.float64)
    e = np.maximum(np.asarray(energy_mev, dtype=np.float64), 0.05)
    sigma = mean_distance_mm_at_1mev / MEAN_DISTANCE_OVER_SIGMA / np.sqrt(e)
    return np.asarray(xyz + sigma[:, None] * rng.standard_normal(xyz.shape))
