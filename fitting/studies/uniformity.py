"""Study code of the non-uniformity (paper section 3): the ideal equal-volume voxel map
g(r, theta, phi) (section 3.2) and the pieces of the resolution chain of Table 3 (Eq. 3.3
reconstruction, (a, b, c), a-tilde and energy-scale bias per step).  Used by tests and
benchmarks only; the production fit is :mod:`fitting.uniformity`.

Units: r in mm, theta in rad (polar angle from +z), phi in rad, energies in MeV.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fitting.physics.detector import R_LS_MM
from fitting.physics.visible import visible_energy
from fitting.uniformity import xyz_to_uv

FloatArray = NDArray[np.float64]


# ---------------------------------------------------------------------------------------
# ideal equal-volume voxel map (section 3.2)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VoxelMap:
    """g on equal-volume voxels: uniform bins in (r/r_max)^3, cos(theta) and phi.

    ``values`` has shape (n_r, n_cos, n_phi); n_phi = 1 is the azimuthally symmetric map.
    The default 50 x 20 x 20 = 20,000 voxels is the ideal map of section 3.2 (the paper
    gives only the total; 50 radial shells keep the ~0.13 m shell width near the acrylic,
    where g drops by ~30 % over ~1 m, while 20 shells would add ~0.4 % to b there).
    """

    values: FloatArray
    r_max_mm: float = R_LS_MM

    @property
    def shape(self) -> tuple[int, int, int]:
        """(n_r, n_cos, n_phi)."""
        s = self.values.shape
        return int(s[0]), int(s[1]), int(s[2])

    @staticmethod
    def voxel_index(xyz_mm: FloatArray, shape: tuple[int, int, int], r_max_mm: float) -> (
        NDArray[np.int64]
    ):
        """Flat voxel index of positions (..., 3) [mm]; r > r_max goes to the last shell."""
        n_r, n_c, n_p = shape
        u, v = xyz_to_uv(xyz_mm, r_max_mm)
        phi = np.arctan2(xyz_mm[..., 1], xyz_mm[..., 0]) % (2.0 * np.pi)
        ir = np.minimum((u * n_r).astype(np.int64), n_r - 1)
        ic = np.minimum(((v + 1.0) * 0.5 * n_c).astype(np.int64), n_c - 1)
        ip = np.minimum((phi / (2.0 * np.pi) * n_p).astype(np.int64), n_p - 1)
        return np.asarray((ir * n_c + ic) * n_p + ip)

    def __call__(self, xyz_mm: ArrayLike) -> FloatArray:
        """g of the voxel containing each position (..., 3) [mm]."""
        xyz = np.asarray(xyz_mm, dtype=np.float64)
        idx = self.voxel_index(xyz, self.shape, self.r_max_mm)
        return np.asarray(self.values.ravel()[idx])

    @classmethod
    def from_events(
        cls,
        xyz_mm: ArrayLike,
        response: ArrayLike,
        shape: tuple[int, int, int] = (50, 20, 20),
        r_max_mm: float = R_LS_MM,
        reference: float = 1.0,
    ) -> VoxelMap:
        """Mean ``response / reference`` of the events in each voxel (section 3.2).

        ``response`` is e.g. (PE - dark noise) / (Y0 E) of each event; empty voxels get the
        mean of the non-empty voxels of the same radial shell.
        """
        xyz = np.asarray(xyz_mm, dtype=np.float64)
        resp = np.asarray(response, dtype=np.float64) / reference
        n = shape[0] * shape[1] * shape[2]
        idx = cls.voxel_index(xyz, shape, r_max_mm)
        s = np.bincount(idx, weights=resp, minlength=n)
        c = np.bincount(idx, minlength=n).astype(np.float64)
        vals = np.divide(s, c, out=np.full(n, np.nan), where=c > 0).reshape(shape)
        shell = np.nanmean(vals.reshape(shape[0], -1), axis=1)
        shell = np.where(np.isfinite(shell), shell, 1.0)
        vals = np.where(np.isfinite(vals), vals, shell[:, None, None])
        return cls(values=vals, r_max_mm=r_max_mm)

    @classmethod
    def from_function(
        cls,
        g: Callable[[FloatArray], FloatArray],
        shape: tuple[int, int, int] = (50, 20, 20),
        r_max_mm: float = R_LS_MM,
        samples_per_voxel: int = 16,
        seed: int = 0,
    ) -> VoxelMap:
        """Voxel averages of a function ``g(xyz_mm)`` (infinite-statistics ideal map).

        Each voxel is sampled at ``samples_per_voxel`` uniform points (in volume).
        """
        rng = np.random.default_rng(seed)
        n_r, n_c, n_p = shape
        ir, ic, ip = np.meshgrid(np.arange(n_r), np.arange(n_c), np.arange(n_p), indexing="ij")
        m = samples_per_voxel
        uu = (ir.ravel()[:, None] + rng.uniform(size=(ir.size, m))) / n_r
        vv = (ic.ravel()[:, None] + rng.uniform(size=(ic.size, m))) / n_c * 2.0 - 1.0
        pp = (ip.ravel()[:, None] + rng.uniform(size=(ip.size, m))) / n_p * 2.0 * np.pi
        rr = r_max_mm * np.cbrt(uu)
        st = np.sqrt(1.0 - vv * vv)
        xyz = np.stack([rr * st * np.cos(pp), rr * st * np.sin(pp), rr * vv], axis=-1)
        vals = g(xyz).mean(axis=1).reshape(shape)
        return cls(values=vals, r_max_mm=r_max_mm)


# ---------------------------------------------------------------------------------------
# energy reconstruction and the resolution chain of Table 3 (sections 3.1-3.10)
# ---------------------------------------------------------------------------------------


def reconstruct_visible_energy(
    pe_total: ArrayLike, dark_noise_pe: float, y0_pe_per_mev: float, g: ArrayLike
) -> FloatArray:
    """Eq. (3.3): ``E_vis = (PE_tot - Delta Q_DR) / Y0 / g`` [MeV].

    ``pe_total`` [PE] (LPMT + SPMT), ``dark_noise_pe`` the mean dark-noise PE in the window,
    ``y0_pe_per_mev`` [PE/MeV], ``g`` the non-uniformity at each event's vertex.
    """
    return visible_energy(pe_total, dark_noise_pe, y0_pe_per_mev, g)


@dataclass(frozen=True)
class ChainStep:
    """One row of the resolution chain (Table 3).

    ``a``, ``c`` in sqrt(MeV) and MeV as fractions, ``b`` a fraction (Eq. 3.1); ``a_tilde``
    from Eq. 3.2 with its error including the (a, b, c) correlations; ``bias`` the mean
    relative difference between the reconstructed energy of uniform events and of central
    events at the same energies (section 3.9), None when no reference was given.
    """

    name: str
    a: float
    b: float
    c: float
    a_err: float
    b_err: float
    c_err: float
    a_tilde: float
    a_tilde_err: float
    chi2_ndf: float
    bias: float | None = None
    bias_err: float | None = None


def resolution_step(
    name: str,
    samples_mev: Sequence[FloatArray],
    centre_means: FloatArray | None = None,
    centre_mean_errs: FloatArray | None = None,
) -> ChainStep:
    """(a, b, c), a-tilde and energy bias of one chain step.

    ``samples_mev``: reconstructed E_vis [MeV] of the events at each energy (one array per
    energy, figure 9 Gaussian fits then the Eq. 3.1 fit, :mod:`fitting.resolution`);
    ``centre_means`` / ``centre_mean_errs``: the Gaussian means at the centre for the same
    energies (reference of the bias).
    """
    from fitting.resolution import fit_resolution, resolution_points

    means, rel, rel_err = resolution_points(samples_mev)
    res = fit_resolution(means, rel, rel_err)
    a, b, c = (float(v) for v in res.fit.values)
    ea, eb, ec = (float(v) for v in res.fit.errors)
    bias = bias_err = None
    if centre_means is not None:
        n = np.array([len(s) for s in samples_mev], dtype=np.float64)
        m_err = rel * means / np.sqrt(n)
        ratio = means / centre_means
        c_err = np.asarray(centre_mean_errs, dtype=np.float64)
        r_err = ratio * np.sqrt((m_err / means) ** 2 + (c_err / centre_means) ** 2)
        w = 1.0 / r_err**2
        bias = float(np.sum(w * (ratio - 1.0)) / np.sum(w))
        bias_err = float(1.0 / np.sqrt(np.sum(w)))
    return ChainStep(name, a, b, c, ea, eb, ec, res.a_tilde, res.a_tilde_err,
                     res.fit.chi2_ndf, bias, bias_err)


def format_chain_table(steps: Sequence[ChainStep]) -> str:
    """Table 3-like text table, values in %."""
    head = (f"{'assumption':42s} {'a (%)':>12s} {'b (%)':>12s} {'c (%)':>12s} "
            f"{'a~ (%)':>12s} {'bias (%)':>14s}")
    lines = [head, "-" * len(head)]
    for s in steps:
        bias = "-" if s.bias is None else f"{100 * s.bias:+.3f}({100 * (s.bias_err or 0):.3f})"
        def pm(v: float, e: float, nd: int = 2) -> str:
            # a parameter at its bound 0 has no parabolic error
            err = f"{100 * e:.{nd}f}" if np.isfinite(e) and e < 1.0 else "--"
            return f"{100 * v:6.{nd}f}({err})"

        cols = [pm(s.a, s.a_err), pm(s.b, s.b_err), pm(s.c, s.c_err),
                pm(s.a_tilde, s.a_tilde_err, 3)]
        lines.append(f"{s.name:42s} " + " ".join(cols) + f" {bias:>14s}")
    return "\n".join(lines)


def deposit_weighted_g(
    g_xyz: Callable[[FloatArray], FloatArray],
    pos_mm: FloatArray,
    weight: FloatArray,
    event_index: NDArray[np.int64],
    n_events: int,
    r_max_mm: float = R_LS_MM,
) -> tuple[FloatArray, NDArray[np.bool_]]:
    """Effective g of extended events: ``sum_i w_i g(x_i) / sum_i w_i`` per event.

    ``pos_mm`` (n, 3) deposit positions, ``weight`` (n,) their visible energies,
    ``event_index`` (n,) the event of each deposit.  Returns (g_eff per event, contained)
    where ``contained`` is True when every deposit lies inside ``r_max_mm`` (full-absorption
    peak events, section 3.4).
    """
    r2 = np.einsum("ij,ij->i", pos_mm, pos_mm)
    inside = r2 < r_max_mm**2
    gw = np.where(inside, g_xyz(pos_mm), 0.0) * weight
    num = np.bincount(event_index, weights=gw, minlength=n_events)
    den = np.bincount(event_index, weights=weight, minlength=n_events)
    lost = np.bincount(event_index, weights=(~inside).astype(np.float64), minlength=n_events)
    g = np.divide(num, den, out=np.zeros(n_events), where=den > 0)
    return g, (lost == 0) & (den > 0)
