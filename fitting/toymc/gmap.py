"""True position non-uniformity g(r, theta) of the mock detector (paper section 3, Figure 8).

g is the light yield at a position relative to the centre, so g(0, theta) = 1 exactly.
The shape reproduces the features of Figure 8 / Figure 11:

* a gradual rise with radius (photon coverage and attenuation): 1 + a2 u^2 + a6 u^6 with
  u = r / R_LS, about +11 % at 15.5 m;
* a sharp drop close to the acrylic (total reflection at the acrylic/water interface), a
  logistic step of depth ``edge_depth`` centred at ``edge_radius_mm`` with width
  ``edge_width_mm``;
* a theta dependence that grows with radius (PMT coverage, shadowing by the chimney and the
  supports): a_cos u^4 cos(theta) + a_3 u^6 cos(3 theta).

theta is the polar angle from the +z axis (north pole, chimney) in radians; r in mm.
It is azimuthally symmetric (no phi), as assumed by the paper's 2D calibration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class GMapParams:
    """Parameters of the true g(r, theta) map (dimensionless unless a unit is in the name)."""

    r_ls_mm: float = 17_700.0
    a2: float = 0.08
    a6: float = 0.06
    edge_depth: float = 0.28
    edge_radius_mm: float = 16_600.0
    edge_width_mm: float = 350.0
    a_cos: float = 0.025
    a_cos3: float = 0.012


def _raw_g(r_mm: FloatArray, cos_t: FloatArray, p: GMapParams) -> FloatArray:
    u2 = (r_mm / p.r_ls_mm) ** 2
    u4 = u2 * u2
    u6 = u4 * u2
    rise = 1.0 + p.a2 * u2 + p.a6 * u6
    edge = 1.0 - p.edge_depth / (1.0 + np.exp(-(r_mm - p.edge_radius_mm) / p.edge_width_mm))
    cos3 = cos_t * (4.0 * cos_t * cos_t - 3.0)  # cos(3 theta)
    ang = 1.0 + p.a_cos * u4 * cos_t + p.a_cos3 * u6 * cos3
    return np.asarray(rise * edge * ang)


def _centre_value(p: GMapParams) -> float:
    return float(_raw_g(np.zeros(1), np.ones(1), p)[0])


def g_truth(r_mm: ArrayLike, theta_rad: ArrayLike, params: GMapParams | None = None) -> FloatArray:
    """True relative light yield g(r, theta), normalised so that g(0) = 1.

    Parameters
    ----------
    r_mm : array, radius of the energy deposit [mm]
    theta_rad : array, polar angle from +z [rad] (broadcast against r_mm)
    params : map parameters, default :class:`GMapParams`
    """
    p = params if params is not None else GMapParams()
    r = np.asarray(r_mm, dtype=np.float64)
    cos_t = np.cos(np.asarray(theta_rad, dtype=np.float64))
    return np.asarray(_raw_g(r, cos_t, p) / _centre_value(p))


def g_truth_xyz(xyz_mm: ArrayLike, params: GMapParams | None = None) -> FloatArray:
    """g at Cartesian positions, shape (..., 3) in mm -> shape (...)."""
    p = params if params is not None else GMapParams()
    xyz = np.asarray(xyz_mm, dtype=np.float64)
    r = np.sqrt(np.einsum("...j,...j->...", xyz, xyz))
    cos_t = np.where(r > 0.0, xyz[..., 2] / np.where(r > 0.0, r, 1.0), 1.0)
    return np.asarray(_raw_g(r, cos_t, p) / _centre_value(p))


def spherical(xyz_mm: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Return (r [mm], theta [rad]) of Cartesian positions of shape (..., 3) in mm."""
    xyz = np.asarray(xyz_mm, dtype=np.float64)
    r = np.sqrt(np.sum(xyz**2, axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        cos_t = np.where(r > 0.0, xyz[..., 2] / np.where(r > 0.0, r, 1.0), 1.0)
    return r, np.arccos(np.clip(cos_t, -1.0, 1.0))
