"""Detector noise of the mock detector: PMT dark noise and single-PE charge smearing.

* Dark noise (paper section 2.3.3): the number of dark PEs in the analysis window is Poisson
  with mean Delta Q_DR = window x N_PMT x rate (184.8 PE for 350 ns x 17,600 LPMTs x 30 kHz);
  it is an independent Poisson-fluctuated offset on every event (Eq. 3.3) and the only content
  of random triggers.
* Single-PE charge resolution (section 3.8 item 5): each PE's charge is Gaussian with
  sigma/mean = s, so the summed charge of N PEs is Gaussian with mean N and sigma s sqrt(N)
  (exact sum of N Gaussians given N).
All quantities in PE.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]


def dark_noise_pe(mean_pe: float, n_events: int, rng: np.random.Generator) -> FloatArray:
    """Dark-noise PE per event: Poisson(mean_pe), as float [PE]."""
    return rng.poisson(mean_pe, n_events).astype(np.float64)


def smear_charge(n_pe: ArrayLike, spe_resolution: float, rng: np.random.Generator) -> FloatArray:
    """Measured charge [PE] of integer PE counts with single-PE resolution sigma/mean.

    Returns the counts unchanged (as float) when ``spe_resolution`` is 0.
    """
    n = np.asarray(n_pe, dtype=np.float64)
    if spe_resolution <= 0.0:
        return n
    return np.asarray(n + spe_resolution * np.sqrt(n) * rng.standard_normal(n.shape))
