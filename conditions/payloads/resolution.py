"""``energy_resolution`` payload: (a, b, c) of Eq. (3.1) and the effective resolution of Eq. (3.2).

sigma/E = sqrt((a/sqrt(E))^2 + b^2 + (c/E)^2) with E = E_vis^prompt in MeV (Eq. 3.1); the
parameters are stored as fractions (a = 0.0257 means 2.57 %, a in sqrt(MeV), b dimensionless,
c in MeV).  a_tilde = sqrt(a^2 + (1.6 b)^2 + (c/1.6)^2) (Eq. 3.2), stored for convenience and
checked against a, b, c.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from pydantic import Field, model_validator

from conditions.payloads.base import (
    F8Matrix,
    FieldError,
    Payload,
    Real,
    check_covariance,
    payload_type,
)

#: Relative agreement required between the stored a_tilde and Eq. (3.2) evaluated on (a, b, c):
#: 5e-3 admits a hand-written a_tilde rounded to three significant digits (e.g. 2.93 %).
A_TILDE_RTOL = 5e-3


def a_tilde(a: float, b: float, c: float) -> float:
    """Effective resolution a_tilde = sqrt(a^2 + (1.6 b)^2 + (c/1.6)^2) (Eq. 3.2)."""
    return math.sqrt(a * a + (1.6 * b) ** 2 + (c / 1.6) ** 2)


@payload_type
class EnergyResolutionV1(Payload):
    """Energy-resolution parameters a, b, c (Eq. 3.1) with covariance and a_tilde (Eq. 3.2)."""

    TYPE_NAME = "energy_resolution"
    SCHEMA_VERSION = 1

    schema_version: Literal[1] = Field(1, description="schema version of this document")
    a: Real = Field(ge=0, lt=1, description="stochastic term a (fraction, sqrt(MeV)) of Eq. 3.1")
    b: Real = Field(ge=0, lt=1, description="constant term b (fraction) of Eq. 3.1")
    c: Real = Field(ge=0, lt=1, description="noise term c (fraction, MeV) of Eq. 3.1")
    covariance: F8Matrix = Field(description="3x3 covariance of (a, b, c) [fraction^2]")
    a_tilde: Real = Field(ge=0, description="effective resolution of Eq. 3.2 (fraction)")
    chi2: Real = Field(ge=0, description="chi2 of the (a, b, c) fit")
    ndf: int = Field(ge=0, description="degrees of freedom of the (a, b, c) fit")

    @model_validator(mode="after")
    def _check(self) -> EnergyResolutionV1:
        check_covariance("covariance", self.covariance, 3)
        expected = a_tilde(self.a, self.b, self.c)
        if abs(self.a_tilde - expected) > A_TILDE_RTOL * max(expected, 1e-12):
            raise FieldError(
                "a_tilde",
                f"{self.a_tilde!r} disagrees with Eq. 3.2 on (a, b, c) = {expected!r}",
            )
        return self

    def sigma_over_e(self, e_vis: ArrayLike) -> np.ndarray:
        """Fractional resolution sigma/E at visible energy ``e_vis`` [MeV] (Eq. 3.1)."""
        e = np.asarray(e_vis, dtype=np.float64)
        return np.sqrt(self.a * self.a / e + self.b * self.b + (self.c / e) ** 2)

    def a_tilde_uncertainty(self) -> float:
        """1 sigma of a_tilde from the (a, b, c) covariance (linear error propagation)."""
        at = a_tilde(self.a, self.b, self.c)
        if at == 0.0:
            return 0.0
        grad = np.array([self.a, 1.6 * 1.6 * self.b, self.c / (1.6 * 1.6)]) / at
        return float(np.sqrt(max(float(grad @ self.covariance @ grad), 0.0)))
