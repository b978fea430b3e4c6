"""Per-channel LPMT truth: positions, quantum efficiency, dead channels, gains, non-linearity.

* 17,612 LPMTs on a sphere of radius 19.434 m (Fibonacci lattice, deterministic), facing the
  centre; channel id = index.
* Relative QE q_k ~ Gaussian(1, 0.07) (section 3.7), clipped to [0.5, 1.5] and rescaled to a
  mean of exactly 1 (so Q(0) = 1 with all channels alive); dead channels
  (section 3.8) have q_k = 0.
* Channel-level instrumental non-linearity (section 2.2): measured charge of n true PE
      Q_k(n) = gain_k * n / (1 + b_k (n / 100)^gamma_k),
  with the deficit at 100 PE d_k = 1 - Q_k(100)/(gain_k 100) uniform in [0, lpmt_nonlin_max]
  (b_k = d_k / (1 - d_k)) and gamma_k uniform in [0.8, 1.0] (monotonic for any b_k).
* Q(x): QE-weighted light collection of an event at x relative to an ideal detector,
  Q(x) = sum_k w_k(x) q_k / sum_k w_k(x), w_k = solid angle of channel k seen from x
  (cos(alpha) / d^2). Q(0) = mean(q) (1 up to 0.05 % without dead channels); near the wall it
  fluctuates with the QE of the closest PMTs, breaking azimuthal symmetry slightly.
Positions in mm, charges in PE.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fitting.physics.detector import LPMT_RADIUS_MM
from fitting.toymc.truth import DetectorTruth

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]



@dataclass(frozen=True, eq=False)
class LpmtChannels:
    """Per-channel LPMT truth arrays (length n_lpmt), see module docstring."""

    position_mm: FloatArray
    qe_rel: FloatArray
    dead: BoolArray
    nonlin_b: FloatArray
    nonlin_gamma: FloatArray
    nonlin_form: str = "power"
    """"power": Q = n / (1 + b (n/100)^gamma); "exp": Q = n_s (1 - exp(-n / n_s)), n_s = b."""
    spe_charge: FloatArray | None = None
    """m1_k = E[Q_k(X)], X ~ N(1, s^2): mean raw charge of one PE (None = 1, linear channels)."""

    @property
    def n(self) -> int:
        """Number of channels."""
        return int(self.qe_rel.size)

    @property
    def nonlin_deficit_100pe(self) -> FloatArray:
        """Relative charge deficit d_k at 100 PE (dimensionless)."""
        if self.nonlin_form == "exp":
            return np.asarray(1.0 - self.response(np.full(self.n, 100.0)) / 100.0)
        return np.asarray(self.nonlin_b / (1.0 + self.nonlin_b))

    @property
    def efficiency(self) -> FloatArray:
        """Relative detection efficiency q_k (0 for dead channels)."""
        return np.asarray(np.where(self.dead, 0.0, self.qe_rel))

    def response(self, n_pe: ArrayLike, gain: ArrayLike | None = None,
                 rows: ArrayLike | None = None) -> FloatArray:
        """Measured charge Q_k(n) [PE] of the linear charge n [PE] (broadcast over channels,
        last axis; ``rows`` selects a subset of channels for that axis).  Odd in n, so a
        (rare) negative SPE-smeared charge stays on the linear low-charge branch."""
        n = np.asarray(n_pe, dtype=np.float64)
        sel = slice(None) if rows is None else np.asarray(rows, dtype=np.intp)
        b = self.nonlin_b[sel]
        if self.nonlin_form == "exp":
            fin = np.isfinite(b)
            q = np.where(fin, b * -np.expm1(-n / np.where(fin, b, 1.0)), n)
        else:
            q = n / (1.0 + b * (np.abs(n) / 100.0) ** self.nonlin_gamma[sel])
        if gain is not None:
            q = q * np.asarray(gain, dtype=np.float64)
        return np.asarray(q)

    def calibrated_response(self, n_pe: ArrayLike, gain: ArrayLike | None = None,
                            rows: ArrayLike | None = None) -> FloatArray:
        """Q_k(n) / m1_k: the charge in the PE unit of an SPE gain calibration (the mean
        charge of one PE reads 1 PE), which is what the laser files hold (docs/INPUTS.md)."""
        q = self.response(n_pe, gain, rows)
        if self.spe_charge is None:
            return q
        sel = slice(None) if rows is None else np.asarray(rows, dtype=np.intp)
        return np.asarray(q / self.spe_charge[sel])

    def collection_factor(self, xyz_mm: ArrayLike, chunk: int = 1024) -> FloatArray:
        """Q(x) for positions (m, 3) [mm] -> (m,), solid-angle weighted mean efficiency.

        w_k = cos(alpha_k) / d_k^2 with d_k^2 = R^2 + |x|^2 - 2 x.p_k and
        cos(alpha_k) = (R - x.p_k / R) / d_k (PMTs face the centre); one matrix product per
        chunk, float32 inside (relative precision 1e-6, far below the 0.2 % effect).
        """
        x = np.atleast_2d(np.asarray(xyz_mm, dtype=np.float64))
        p_t = (self.position_mm / LPMT_RADIUS_MM).T.astype(np.float32)  # unit vectors (3, K)
        eff = self.efficiency.astype(np.float32)
        out = np.empty(x.shape[0])
        r_pmt = np.float32(LPMT_RADIUS_MM / 1000.0)
        for i in range(0, x.shape[0], chunk):
            xi = (x[i : i + chunk] / 1000.0).astype(np.float32)  # metres
            xp = xi @ p_t  # x . p_hat  (m, K)
            x2 = np.einsum("mj,mj->m", xi, xi)[:, None]
            d2 = r_pmt * r_pmt + x2 - 2.0 * r_pmt * xp
            w = np.clip(r_pmt - xp, 0.0, None) / (d2 * np.sqrt(d2))
            out[i : i + chunk] = (w @ eff) / w.sum(axis=1)
        return out


def fibonacci_sphere(n: int, radius: float) -> FloatArray:
    """n quasi-uniform points on a sphere of ``radius`` (Fibonacci lattice), shape (n, 3)."""
    k = np.arange(n) + 0.5
    cos_t = 1.0 - 2.0 * k / n
    phi = np.pi * (1.0 + np.sqrt(5.0)) * k
    sin_t = np.sqrt(1.0 - cos_t**2)
    return radius * np.stack((sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t), axis=1)


def _saturation_pe(deficit: FloatArray) -> FloatArray:
    """n_s with n_s (1 - exp(-100/n_s)) = 100 (1 - d) (inf for d = 0), by bisection in 1/n_s."""
    d = np.asarray(deficit, dtype=np.float64)
    lo = np.zeros_like(d)
    hi = np.full_like(d, 1.0)  # 1/n_s = 1/PE: deficit ~ 0.99 at 100 PE
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            val = np.where(mid > 0, -np.expm1(-100.0 * mid) / (100.0 * mid), 1.0)
        too_linear = val > 1.0 - d
        lo = np.where(too_linear, mid, lo)
        hi = np.where(too_linear, hi, mid)
    inv = 0.5 * (lo + hi)
    return np.asarray(np.where(d > 1e-9, 1.0 / np.maximum(inv, 1e-300), np.inf))


@lru_cache(maxsize=8)
def _channels_cached(
    n: int, seed: int, qe_spread: float, dead_fraction: float, nonlin_max: float,
    form: str = "power", gamma_range: tuple[float, float] = (0.8, 1.0),
    spe_resolution: float = 0.0,
) -> LpmtChannels:
    rng = np.random.default_rng(seed)
    qe = np.clip(rng.normal(1.0, qe_spread, n), 0.5, 1.5)
    qe /= qe.mean()  # relative QE: the mean over all channels is exactly 1
    dead = np.zeros(n, dtype=bool)
    n_dead = round(dead_fraction * n)
    if n_dead:
        dead[rng.choice(n, n_dead, replace=False)] = True
    deficit = rng.uniform(0.0, nonlin_max, n)
    gamma = rng.uniform(gamma_range[0], gamma_range[1], n)
    if form not in ("power", "exp"):
        raise ValueError(f"unknown LPMT non-linearity form {form!r} (power, exp)")
    ch = LpmtChannels(
        position_mm=fibonacci_sphere(n, LPMT_RADIUS_MM),
        qe_rel=qe,
        dead=dead,
        nonlin_b=deficit / (1.0 - deficit) if form == "power" else _saturation_pe(deficit),
        nonlin_gamma=gamma,
        nonlin_form=form,
    )
    # mean raw charge of one PE (Gauss-Hermite over the SPE charge X ~ N(1, s^2))
    z, w = np.polynomial.hermite_e.hermegauss(24)
    m1 = np.asarray((w / w.sum()) @ ch.response(1.0 + spe_resolution * z[:, None]))
    ch = dataclasses.replace(ch, spe_charge=m1)
    for a in (ch.position_mm, ch.qe_rel, ch.dead, ch.nonlin_b, ch.nonlin_gamma, m1):
        a.setflags(write=False)
    return ch


def lpmt_channels(truth: DetectorTruth) -> LpmtChannels:
    """Per-channel truth of ``truth`` (deterministic in ``truth.channel_seed``, cached)."""
    if not 0.0 <= truth.lpmt_nonlin_max < 1.0:
        raise ValueError("lpmt_nonlin_max must be in [0, 1)")
    return _channels_cached(
        truth.n_lpmt,
        truth.channel_seed,
        truth.qe_spread,
        truth.dead_fraction,
        truth.lpmt_nonlin_max,
        truth.lpmt_nonlin_form,
        tuple(truth.lpmt_nonlin_gamma_range),
        truth.spe_resolution,
    )
