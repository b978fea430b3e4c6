"""Shared fit-result type for every fitting job.

A :class:`FitResult` is the minimum every fit returns (GUIDE §5 "habits"): named parameter
values, their 1σ errors, the full covariance matrix, chi2 and ndf, a validity flag and a
human-readable message.  It is an immutable value; jobs with richer output (e.g. the
energy non-linearity band) wrap it in their own dataclass rather than extending this one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class FitResult:
    """Outcome of one fit.

    Attributes
    ----------
    names : tuple of str, shape (n,)
        Parameter names, in the order of ``values``.
    values : ndarray, shape (n,)
        Best-fit parameter values (units given by the producing job's docstring).
    errors : ndarray, shape (n,)
        1σ parabolic errors, ``sqrt(diag(covariance))``.
    covariance : ndarray, shape (n, n)
        Covariance matrix of the parameters.
    chi2 : float
        Minimum of the cost function (chi2, or -2 ln L relative to saturated model).
    ndf : int
        Number of degrees of freedom (data points minus free parameters).
    valid : bool
        True when the minimiser converged and the covariance is positive definite.
    message : str
        Minimiser message or reason for invalidity.
    extra : dict
        Job-specific scalars/arrays (e.g. number of events used); never required by consumers.
    """

    names: tuple[str, ...]
    values: FloatArray
    errors: FloatArray
    covariance: FloatArray
    chi2: float
    ndf: int
    valid: bool
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.names)
        if self.values.shape != (n,) or self.errors.shape != (n,):
            raise ValueError(f"values/errors must have shape ({n},), got "
                             f"{self.values.shape} and {self.errors.shape}")
        if self.covariance.shape != (n, n):
            raise ValueError(f"covariance must have shape ({n}, {n}), got {self.covariance.shape}")

    @property
    def chi2_ndf(self) -> float:
        """chi2 / ndf (nan when ndf <= 0)."""
        return self.chi2 / self.ndf if self.ndf > 0 else float("nan")

    def __getitem__(self, name: str) -> float:
        """Value of parameter ``name``."""
        return float(self.values[self.names.index(name)])

    def error(self, name: str) -> float:
        """1σ error of parameter ``name``."""
        return float(self.errors[self.names.index(name)])

    def as_dict(self) -> dict[str, float]:
        """Mapping name -> value."""
        return {k: float(v) for k, v in zip(self.names, self.values, strict=True)}

    @classmethod
    def from_covariance(
        cls,
        names: tuple[str, ...],
        values: FloatArray,
        covariance: FloatArray,
        chi2: float,
        ndf: int,
        valid: bool,
        message: str = "",
        extra: dict[str, Any] | None = None,
    ) -> FitResult:
        """Build a result, deriving ``errors`` from the covariance diagonal.

        A covariance with a non-finite or negative diagonal marks the result invalid.
        """
        values = np.asarray(values, dtype=np.float64)
        cov = np.atleast_2d(np.asarray(covariance, dtype=np.float64))
        diag = np.diag(cov)
        ok = bool(np.all(np.isfinite(diag)) and np.all(diag >= 0.0))
        errors = np.sqrt(np.where(ok, np.abs(diag), np.nan))
        if not ok:
            valid = False
            message = (message + "; " if message else "") + "covariance not positive"
        return cls(names=tuple(names), values=values, errors=errors, covariance=cov,
                   chi2=float(chi2), ndf=int(ndf), valid=bool(valid), message=message,
                   extra=dict(extra or {}))
