"""``nonuniformity_map`` payload: the position non-uniformity g(r, theta) of Eq. (3.3).

g is the light yield at a position relative to the detector centre (section 3), azimuthally
symmetric (section 3.3), built from a single gamma source deployed to ~250 points in a vertical
half-plane and smoothed with a two-dimensional spline (sections 3.4-3.5).

Representation: a tensor-product B-spline (FITPACK/scipy convention) in two coordinates chosen by
``coordinates``:

* ``"r3_costheta"`` (the axes of the paper's figure 11): u = (r / r_ref)^3, v = cos(theta);
* ``"r_theta"``: u = r / r_ref, v = theta [rad];

with ``r_ref`` [m] a scale chosen by the producer (1 m: u = r^3 in m^3; R_LS = 17.7 m: u in
[0, 1]).

r is the distance of the vertex from the detector centre and theta the polar angle from the +z
(vertical, upward) axis.  ``knots_u`` / ``knots_v`` are the full knot vectors (boundary knots
repeated), ``coefficients`` has shape ``(len(knots_u) - degree_u - 1, len(knots_v) - degree_v - 1)``
and the map is defined on the base rectangle ``[knots_u[degree_u], knots_u[-degree_u - 1]] x
[knots_v[degree_v], knots_v[-degree_v - 1]]``.  The calibration points (r, theta, g, sigma_g)
the spline was built from are kept for audit and re-fits.  Validation: knots non-decreasing,
multiplicity at most degree + 1, coefficient shape consistent, g > 0 on a 101 x 101 grid of the
domain.
"""

from __future__ import annotations

from functools import cached_property
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from conditions.payloads.base import (
    F8Matrix,
    F8Vector,
    FieldError,
    Payload,
    Real,
    payload_type,
)
from conditions.payloads.spline import TensorSpline

#: Grid (per axis) on which g > 0 is checked at validation.
N_CHECK = 101

Coordinates = Literal["r3_costheta", "r_theta"]


def _check_knots(field: str, knots: np.ndarray, degree: int) -> None:
    if knots.size < 2 * (degree + 1):
        raise FieldError(field, f"needs at least {2 * (degree + 1)} knots for degree {degree}")
    if not bool(np.all(np.diff(knots) >= 0)):
        i = int(np.argmax(np.diff(knots) < 0))
        raise FieldError(field, f"knots out of order at index {i + 1}")
    _, counts = np.unique(knots, return_counts=True)
    if int(counts.max()) > degree + 1:
        raise FieldError(field, f"a knot is repeated more than degree + 1 = {degree + 1} times")
    if not knots[degree] < knots[knots.size - degree - 1]:
        raise FieldError(field, "empty base interval")


@payload_type
class NonuniformityMapV1(Payload):
    """g(r, theta) as a 2-D spline plus the calibration points it was built from (Eq. 3.3)."""

    TYPE_NAME = "nonuniformity_map"
    SCHEMA_VERSION = 1

    schema_version: Literal[1] = Field(1, description="schema version of this document")
    coordinates: Coordinates = Field(
        "r3_costheta",
        description="spline axes: 'r3_costheta' (u = (r/r_ref)^3, v = cos theta) or "
        "'r_theta' (u = r/r_ref, v = theta [rad]); theta from the +z axis",
    )
    r_ref: Real = Field(1.0, gt=0, description="radius scale r_ref of the u axis [m]")
    knots_u: F8Vector = Field(description="full knot vector along u (dimensionless u)")
    knots_v: F8Vector = Field(description="full knot vector along v (units of v)")
    degree_u: int = Field(ge=1, le=5, description="spline degree along u")
    degree_v: int = Field(ge=1, le=5, description="spline degree along v")
    coefficients: F8Matrix = Field(description="B-spline coefficients (dimensionless g)")
    points_r: F8Vector = Field(description="radius of each calibration point [m]")
    points_theta: F8Vector = Field(description="polar angle of each calibration point [rad]")
    points_g: F8Vector = Field(description="measured g at each calibration point")
    points_g_uncertainty: F8Vector = Field(description="1 sigma of points_g")
    particle: str = Field("gamma", description="particle the map was built with")
    source: str = Field("AmC", description="calibration source, e.g. 'AmC' (n-H capture)")
    energy: Real = Field(2.223, gt=0, description="energy the map was built at [MeV]")

    @model_validator(mode="after")
    def _check(self) -> NonuniformityMapV1:
        _check_knots("knots_u", self.knots_u, self.degree_u)
        _check_knots("knots_v", self.knots_v, self.degree_v)
        shape = (
            self.knots_u.size - self.degree_u - 1,
            self.knots_v.size - self.degree_v - 1,
        )
        if self.coefficients.shape != shape:
            raise FieldError(
                "coefficients", f"expected shape {shape} from knots and degrees, "
                f"got {self.coefficients.shape}"
            )
        n = self.points_r.shape[0]
        for name in ("points_theta", "points_g", "points_g_uncertainty"):
            if getattr(self, name).shape != (n,):
                raise FieldError(name, f"expected {n} entries like points_r")
        if bool(np.any(self.points_r < 0)):
            raise FieldError("points_r", "negative radius")
        if bool(np.any((self.points_theta < 0) | (self.points_theta > np.pi))):
            raise FieldError("points_theta", "polar angle outside [0, pi]")
        if bool(np.any(self.points_g_uncertainty < 0)):
            raise FieldError("points_g_uncertainty", "negative uncertainty")
        (ulo, uhi), (vlo, vhi) = self.spline.domain
        if ulo < 0:
            raise FieldError("knots_u", "domain extends to negative radius")
        vmin, vmax = (-1.0, 1.0) if self.coordinates == "r3_costheta" else (0.0, float(np.pi))
        if vlo < vmin - 1e-12 or vhi > vmax + 1e-12:
            raise FieldError("knots_v", f"domain [{vlo}, {vhi}] outside [{vmin}, {vmax}]")
        gu, gv = np.meshgrid(
            np.linspace(ulo, uhi, N_CHECK), np.linspace(vlo, vhi, N_CHECK), indexing="ij"
        )
        if not bool(np.all(self.spline(gu.ravel(), gv.ravel()) > 0)):
            raise FieldError("coefficients", "g(r, theta) <= 0 somewhere in the domain")
        return self

    @cached_property
    def spline(self) -> TensorSpline:
        """The fast evaluator of the spline (built once per payload object)."""
        return TensorSpline(
            self.knots_u, self.knots_v, self.coefficients, self.degree_u, self.degree_v
        )

    def coordinates_uv(self, r2: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Spline coordinates (u, v) of vertices given r^2 [m^2] and z [m] (theta from +z).

        ``r3_costheta``: u = (r / r_ref)^3, v = cos(theta); otherwise u = r / r_ref, v = theta.
        """
        r = np.sqrt(r2)
        cos_t = np.ones_like(r)
        with np.errstate(invalid="ignore"):  # inf / inf from a non-finite vertex: NaN
            np.divide(z, r, out=cos_t, where=r > 0)
        np.clip(cos_t, -1.0, 1.0, out=cos_t)
        inv_ref = 1.0 / self.r_ref
        if self.coordinates == "r3_costheta":
            u = r2 * r
            u *= inv_ref**3
            return u, cos_t
        return r * inv_ref, np.arccos(cos_t)

    def g_xyz(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """g at vertices (x, y, z) [m]; outside the map's domain clamped to its edge."""
        u, v = self.coordinates_uv(x * x + y * y + z * z, np.asarray(z, dtype=np.float64))
        return self.spline(u, v)

    @property
    def r_max(self) -> float:
        """Largest radius covered by the map [m]."""
        uhi = self.spline.domain[0][1]
        u_r = float(np.cbrt(uhi)) if self.coordinates == "r3_costheta" else uhi
        return u_r * self.r_ref
