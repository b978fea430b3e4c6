"""UV-laser intensity scan for dual calorimetry (paper section 2.2 and Tables 5-7).

A diffuser ball at position x flashes N times per intensity step. For flash f and LPMT k the
true PE count is Poisson(I_s * j_f * q_k * w_k(x) / w_k(0)) + Poisson(dark per channel), with
I_s the nominal mean PE per LPMT at the centre for step s (0..100 PE), j_f ~ N(1, 3 %) the
common pulse-to-pulse intensity jitter, q_k the relative QE (0 when dead) and w_k the solid
angle. The measured LPMT charge is the channel response Q_k (non-linearity x gain) of
:mod:`fitting.toymc.pmts` applied to the linear charge q0 = sum of the n SPE charges
(q0 ~ N(n, s^2 n), s = single-PE resolution): the readout saturates on the charge it gets.
It is stored in the unit of an SPE gain calibration (mean charge of one PE = 1 PE,
:meth:`~fitting.toymc.pmts.LpmtChannels.calibrated_response`).
SPMTs work in photon counting and are linear: their total per flash is
Poisson(spmt_fraction / (1 - spmt_fraction) * sum_k ideal PE) plus SPMT dark noise - the linear
reference of the dual calorimetry.

Nominal flash counts (Tables 5-7 at 50 Hz): comprehensive 333 min / 10 steps = 100,000 flashes
per step, weekly 20 min / 10 steps = 6,000, monthly 2 min per ACU point = 6,000.  Simulating
10^5 flashes x 17,612 channels flash by flash is 10^10 draws per scan, so above
``EXACT_MAX_FLASHES`` the per-channel statistics are drawn from their sampling distribution
instead (:func:`_moment_step`): given the simulated per-flash jitter, the mean and the sample
variance of F flashes are Gaussian (CLT, F >= 2,000) with the exact conditional moments of the
compound-Poisson response (Poisson pmf x Gauss-Hermite SPE smearing, jitter by a 4th-order
expansion in the realised jitter moments).  The SPMT totals are always drawn flash by flash.

Stored per step (binary ``.npz``): per-channel mean measured charge and its standard error over
the flashes, the per-flash SPMT totals, the nominal intensities and the laser position.
Charges in PE, positions in mm.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from fitting.toymc.noise import smear_charge
from fitting.toymc.pmts import LPMT_RADIUS_MM, LpmtChannels, lpmt_channels
from fitting.toymc.truth import DetectorTruth

FloatArray = NDArray[np.float64]

LASER_JITTER: float = 0.03
"""Relative pulse-to-pulse laser intensity fluctuation (common to all channels)."""

EXACT_MAX_FLASHES: int = 2_000
"""Up to this many flashes per step the scan is simulated flash by flash (module docstring)."""

_JITTER_ORDER = 4  # order of the expansion in the flash jitter (terms ~ (0.03 mu/100)^m)
_GH_NODES = 12  # Gauss-Hermite nodes of the SPE smearing (exact for polynomials to degree 23)


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
    """Simulate a laser intensity scan; ``gain`` is the per-LPMT relative gain (drifts).

    Flash by flash up to :data:`EXACT_MAX_FLASHES`, else from the sampling distribution of the
    per-channel statistics (module docstring); either way the SPMT totals are per flash.
    """
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
        if n_flashes <= EXACT_MAX_FLASHES:
            acc = np.zeros(ch.n)
            acc2 = np.zeros(ch.n)
            for f0 in range(0, n_flashes, chunk):
                j = jitter[f0 : f0 + chunk]
                n_pe = rng.poisson(level * j[:, None] * expect[None, :] + dark_per_channel)
                q = ch.calibrated_response(smear_charge(n_pe, truth.spe_resolution, rng), g)
                acc += q.sum(axis=0)
                acc2 += (q * q).sum(axis=0)
            m = acc / n_flashes
            var = np.clip(acc2 / n_flashes - m * m, 0.0, None) * n_flashes / max(n_flashes - 1, 1)
        else:
            m, var = _moment_step(ch, level * expect, dark_per_channel, g, jitter,
                                  truth.spe_resolution, rng)
        mean[s] = m
        sem[s] = np.sqrt(var / n_flashes)
        spmt[s] = rng.poisson(spmt_ratio * level * jitter * ideal_sum) + rng.poisson(
            truth.spmt_dark_noise_pe, n_flashes
        )
    return LaserScan(levels, mean, sem, spmt.astype(np.float64), pos)


def _moment_step(
    ch: LpmtChannels,
    signal_pe: FloatArray,
    dark_pe: float,
    gain: FloatArray,
    jitter: FloatArray,
    spe_resolution: float,
    rng: np.random.Generator,
    chunk: int = 1024,
) -> tuple[FloatArray, FloatArray]:
    """(mean, sample variance) over the flashes of one step for every channel, drawn from
    their joint sampling distribution (module docstring).

    Flash f of channel k has n ~ Poisson(lam_k (1 + d_f)) with lam_k = ``signal_pe``_k + dark
    and d_f = jitter_f - 1 (the dark part does not jitter: a small approximation, 0.01 PE).
    With h_r(n) = E_Z[Q_k(n + s sqrt(n) Z)^r] (Gauss-Hermite) and G_r(lam) = E_Poisson[h_r],
    d^m G_r / dlam^m = E_Poisson[Delta^m h_r] (forward differences), so the flash averages are
    <G_r> = sum_m G_r^(m) (signal d)^m <d^m> / m! with the realised jitter moments <d^m>.
    Given the jitter the flashes are independent: the mean has variance c2 / F, the sample
    variance fluctuates by sqrt((c4 - c2^2) / F) with covariance c3 / F (central moments c_r of
    one flash at d = 0).
    """
    n_f = jitter.size
    d = jitter - 1.0
    jm = np.array([np.mean(d**m) for m in range(_JITTER_ORDER + 1)])
    fact = np.cumprod(np.r_[1.0, np.arange(1, _JITTER_ORDER + 1)])
    z, wz = np.polynomial.hermite_e.hermegauss(_GH_NODES)
    wz = wz / wz.sum()
    out_m = np.empty(signal_pe.size)
    out_v = np.empty(signal_pe.size)
    for c0 in range(0, signal_pe.size, chunk):
        rows = np.arange(c0, min(c0 + chunk, signal_pe.size))
        sig = signal_pe[rows]
        lam = sig + dark_pe
        lam_max = float(lam.max()) * (1.0 + 6.0 * LASER_JITTER)
        n = np.arange(int(lam_max + 12.0 * np.sqrt(lam_max) + 12) + _JITTER_ORDER, dtype=float)
        q0 = n[None, :, None] + spe_resolution * np.sqrt(n)[None, :, None] * z[:, None, None]
        resp = ch.calibrated_response(q0, gain[rows], rows)  # (nodes, N, C)
        h = [np.einsum("i,inc->nc", wz, resp**r) for r in range(1, 5)]  # h_r(n), (N, C)
        n_use = n.size - _JITTER_ORDER
        pmf = stats.poisson.pmf(n[:n_use, None], lam[None, :])  # (N', C)
        g_avg = []  # <G_r> over the flashes, r = 1..4
        g_0 = []  # G_r at d = 0
        for hr in h:
            diff = hr
            tot = np.zeros(rows.size)
            for m in range(_JITTER_ORDER + 1):
                gm = np.einsum("nc,nc->c", pmf, diff[:n_use])
                if m == 0:
                    g_0.append(gm)
                tot += gm * sig**m * jm[m] / fact[m]
                diff = np.diff(diff, axis=0)
            g_avg.append(tot)
        m1, m2, m3, m4 = g_0
        c2 = np.maximum(m2 - m1**2, 0.0)
        c3 = m3 - 3.0 * m1 * m2 + 2.0 * m1**3
        c4 = np.maximum(m4 - 4.0 * m3 * m1 + 6.0 * m2 * m1**2 - 3.0 * m1**4, c2**2)
        var_pop = np.maximum(g_avg[1] - g_avg[0] ** 2, 0.0)
        sd_m = np.sqrt(c2 / n_f)
        sd_v = np.sqrt((c4 - c2**2) / n_f)
        with np.errstate(invalid="ignore", divide="ignore"):
            rho = np.clip(np.where(sd_m * sd_v > 0, c3 / n_f / (sd_m * sd_v), 0.0), -1.0, 1.0)
        z1 = rng.standard_normal(rows.size)
        z2 = rho * z1 + np.sqrt(1.0 - rho**2) * rng.standard_normal(rows.size)
        out_m[rows] = g_avg[0] + sd_m * z1
        out_v[rows] = np.maximum(var_pop + sd_v * z2, 0.0)
    return out_m, out_v
