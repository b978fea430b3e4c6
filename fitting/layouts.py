"""Calibration point layouts in the vertical half-plane (r, theta) of the CD.

Paper section 3.5 and Figure 12 (hardware: section 4, Table 4):

* ACU: 27 points on the central axis -- the centre, every 2 m up to 10 m, every 1 m from
  12 m to 17 m, and 17.2 m, 17.5 m, above and below the centre (1 + 2 x 13 = 27);
* GT: 23 points on the LS-acrylic boundary circle, one per acrylic layer (the stainless
  steel supports of the 23 layers);
* CLS: points in between, chosen from the 1300-point template (300 regular points on 10
  radial lines between 15 and 17 m + 1000 random points in the half-plane), restricted to
  the region reachable by the two cable loops with anchors at polar angles (theta1, theta2).

Azimuthal symmetry is assumed: a point is (r, theta) only, theta the polar angle from the
+z axis (chimney, north pole) in radians, r in mm.  Two loops in different vertical planes
are combined into one half-plane.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from fitting.physics.detector import R_LS_MM

FloatArray = NDArray[np.float64]


SYSTEM_ACU = "ACU"
SYSTEM_GT = "GT"
SYSTEM_CLS = "CLS"
SYSTEM_TEMPLATE = "template"


@dataclass(frozen=True)
class CalibPoints:
    """A set of calibration positions in the (r, theta) half-plane.

    Attributes
    ----------
    r_mm : ndarray, shape (n,)
        Radius [mm].
    theta_rad : ndarray, shape (n,)
        Polar angle from +z [rad], in [0, pi].
    system : ndarray of str, shape (n,)
        Deployment system of each point ("ACU", "GT", "CLS" or "template").
    """

    r_mm: FloatArray
    theta_rad: FloatArray
    system: NDArray[np.str_]

    def __post_init__(self) -> None:
        n = len(self.r_mm)
        if self.theta_rad.shape != (n,) or self.system.shape != (n,):
            raise ValueError("r_mm, theta_rad and system must have the same shape (n,)")

    def __len__(self) -> int:
        return len(self.r_mm)

    @property
    def rho_mm(self) -> FloatArray:
        """Distance from the central axis [mm]."""
        return np.asarray(self.r_mm * np.sin(self.theta_rad))

    @property
    def z_mm(self) -> FloatArray:
        """Height above the centre [mm]."""
        return np.asarray(self.r_mm * np.cos(self.theta_rad))

    def count(self, system: str) -> int:
        """Number of points of one deployment system."""
        return int(np.count_nonzero(self.system == system))

    def subset(self, mask: NDArray[np.bool_] | NDArray[np.int64]) -> CalibPoints:
        """Points selected by a boolean mask or an index array."""
        return CalibPoints(self.r_mm[mask], self.theta_rad[mask], self.system[mask])

    @staticmethod
    def concat(*parts: CalibPoints) -> CalibPoints:
        """Concatenate point sets in order."""
        return CalibPoints(
            np.concatenate([p.r_mm for p in parts]),
            np.concatenate([p.theta_rad for p in parts]),
            np.concatenate([p.system for p in parts]),
        )


def _points(r_mm: FloatArray, theta_rad: FloatArray, system: str) -> CalibPoints:
    return CalibPoints(
        np.asarray(r_mm, dtype=np.float64),
        np.asarray(theta_rad, dtype=np.float64),
        np.full(len(r_mm), system),
    )


def acu_axis_points() -> CalibPoints:
    """The 27 ACU points on the central axis (section 3.5 item 2).

    Heights z = 0, +-2, ..., +-10 m, +-12, ..., +-17 m, +-17.2 m, +-17.5 m; theta = 0 above
    the centre, pi below (the centre itself has theta = 0).
    """
    one_side = np.concatenate(
        [np.arange(2.0, 10.1, 2.0), np.arange(12.0, 17.1, 1.0), [17.2, 17.5]]
    ) * 1000.0
    r = np.concatenate([[0.0], one_side, one_side])
    theta = np.concatenate([[0.0], np.zeros(len(one_side)), np.full(len(one_side), np.pi)])
    return _points(r, theta, SYSTEM_ACU)


def gt_boundary_points(n: int = 23, r_mm: float = R_LS_MM) -> CalibPoints:
    """The GT points on the LS-acrylic boundary: one per acrylic layer (section 3.5 item 2).

    The 23 layers are taken equally spaced in theta, the point at the middle of each layer:
    theta_k = (k + 1/2) pi / n.
    """
    theta = (np.arange(n) + 0.5) * np.pi / n
    return _points(np.full(n, r_mm), theta, SYSTEM_GT)


def template_points(
    seed: int = 1300,
    n_lines: int = 10,
    n_per_line: int = 30,
    r_line_mm: tuple[float, float] = (15_000.0, 17_000.0),
    n_random: int = 1000,
    r_max_mm: float = 17_500.0,
) -> CalibPoints:
    """The 1300-point template of section 3.5 item 3.

    ``n_lines x n_per_line`` regular points on radial lines at theta_j = (j + 1/2) pi /
    n_lines between ``r_line_mm``, then ``n_random`` points uniform in the area of the
    vertical half-disc of radius ``r_max_mm`` (fixed ``seed``).
    """
    rng = np.random.default_rng(seed)
    th_lines = (np.arange(n_lines) + 0.5) * np.pi / n_lines
    r_lines = np.linspace(r_line_mm[0], r_line_mm[1], n_per_line)
    rr, tt = np.meshgrid(r_lines, th_lines)
    # uniform in the half-disc area: r ~ sqrt(U), theta uniform
    r_rand = r_max_mm * np.sqrt(rng.uniform(size=n_random))
    t_rand = rng.uniform(0.0, np.pi, size=n_random)
    return _points(
        np.concatenate([rr.ravel(), r_rand]),
        np.concatenate([tt.ravel(), t_rand]),
        SYSTEM_TEMPLATE,
    )


def cable_tensions(
    r_mm: FloatArray, theta_rad: FloatArray, anchor_theta_rad: float, r_anchor_mm: float = R_LS_MM
) -> tuple[FloatArray, FloatArray]:
    """Static tensions of the two CLS cables holding a source of unit (net) weight.

    The central cable runs from the source to the north pole (0, R); the side cable runs to
    the anchor on the acrylic at polar angle ``anchor_theta_rad`` (section 4.3).  Returns
    ``(T_central, T_side)`` in units of the source weight; a negative value means the point
    cannot be held (it lies outside the cone of the two cables).
    """
    rho = r_mm * np.sin(theta_rad)
    z = r_mm * np.cos(theta_rad)
    u1 = np.stack([-rho, r_anchor_mm - z])
    u2 = np.stack([r_anchor_mm * np.sin(anchor_theta_rad) - rho,
                   r_anchor_mm * np.cos(anchor_theta_rad) - z])
    u1 = u1 / np.linalg.norm(u1, axis=0)
    u2 = u2 / np.linalg.norm(u2, axis=0)
    # solve T1 u1 + T2 u2 = (0, 1) by Cramer's rule
    det = u1[0] * u2[1] - u1[1] * u2[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (0.0 * u2[1] - 1.0 * u2[0]) / det
        t2 = (u1[0] * 1.0 - u1[1] * 0.0) / det
    bad = ~np.isfinite(t1) | ~np.isfinite(t2)
    return np.where(bad, -1.0, t1), np.where(bad, -1.0, t2)


def cls_reachable(
    r_mm: FloatArray,
    theta_rad: FloatArray,
    anchor_theta_rad: float,
    min_tension: float = 0.1,
    wall_margin_mm: float = 200.0,
) -> NDArray[np.bool_]:
    """Points reachable by one cable loop with its anchor at ``anchor_theta_rad``.

    Both cable tensions must exceed ``min_tension`` (source weight units): close to the
    vertical lines through the axis and through the anchor one cable goes slack ("loss of
    cable tension", section 3.5 item 4).  Points within ``wall_margin_mm`` of the acrylic
    are excluded.
    """
    t1, t2 = cable_tensions(r_mm, theta_rad, anchor_theta_rad)
    return np.asarray(
        (t1 >= min_tension) & (t2 >= min_tension) & (r_mm <= R_LS_MM - wall_margin_mm)
    )


def cls_region(
    points: CalibPoints, anchors_rad: tuple[float, float], min_tension: float = 0.1
) -> NDArray[np.bool_]:
    """Mask of ``points`` reachable by either of the two cable loops (anchors theta1, theta2)."""
    m = np.zeros(len(points), dtype=bool)
    for a in anchors_rad:
        m |= cls_reachable(points.r_mm, points.theta_rad, a, min_tension)
    return m


def nominal_layout(
    anchors_deg: tuple[float, float] = (48.0, 78.0),
    n_cls: int = 200,
    seed: int = 0,
    template: CalibPoints | None = None,
    min_tension: float = 0.1,
) -> CalibPoints:
    """27 ACU + 23 GT + ``n_cls`` CLS points (250 nominal, Figure 12).

    The CLS points are drawn at random without replacement (``seed``) from the template
    points reachable with anchors ``anchors_deg`` (the paper's best anchors 48 deg, 78 deg).
    """
    tmpl = template if template is not None else template_points()
    reach = np.flatnonzero(cls_region(tmpl, (np.radians(anchors_deg[0]),
                                             np.radians(anchors_deg[1])), min_tension))
    if len(reach) < n_cls:
        raise ValueError(
            f"only {len(reach)} template points reachable with anchors {anchors_deg} deg, "
            f"{n_cls} requested - choose other anchors or fewer points"
        )
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(reach, size=n_cls, replace=False))
    cls = tmpl.subset(pick)
    cls = CalibPoints(cls.r_mm, cls.theta_rad, np.full(n_cls, SYSTEM_CLS))
    return CalibPoints.concat(acu_axis_points(), gt_boundary_points(), cls)


@dataclass(frozen=True)
class AnchorSearch:
    """Result of :func:`search_anchors` (section 3.5 optimisation).

    ``table`` rows: (theta1 [deg], theta2 [deg], best figure of merit, median figure of
    merit over the draws); ``best`` the layout with the smallest figure of merit overall and
    ``best_anchors_deg`` its anchors.
    """

    table: FloatArray
    best: CalibPoints
    best_anchors_deg: tuple[float, float]
    best_value: float


def search_anchors(
    figure_of_merit: Callable[[CalibPoints], float],
    anchors_deg: Sequence[float],
    n_draws: int,
    seed: int = 0,
    n_cls: int = 200,
    template: CalibPoints | None = None,
    min_tension: float = 0.1,
) -> AnchorSearch:
    """The paper's search (section 3.5, steps 1-5) for the anchors and the CLS points.

    For every pair ``theta1 < theta2`` of ``anchors_deg`` and ``n_draws`` random choices of
    ``n_cls`` reachable template points (plus the fixed 27 ACU + 23 GT points), evaluate
    ``figure_of_merit(layout)`` (the paper: a-tilde of uniform positrons corrected with the
    map built from the layout) and keep the minimum.  Pairs that cannot reach ``n_cls``
    template points are skipped.
    """
    tmpl = template if template is not None else template_points()
    rng = np.random.default_rng(seed)
    rows: list[tuple[float, float, float, float]] = []
    best: CalibPoints | None = None
    best_val = np.inf
    best_pair = (np.nan, np.nan)
    for i, a1 in enumerate(anchors_deg):
        for a2 in anchors_deg[i + 1 :]:
            vals = []
            for _ in range(n_draws):
                try:
                    lay = nominal_layout((a1, a2), n_cls, int(rng.integers(2**31)), tmpl,
                                         min_tension)
                except ValueError:
                    break
                v = float(figure_of_merit(lay))
                vals.append(v)
                if v < best_val:
                    best, best_val, best_pair = lay, v, (float(a1), float(a2))
            if vals:
                rows.append((float(a1), float(a2), min(vals), float(np.median(vals))))
    if best is None:
        raise ValueError("no anchor pair reaches enough template points")
    return AnchorSearch(np.array(rows), best, best_pair, best_val)
