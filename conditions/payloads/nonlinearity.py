"""``energy_nonlinearity`` payload: the physics non-linearity f_nonlin of Eq. (2.3)-(2.5).

The model (paper Eq. 2.5, the four-parameter form of the first Daya Bay spectral analysis)::

    f_nonlin(E) = (p0 + p3 / E) / (1 + p1 * exp(-p2 * E))

with E = E^e the true kinetic energy of the electron/positron [MeV]; p0, p1 dimensionless,
p2 in 1/MeV, p3 in MeV.  f_nonlin = E_vis^e / E^e (Eq. 2.3), so the visible energy of the
positron's kinetic energy is E_vis^e(E) = E * f_nonlin(E) = (p0 E + p3) / (1 + p1 exp(-p2 E)),
which is finite at E -> 0 (p3 / (1 + p1)) although f_nonlin itself diverges there (GUIDE §5: the
p3/E term is meant for the integrated gamma response Eq. 2.6, not for tiny electron energies).

The payload also carries E_vis^anni (Eq. 2.2, from the enclosed 68Ge source), the valid range of
E^e, the +-1 sigma band of f_nonlin on an energy grid, the fit quality and the sources used.
Validation requires, on the valid range, a positive denominator, f_nonlin > 0 and E * f_nonlin(E)
strictly increasing, so that Eq. (2.4) has exactly one solution there.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from conditions.payloads.base import (
    F8Matrix,
    F8Vector,
    FieldError,
    Payload,
    Real,
    check_covariance,
    check_strictly_increasing,
    payload_type,
)

#: Number of grid points the monotonicity of E * f_nonlin is checked on across the valid range.
N_CHECK = 4001


def f_nonlin(e: np.ndarray, p0: float, p1: float, p2: float, p3: float) -> np.ndarray:
    """Physics non-linearity f_nonlin(E) of Eq. (2.5); ``e`` = kinetic energy [MeV], e > 0."""
    e = np.asarray(e, dtype=np.float64)
    return (p0 + p3 / e) / (1.0 + p1 * np.exp(-p2 * e))


def visible_electron_energy(
    e: np.ndarray, p0: float, p1: float, p2: float, p3: float
) -> np.ndarray:
    """E_vis^e(E) = E * f_nonlin(E) [MeV] (Eq. 2.3 with Eq. 2.5), finite at E = 0."""
    e = np.asarray(e, dtype=np.float64)
    return (p0 * e + p3) / (1.0 + p1 * np.exp(-p2 * e))


def visible_electron_energy_slope(
    e: np.ndarray, p0: float, p1: float, p2: float, p3: float
) -> np.ndarray:
    """d E_vis^e / d E (dimensionless), the derivative of :func:`visible_electron_energy`."""
    e = np.asarray(e, dtype=np.float64)
    x = p1 * np.exp(-p2 * e)
    den = 1.0 + x
    return (p0 * den + (p0 * e + p3) * p2 * x) / (den * den)


@payload_type
class EnergyNonlinearityV1(Payload):
    """Electron/positron physics non-linearity, Eq. (2.5), with its fit context."""

    TYPE_NAME = "energy_nonlinearity"
    SCHEMA_VERSION = 1

    schema_version: Literal[1] = Field(1, description="schema version of this document")
    model: Literal["juno-calib-eq2.5-4par"] = Field(
        "juno-calib-eq2.5-4par",
        description="model id: f_nonlin = (p0 + p3/E) / (1 + p1 exp(-p2 E)), paper Eq. 2.5",
    )
    p0: Real = Field(gt=0, description="p0 of Eq. 2.5 (dimensionless)")
    p1: Real = Field(gt=-1, description="p1 of Eq. 2.5 (dimensionless)")
    p2: Real = Field(ge=0, description="p2 of Eq. 2.5 [1/MeV]")
    p3: Real = Field(description="p3 of Eq. 2.5 [MeV]")
    covariance: F8Matrix = Field(description="4x4 covariance of (p0, p1, p2, p3)")
    e_min: Real = Field(ge=0, description="lower end of the valid kinetic-energy range [MeV]")
    e_max: Real = Field(gt=0, description="upper end of the valid kinetic-energy range [MeV]")
    e_vis_anni: Real = Field(
        gt=0, description="visible energy of the annihilation gammas E_vis^anni [MeV] (Eq. 2.2)"
    )
    e_vis_anni_uncertainty: Real = Field(ge=0, description="1 sigma of e_vis_anni [MeV]")
    band_energy: F8Vector = Field(description="energy grid of the +-1 sigma band [MeV]")
    band_lower: F8Vector = Field(description="f_nonlin at -1 sigma on band_energy")
    band_upper: F8Vector = Field(description="f_nonlin at +1 sigma on band_energy")
    chi2: Real = Field(ge=0, description="chi2 of the fit (Eq. 2.8)")
    ndf: int = Field(ge=0, description="degrees of freedom of the fit")
    sources: tuple[str, ...] = Field(
        (),
        strict=False,  # a JSON array (a list) is a tuple here
        description="calibration sources used, e.g. ('Cs137', 'Ge68', 'B12')",
    )

    @property
    def parameters(self) -> tuple[float, float, float, float]:
        """(p0, p1, p2, p3) of Eq. (2.5)."""
        return (self.p0, self.p1, self.p2, self.p3)

    def f_nonlin(self, e: np.ndarray) -> np.ndarray:
        """f_nonlin(E) (Eq. 2.5) at kinetic energies ``e`` [MeV]."""
        return f_nonlin(e, *self.parameters)

    def visible_electron_energy(self, e: np.ndarray) -> np.ndarray:
        """E_vis^e = E * f_nonlin(E) [MeV] at kinetic energies ``e`` [MeV]."""
        return visible_electron_energy(e, *self.parameters)

    @model_validator(mode="after")
    def _check(self) -> EnergyNonlinearityV1:
        check_covariance("covariance", self.covariance, 4)
        if not self.e_min < self.e_max:
            raise FieldError("e_max", f"valid range empty: e_min={self.e_min!r} >= e_max")
        grid = np.linspace(self.e_min, self.e_max, N_CHECK)
        p = self.parameters
        den = 1.0 + self.p1 * np.exp(-self.p2 * grid)
        if not bool(np.all(den > 0)):
            raise FieldError("p1", "denominator 1 + p1 exp(-p2 E) of Eq. 2.5 not positive")
        positive = grid[grid > 0]
        with np.errstate(over="ignore"):  # p3 / E for a denormal e_min: +-inf, still signed
            bad_f = positive[~(f_nonlin(positive, *p) > 0)]
        if bad_f.size:
            raise FieldError("p3", f"f_nonlin <= 0 at E = {bad_f[0]:.6g} MeV (valid range)")
        slope = visible_electron_energy_slope(grid, *p)
        if not bool(np.all(slope > 0)):
            at = grid[int(np.argmax(~(slope > 0)))]
            raise FieldError(
                "p0..p3",
                f"E*f_nonlin(E) not strictly increasing at E = {at:.6g} MeV (valid range)",
            )
        n = self.band_energy.shape[0]
        if n < 2:
            raise FieldError("band_energy", "needs at least 2 points")
        check_strictly_increasing("band_energy", self.band_energy, "energies")
        if self.band_energy[0] < 0:
            raise FieldError("band_energy", "negative energy")
        for name in ("band_lower", "band_upper"):
            if getattr(self, name).shape != (n,):
                raise FieldError(name, f"expected shape ({n},) like band_energy")
        if not bool(np.all(self.band_lower <= self.band_upper)):
            raise FieldError("band_lower", "band_lower > band_upper somewhere")
        if not bool(np.all(self.band_lower > 0)):
            raise FieldError("band_lower", "f_nonlin band must be positive")
        return self
