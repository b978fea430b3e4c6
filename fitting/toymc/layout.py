"""Campaign deployment points (paper Figure 12) and deployment travel times (section 5).

The point layout itself is the project's one layout, :mod:`fitting.layouts` (27 ACU axis
points, 23 GT points at the acrylic layers, 200 CLS points drawn from the 1300-point template
among those the two cable loops with anchors at 48 and 78 deg can hold with tension). This
module turns it into deployment points:

* positions are Cartesian [mm] in the vertical plane y = 0 (phi = 0 for x > 0, phi = 180 deg
  for x < 0); theta is the polar angle from +z (chimney);
* GT points sit on the Guide Tube, radius :data:`GT_RADIUS_MM` = 17.9 m just outside the 12 cm
  acrylic (the layout's theta, the tube's radius): their gammas cross the acrylic, so their
  spectra have the leakage tail of section 4.2;
* CLS points are split between the two loops, which hang in opposite half-planes (section
  4.3): CLS1 (anchor 48 deg, phi = 0) takes the points only it can hold and the shared points
  above the equator, CLS2 (anchor 78 deg, phi = 180 deg) the others. Each loop visits its
  points in nearest-neighbour order from the north pole.

Travel model (source speed 1 m/min):

* ACU: the source is parked 29 m above the centre (top of the chimney); a deployment goes down
  to the lowest point and comes back: 2 (29 m - z_min). Centre only: 58 min; full axis: 93 min
  (Tables 5-7 exactly).
* GT: one pass along the tube between the extreme points: 17.9 m x 172 deg = 53.8 min (Table 7
  quotes 50 min: the layout's end layers are 4 deg from the poles).
* CLS: path of each loop from the north pole of the LS through its points and back, plus
  cable-handling overheads per loop and per point (:data:`CLS_OVERHEAD_PER_LOOP_MIN`,
  :data:`CLS_OVERHEAD_PER_POINT_MIN`), fixed so that the CLS shares of Tables 5 (537 min for
  200 points) and 7 (293 min for 40 points) are reproduced.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from fitting.layouts import (
    SYSTEM_CLS,
    acu_axis_points,
    cls_reachable,
    gt_boundary_points,
    nominal_layout,
)
from fitting.physics.detector import ACU_PARKING_MM, GT_RADIUS_MM, R_LS_MM

FloatArray = NDArray[np.float64]
__all__ = ["ACU_PARKING_MM", "GT_RADIUS_MM", "R_LS_MM"]

SPEED_MM_PER_MIN: float = 1_000.0
"""Nominal source speed [mm/min] (section 5)."""
CLS_ANCHORS_DEG: tuple[float, float] = (48.0, 78.0)
"""Anchor polar angles of the two cable loops [deg]."""
CLS_OVERHEAD_PER_LOOP_MIN: float = 20.45
"""Cable-loop set-up/retraction overhead per loop [min] (fitted to Tables 5 and 7)."""
CLS_OVERHEAD_PER_POINT_MIN: float = 0.8434
"""Cable-loop positioning overhead per point (ultrasonic positioning) [min]."""


@dataclass(frozen=True)
class CalibPoint:
    """One deployment point: system ('ACU', 'CLS1', 'CLS2', 'GT') and position [mm]."""

    system: str
    x_mm: float
    y_mm: float
    z_mm: float

    @property
    def xyz(self) -> FloatArray:
        """Position as an array (3,) [mm]."""
        return np.array([self.x_mm, self.y_mm, self.z_mm])

    @property
    def r_mm(self) -> float:
        """Radius [mm]."""
        return float(np.sqrt(self.x_mm**2 + self.y_mm**2 + self.z_mm**2))

    @property
    def theta_rad(self) -> float:
        """Polar angle from +z [rad] (0 at the centre)."""
        r = self.r_mm
        return float(np.arccos(np.clip(self.z_mm / r, -1.0, 1.0))) if r > 0 else 0.0


def acu_axis_z_mm() -> FloatArray:
    """The 27 ACU z positions [mm] of :func:`fitting.layouts.acu_axis_points`, top to bottom."""
    return np.sort(acu_axis_points().z_mm)[::-1]


def acu_points(z_mm: FloatArray | None = None) -> list[CalibPoint]:
    """ACU points on the central axis (default: the 27 of Figure 12)."""
    zs = acu_axis_z_mm() if z_mm is None else np.asarray(z_mm, dtype=np.float64)
    return [CalibPoint("ACU", 0.0, 0.0, float(z) + 0.0) for z in zs]


def gt_points(n: int = 23) -> list[CalibPoint]:
    """Guide Tube points: the layout's layer angles on the tube radius (phi = 0)."""
    th = gt_boundary_points(n).theta_rad
    return [
        CalibPoint("GT", float(GT_RADIUS_MM * np.sin(t)), 0.0, float(GT_RADIUS_MM * np.cos(t)))
        for t in th
    ]


def _loop_of(r_mm: FloatArray, theta: FloatArray) -> NDArray[np.bool_]:
    """True where a CLS point goes to loop 1 (see module docstring)."""
    reach1 = cls_reachable(r_mm, theta, np.radians(CLS_ANCHORS_DEG[0]))
    reach2 = cls_reachable(r_mm, theta, np.radians(CLS_ANCHORS_DEG[1]))
    return np.asarray(reach1 & (~reach2 | (np.cos(theta) > 0.0)))


@lru_cache(maxsize=1)
def _cls_cached() -> tuple[CalibPoint, ...]:
    lay = nominal_layout(CLS_ANCHORS_DEG)
    cls = lay.subset(lay.system == SYSTEM_CLS)
    loop1 = _loop_of(cls.r_mm, cls.theta_rad)
    out: list[CalibPoint] = []
    for system, mask, sign in (("CLS1", loop1, 1.0), ("CLS2", ~loop1, -1.0)):
        pts = np.stack((cls.rho_mm[mask], cls.z_mm[mask]), axis=1)
        order = _greedy_tour(pts, np.array([0.0, R_LS_MM]))
        out += [CalibPoint(system, float(sign * x), 0.0, float(z)) for x, z in pts[order]]
    return tuple(out)


def cls_points() -> list[CalibPoint]:
    """The 200 cable-loop points of :func:`fitting.layouts.nominal_layout`, per loop in
    nearest-neighbour order starting from the north pole."""
    return list(_cls_cached())


def _greedy_tour(pts: FloatArray, start: FloatArray) -> list[int]:
    """Nearest-neighbour visiting order of 2D points starting next to ``start``."""
    left = list(range(pts.shape[0]))
    here = start
    order: list[int] = []
    while left:
        d = np.hypot(pts[left, 0] - here[0], pts[left, 1] - here[1])
        k = left.pop(int(np.argmin(d)))
        order.append(k)
        here = pts[k]
    return order


def figure12_points() -> list[CalibPoint]:
    """All 250 points: 27 ACU + 200 CLS + 23 GT."""
    return acu_points() + cls_points() + gt_points()


def monthly_cls_points(n: int = 40) -> list[CalibPoint]:
    """``n`` representative CLS points: every (200 / n)-th point of :func:`cls_points`."""
    pts = cls_points()
    step = len(pts) / n
    return [pts[int(i * step)] for i in range(n)]


# ---------------------------------------------------------------------------- travel model
def acu_travel_min(points: list[CalibPoint]) -> float:
    """ACU round trip to the lowest point and back to the parking position [min]."""
    z_min = min(p.z_mm for p in points)
    return 2.0 * (ACU_PARKING_MM - z_min) / SPEED_MM_PER_MIN


def gt_travel_min(points: list[CalibPoint]) -> float:
    """GT one pass along the tube between the extreme points [min]."""
    th = [p.theta_rad for p in points]
    return GT_RADIUS_MM * (max(th) - min(th)) / SPEED_MM_PER_MIN


def cls_travel_min(points: list[CalibPoint]) -> float:
    """CLS path (north pole -> points in order -> north pole, per loop) + overheads [min]."""
    total = 0.0
    for system in ("CLS1", "CLS2"):
        pts = [p for p in points if p.system == system]
        if not pts:
            continue
        pole = np.array([0.0, 0.0, R_LS_MM])
        path = np.concatenate(([pole], [p.xyz for p in pts], [pole]))
        length = float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum())
        total += length / SPEED_MM_PER_MIN + CLS_OVERHEAD_PER_LOOP_MIN
        total += CLS_OVERHEAD_PER_POINT_MIN * len(pts)
    return total


def travel_min(points: list[CalibPoint]) -> float:
    """Travel time of a deployment through ``points`` (one or several systems) [min]."""
    total = 0.0
    acu = [p for p in points if p.system == "ACU"]
    gt = [p for p in points if p.system == "GT"]
    cls = [p for p in points if p.system.startswith("CLS")]
    if acu:
        total += acu_travel_min(acu)
    if gt:
        total += gt_travel_min(gt)
    if cls:
        total += cls_travel_min(cls)
    return total
