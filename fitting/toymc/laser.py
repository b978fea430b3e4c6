"""UV-laser intensity scan for dual calorimetry (paper section 2.2 and Tables 5-7).

A diffuser ball at position x flashes N times per intensity step. For flash f and LPMT k the
true PE count is Poisson(I_s * j_f * q_k * w_k(x) / w_k(0)) + Poisson(dark per channel), with
I_s the nominal mean PE per LPMT at the centre for step s (0..100 PE), j_f ~ N(1, 3 %) the
common pulse-to-pulse intensity jitter, q_k the relative QE (0 when dead) and w_k the solid
angle. The measured LPMT charge is the channel response Q_k(n) of :mod:`fitting.toymc.pmts`
(non-linearity x gain, plus single-PE smearing). SPMTs work in photon counting and are linear:
their total per flash is Poisson(spmt_fraction / (1 - spmt_fraction) * sum_k ideal PE) plus
SPMT dark noise - the linear reference of the dual calorimetry.

Stored per step (binary ``.npz``): per-channel mean measured charge and its standard error over
the flashes, the per-flash SPMT totals, the nominal intensities and the laser position.
Charges in PE, positions in mm.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fitting.toymc.noise import smear_charge
from fitting.toymc.pmts import LPMT_RADIUS_MM, LpmtChannels, lpmt_channels
from fitting.toymc.truth import DetectorTruth

FloatArray = NDArray[np.float64]

LASER_JITTER: float = 0.03
"""Relative pulse-to-pulse laser intensity fluctuation (common to all channels)."""


def default_intensities(n_steps: int = 10) -> FloatArray:
    """Nominal per-LPMT mean PE at the centre, log-spaced from 0.3 MeV-equivalent to 100 PE."""
    low = 0.3 * 1345.0 / 17_612.0  # 0.3 MeV at Y0 = 1345 PE/MeV spread over the LPMTs
    return np.geomspace(low, 100.0, n_steps)


@dataclass(frozen=True)
class LaserScan:
    """One laser scan. Shapes: S steps, K LPMT channels, F flashes per step.

    intensity_pe (S,): nominal mean PE per LPMT at the centre; lpmt_mean (S, K) and lpmt_sem
    (S, K): mean measured LPMT charge per flash and its standard error [PE]; spmt_total (S, F):
    SPMT total charge of each flash [PE]; position_mm (3,): laser position [mm].
    """

    intensity_pe: FloatArray
    lpmt_mean: FloatArray
    lpmt_sem: FloatArray
    spmt_total: FloatArray
    position_mm: FloatArray

    def save(self, path: str | Path) -> None:
        """Write the scan as an uncompressed ``.npz`` (little-endian arrays)."""
        np.savez(
            path,
            intensity_pe=self.intensity_pe.astype("<f8"),
            lpmt_mean=self.lpmt_mean.astype("<f4"),
            lpmt_sem=self.lpmt_sem.astype("<f4"),
            spmt_total=self.spmt_total.astype("<f8"),
            position_mm=self.position_mm.astype("<f8"),
        )

    @classmethod
    def load(cls, path: str | Path) -> LaserScan:
        """Read a scan written by :meth:`save`."""
        with np.load(path) as z:
            return cls(
                intensity_pe=z["intensity_pe"].astype(np.float64),
                lpmt_mean=z["lpmt_mean"].astype(np.float64),
                lpmt_sem=z["lpmt_sem"].astype(np.float64),
                spmt_total=z["spmt_total"].astype(np.float64),
                position_mm=z["position_mm"].astype(np.float64),
            )


def relative_illumination(channels: LpmtChannels, position_mm: ArrayLike) -> FloatArray:
    """w_k(x) / w_k(0): solid angle of each LPMT from x relative to the centre (K,)."""
    x = np.asarray(position_mm, dtype=np.float64)
    diff = channels.position_mm - x[None, :]
    d2 = np.einsum("kj,kj->k", diff, diff)
    cos_a = np.einsum("kj,kj->k", diff, channels.position_mm / LPMT_RADIUS_MM) / np.sqrt(d2)
    return np.asarray(np.clip(cos_a, 0.0, None) / d2 * LPMT_RADIUS_MM**2)


def simulate_laser_scan(
    truth: DetectorTruth,
    rng: np.random.Generator,
    intensities_pe: ArrayLike | None = None,
    n_flashes: int = 500,
    position_mm: ArrayLike = (0.0, 0.0, 0.0),
    gain: ArrayLike | None = None,
    chunk: int = 100,
) -> LaserScan:
    """Simulate a laser intensity scan; ``gain`` is the per-LPMT relative gain (drifts)."""
    ch = lpmt_channels(truth)
    levels = default_intensities() if intensities_pe is None else np.asarray(intensities_pe, float)
    pos = np.asarray(position_mm, dtype=np.float64)
    illum = relative_illumination(ch, pos)
    expect = ch.efficiency * illum
    ideal_sum = float(illum.sum())
    g = np.ones(ch.n) if gain is None else np.asarray(gain, dtype=np.float64)
    dark_per_channel = truth.lpmt_dark_noise_pe / truth.n_lpmt
    spmt_ratio = truth.spmt_fraction / (1.0 - truth.spmt_fraction)
    n_steps = levels.size
    mean = np.empty((n_steps, ch.n))
    sem = np.empty((n_steps, ch.n))
    spmt = np.empty((n_steps, n_flashes))
    for s, level in enumerate(levels):
        jitter = np.clip(1.0 + LASER_JITTER * rng.standard_normal(n_flashes), 0.0, None)
        acc = np.zeros(ch.n)
        acc2 = np.zeros(ch.n)
        for f0 in range(0, n_flashes, chunk):
            j = jitter[f0 : f0 + chunk]
            n_pe = rng.poisson(level * j[:, None] * expect[None, :] + dark_per_channel)
            q = smear_charge(ch.response(n_pe, g), truth.spe_resolution, rng)
            acc += q.sum(axis=0)
            acc2 += (q * q).sum(axis=0)
        m = acc / n_flashes
        var = np.clip(acc2 / n_flashes - m * m, 0.0, None) * n_flashes / max(n_flashes - 1, 1)
        mean[s] = m
        sem[s] = np.sqrt(var / n_flashes)
        spmt[s] = rng.poisson(spmt_ratio * level * jitter * ideal_sum) + rng.poisson(
            truth.spmt_dark_noise_pe, n_flashes
        )
    return LaserScan(levels, mean, sem, spmt.astype(np.float64), pos)
