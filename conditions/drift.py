"""Drift tracking: series of calibration scalars across runs, drift flags, global-tag diffs.

The weekly calibration "is designed to track major changes of the detector properties such as
variations in the light yield of the LS, PMT gains, and electronics" (paper section 5.2); this
module turns the payloads of a tag (or of a record of a global tag) into time series of tracked
scalars and flags the changes worth a look.

Tracked scalars (:data:`QUANTITIES`, one small extractor per scalar):

===================  =====================  ===============================================  =====
quantity             payload type           value (unit)                                     paper
===================  =====================  ===============================================  =====
Y0, Y0_error         light_yield            light yield and its 1 sigma [PE/MeV]             2.1
dQ_DR_LPMT, _SPMT    dark_noise             dark-noise offset Delta Q_DR [PE]                3.3
p0, p1, p2, p3       energy_nonlinearity    f_nonlin parameters (p2 [1/MeV], p3 [MeV])       2.5
E_vis_anni           energy_nonlinearity    visible energy of the annihilation gammas [MeV]  2.2
a, b, c, a_tilde     energy_resolution      resolution terms (fractions)                     3.1-2
g_mean, g_spread     nonuniformity_map      mean and RMS of g(r, theta) at the map's points   3.3
lpmt_corr_mean/_rms  lpmt_nonlinearity      mean / RMS over GOOD channels of the correction  2.2
                                            true/measured charge at the reference charge
lpmt_bad_channels    lpmt_nonlinearity      number of channels not GOOD (count)              3.8
===================  =====================  ===============================================  =====

Drift detection (:func:`analyse`), per quantity, on the points in run order:

* **step** at point i: the consecutive change (point i vs point i-1) exceeds the quantity's step
  threshold *and*, when the points carry errors, is more than ``n_sigma`` standard deviations
  (the significance guard: noise at the level of the errors never flags).
* **slow drift** at point i: the accumulated change since the drift reference exceeds the drift
  threshold (and ``n_sigma``), where the accumulation *excludes the flagged steps* (a step is
  reported once, as a step, and does not also count as drift).  By default the accumulated
  change is the slope of a weighted straight-line fit to the points since the reference (steps
  as free offsets) times their span, which averages the point noise down (``method="fit"``);
  ``method="points"`` takes the plain difference of the two points.  After a drift flag the drift
  reference moves to the flagged point, so a drift that continues is flagged again each time it
  accumulates another threshold's worth.  The drift reference starts at the series reference
  (the first point by default, or the IOV covering a chosen run).
* Changes are **relative** (fractions: ``v_i / v_j - 1``) for scale-like quantities and
  **absolute** (in the quantity's unit) for quantities near zero (p3) and counts.

Per-channel outliers of the LPMT curves (:func:`channel_outliers`): between consecutive payloads,
the change of each GOOD channel's correction at the reference charge is compared with the channel
population: a channel is an outlier when it moved by more than ``outlier_sigma`` robust standard
deviations (1.4826 x MAD) from the population's median change, and by more than
``outlier_min_change`` (so that a population that did not move at all does not turn float32
rounding into outliers).
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import store
from .errors import InvalidInput, RecordNotFound
from .model import GlobalTagState, Payload, Tag
from .payloads import (
    PAYLOAD_TYPES,
    ChannelStatus,
    DarkNoiseV2,
    EnergyNonlinearityV1,
    EnergyResolutionV1,
    LightYieldV1,
    LpmtNonlinearityV1,
    NonuniformityMapV1,
    decode_payload,
    upgrade,
)

#: (value, 1 sigma error or None when the payload carries none).
Measurement = tuple[float, float | None]

#: How the accumulated drift is estimated (see :func:`analyse`).
DriftMethod = Literal["fit", "points"]

#: Reference measured charge [PE] at which the LPMT correction curves are summarised: inside the
#: 0-100 PE laser scan of the dual calorimetry (section 2.2), where the non-linearity matters.
LPMT_REFERENCE_CHARGE = 50.0

#: Default significance guard [standard deviations]: with ~50 weekly points per quantity and
#: year, a two-sided 4 sigma test (p = 6.3e-5 per point) gives a 0.3 % chance per quantity and
#: year of flagging pure noise when the threshold itself is below the noise.
DEFAULT_N_SIGMA = 4.0

#: Default per-channel outlier cut [robust standard deviations of the channel population]: with
#: 17,612 Gaussian channels, P(|z| > 5) x 17,612 = 0.01 false outliers per payload pair.
DEFAULT_OUTLIER_SIGMA = 5.0

#: Smallest change of a channel's correction (fraction) that can make it an outlier: 0.1 %,
#: three times below the 0.3 % dual-calorimetry residual (section 2.3.5), far above float32
#: rounding (6e-8).
DEFAULT_OUTLIER_MIN_CHANGE = 1e-3


# ------------------------------------------------------------------------------------------------
# The registry of tracked quantities
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Thresholds:
    """Drift thresholds of one quantity.

    ``step`` bounds the change between consecutive IOVs, ``drift`` the accumulated change since
    the drift reference (steps excluded).  Fractions for relative quantities (0.003 = 0.3 %),
    the quantity's unit for absolute ones.  ``math.inf`` disables a check.
    """

    step: float
    drift: float

    def __post_init__(self) -> None:
        for name in ("step", "drift"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and value >= 0 and not math.isnan(value)):
                raise InvalidInput(
                    f"invalid {name} threshold {value!r}", "thresholds are numbers >= 0"
                )


@dataclass(frozen=True)
class Quantity:
    """A tracked scalar of one payload type.

    ``extract`` maps a payload model (upgraded to the latest schema version) to
    ``(value, error)``; ``relative`` says whether changes are fractions or differences.
    """

    name: str
    payload_type: str
    label: str
    unit: str
    relative: bool
    thresholds: Thresholds
    extract: Callable[[Any], Measurement] = field(repr=False, compare=False)
    description: str = ""


def _sigma(cov: np.ndarray, k: int) -> float:
    return float(math.sqrt(max(float(cov[k, k]), 0.0)))


def _y0(m: LightYieldV1) -> Measurement:
    return float(m.y0), float(m.y0_uncertainty)


def _y0_error(m: LightYieldV1) -> Measurement:
    return float(m.y0_uncertainty), None


def _dq_lpmt(m: DarkNoiseV2) -> Measurement:
    return float(m.offset_lpmt), float(m.offset_lpmt_uncertainty)


def _dq_spmt(m: DarkNoiseV2) -> Measurement:
    return float(m.offset_spmt), float(m.offset_spmt_uncertainty)


def _nl_param(k: int) -> Callable[[EnergyNonlinearityV1], Measurement]:
    def extract(m: EnergyNonlinearityV1) -> Measurement:
        return float(m.parameters[k]), _sigma(m.covariance, k)

    return extract


def _e_vis_anni(m: EnergyNonlinearityV1) -> Measurement:
    return float(m.e_vis_anni), float(m.e_vis_anni_uncertainty)


def _res_param(k: int) -> Callable[[EnergyResolutionV1], Measurement]:
    def extract(m: EnergyResolutionV1) -> Measurement:
        return float((m.a, m.b, m.c)[k]), _sigma(m.covariance, k)

    return extract


def _a_tilde(m: EnergyResolutionV1) -> Measurement:
    return float(m.a_tilde), m.a_tilde_uncertainty()


def g_at_points(m: NonuniformityMapV1) -> np.ndarray:
    """g(r, theta) of the map's spline at its own calibration points (dimensionless, Eq. 3.3)."""
    r = m.points_r / m.r_ref
    if m.coordinates == "r3_costheta":
        u, v = r**3, np.cos(m.points_theta)
    else:
        u, v = r, m.points_theta
    return np.asarray(m.spline(u, v), dtype=np.float64)


def _g_mean(m: NonuniformityMapV1) -> Measurement:
    """Mean of g over the N points; error = sqrt(sum sigma_i^2) / N (points independent)."""
    g = g_at_points(m)
    if g.size == 0:
        return float("nan"), None
    err = float(np.sqrt(np.sum(m.points_g_uncertainty**2))) / g.size
    return float(g.mean()), err


def _g_spread(m: NonuniformityMapV1) -> Measurement:
    """RMS of g about its mean over the points; error by linear propagation of sigma_i:
    d(rms)/d(g_i) = (g_i - mean) / (N rms)."""
    g = g_at_points(m)
    if g.size == 0:
        return float("nan"), None
    dev = g - g.mean()
    rms = float(np.sqrt(np.mean(dev**2)))
    if rms == 0.0:
        return 0.0, None
    err = float(np.sqrt(np.sum((dev * m.points_g_uncertainty) ** 2))) / (g.size * rms)
    return rms, err


@dataclass(frozen=True)
class ChannelCorrections:
    """Per-channel summary of an LPMT payload, sorted by channel id.

    ``correction`` = true charge / measured charge at :data:`LPMT_REFERENCE_CHARGE`
    (dimensionless, 1 = linear channel); ``good`` marks the channels with status GOOD.
    """

    channel_ids: np.ndarray
    correction: np.ndarray
    good: np.ndarray


def channel_corrections(
    m: LpmtNonlinearityV1, q_ref: float = LPMT_REFERENCE_CHARGE
) -> ChannelCorrections:
    """Correction factor true/measured charge of every channel at ``q_ref`` [PE] (section 2.2),
    linear between the curve's nodes as in :class:`conditions.energy` (end segments outside)."""
    grid = m.charge_grid
    k = int(np.clip(np.searchsorted(grid, q_ref, side="right") - 1, 0, grid.size - 2))
    t = (q_ref - grid[k]) / (grid[k + 1] - grid[k])
    y0 = m.true_charge[:, k].astype(np.float64)
    y1 = m.true_charge[:, k + 1].astype(np.float64)
    corr = (y0 + t * (y1 - y0)) / q_ref
    order = np.argsort(m.channel_ids, kind="stable")
    good = m.status == ChannelStatus.GOOD
    return ChannelCorrections(m.channel_ids[order], corr[order], good[order])


def _lpmt_mean(m: LpmtNonlinearityV1) -> Measurement:
    """Mean correction over GOOD channels; error = RMS / sqrt(N) (spread of the population)."""
    cc = channel_corrections(m)
    x = cc.correction[cc.good]
    if x.size == 0:
        return float("nan"), None
    return float(x.mean()), float(x.std() / math.sqrt(x.size))


def _lpmt_rms(m: LpmtNonlinearityV1) -> Measurement:
    """RMS of the correction over GOOD channels; error = RMS / sqrt(2 (N - 1)) (Gaussian)."""
    cc = channel_corrections(m)
    x = cc.correction[cc.good]
    if x.size < 2:
        return float("nan"), None
    rms = float(x.std())
    return rms, rms / math.sqrt(2.0 * (x.size - 1))


def _lpmt_bad(m: LpmtNonlinearityV1) -> Measurement:
    return float(np.count_nonzero(m.status != ChannelStatus.GOOD)), None


def _q(
    name: str,
    ptype: str,
    label: str,
    unit: str,
    relative: bool,
    step: float,
    drift: float,
    extract: Callable[[Any], Measurement],
    description: str,
) -> Quantity:
    thresholds = Thresholds(step, drift)
    return Quantity(name, ptype, label, unit, relative, thresholds, extract, description)


#: Every tracked quantity by name.  Default thresholds (fractions for relative quantities):
#: Y0 0.3 % per step (three times the weekly AmC statistical precision, section 5.2, and below
#: the mock detector's 0.4 % light-yield step) and 0.3 % accumulated (the -0.5 %/year LS ageing
#: of the mock flags after ~7 months); the energy-scale quantities (p0, E_vis^anni, g mean,
#: LPMT mean correction) 0.3-0.5 % (the 0.3 % dual-calorimetry residual and f_nonlin
#: agreement of section 2.3); shape parameters and resolution terms a few to 30 % (their own
#: relative errors are percent-level: b = 0.73 +- 0.01 %).
QUANTITIES: dict[str, Quantity] = {
    q.name: q
    for q in (
        _q("Y0", "light_yield", "Y0", "PE/MeV", True, 0.003, 0.003, _y0,
           "light yield at the CD centre (n-H 2.223 MeV), Eq. 2.1"),
        _q("Y0_error", "light_yield", "sigma(Y0)", "PE/MeV", True, 0.5, 1.0, _y0_error,
           "1 sigma uncertainty of Y0"),
        _q("dQ_DR_LPMT", "dark_noise", "Delta Q_DR (LPMT)", "PE", True, 0.02, 0.05, _dq_lpmt,
           "dark-noise offset of the LPMT system, Eq. 3.3"),
        _q("dQ_DR_SPMT", "dark_noise", "Delta Q_DR (SPMT)", "PE", True, 0.02, 0.05, _dq_spmt,
           "dark-noise offset of the SPMT system, Eq. 3.3"),
        _q("p0", "energy_nonlinearity", "p0", "1", True, 0.005, 0.005, _nl_param(0),
           "p0 of f_nonlin, Eq. 2.5"),
        _q("p1", "energy_nonlinearity", "p1", "1", True, 0.05, 0.10, _nl_param(1),
           "p1 of f_nonlin, Eq. 2.5"),
        _q("p2", "energy_nonlinearity", "p2", "1/MeV", True, 0.05, 0.10, _nl_param(2),
           "p2 of f_nonlin, Eq. 2.5"),
        _q("p3", "energy_nonlinearity", "p3", "MeV", False, 0.003, 0.005, _nl_param(3),
           "p3 of f_nonlin, Eq. 2.5 (near zero: absolute changes)"),
        _q("E_vis_anni", "energy_nonlinearity", "E_vis^anni", "MeV", True, 0.003, 0.005,
           _e_vis_anni, "visible energy of the annihilation gammas (68Ge), Eq. 2.2"),
        _q("a", "energy_resolution", "a", "sqrt(MeV)", True, 0.03, 0.05, _res_param(0),
           "stochastic term of Eq. 3.1"),
        _q("b", "energy_resolution", "b", "1", True, 0.2, 0.3, _res_param(1),
           "constant term of Eq. 3.1"),
        _q("c", "energy_resolution", "c", "MeV", True, 0.1, 0.2, _res_param(2),
           "noise term of Eq. 3.1"),
        _q("a_tilde", "energy_resolution", "a~", "1", True, 0.02, 0.03, _a_tilde,
           "effective resolution, Eq. 3.2"),
        _q("g_mean", "nonuniformity_map", "mean g", "1", True, 0.002, 0.003, _g_mean,
           "mean of g(r, theta) at the map's calibration points, Eq. 3.3"),
        _q("g_spread", "nonuniformity_map", "RMS g", "1", True, 0.05, 0.10, _g_spread,
           "RMS of g(r, theta) at the map's calibration points"),
        # 0.6 %: a 10-step laser scan (Table 6) scatters the mean correction by ~0.15 % from
        # week to week on the mock detector; 0.3 % flagged noise (tests/integration/test_mock_year)
        _q("lpmt_corr_mean", "lpmt_nonlinearity", "mean LPMT correction", "1", True, 0.006,
           0.006, _lpmt_mean,
           f"mean over GOOD channels of true/measured charge at {LPMT_REFERENCE_CHARGE:g} PE"),
        _q("lpmt_corr_rms", "lpmt_nonlinearity", "RMS LPMT correction", "1", True, 0.1, 0.2,
           _lpmt_rms,
           f"RMS over GOOD channels of true/measured charge at {LPMT_REFERENCE_CHARGE:g} PE"),
        _q("lpmt_bad_channels", "lpmt_nonlinearity", "LPMT channels not GOOD", "channels",
           False, 20.0, 50.0, _lpmt_bad, "channels with status NO_CURVE or DEAD"),
    )
}


def quantity(name: str) -> Quantity:
    """The tracked quantity called ``name`` (case-insensitive)."""
    found = QUANTITIES.get(name) or {k.lower(): q for k, q in QUANTITIES.items()}.get(name.lower())
    if found is None:
        raise InvalidInput(
            f"unknown quantity {name!r}", f"tracked quantities: {', '.join(QUANTITIES)}"
        )
    return found


def quantities_for(payload_type: str) -> list[Quantity]:
    """The tracked quantities of a payload type, in registry order (empty for untyped ones)."""
    return [q for q in QUANTITIES.values() if q.payload_type == payload_type]


def extract(q: Quantity, model: BaseModel) -> Measurement:
    """``(value, error)`` of quantity ``q`` from a payload model (upgraded first)."""
    value, error = q.extract(upgrade(model))
    if error is not None and not math.isfinite(error):
        error = None
    return value, error


# ------------------------------------------------------------------------------------------------
# Configuration
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DriftConfig:
    """How drifts are flagged: threshold overrides per quantity name, significance guard
    ``n_sigma``, per-channel outlier cut, the reference run (None: the first point) and the
    drift estimator (``"fit"`` or ``"points"``, see :func:`analyse`)."""

    thresholds: Mapping[str, Thresholds] = field(default_factory=dict)
    n_sigma: float = DEFAULT_N_SIGMA
    outlier_sigma: float = DEFAULT_OUTLIER_SIGMA
    outlier_min_change: float = DEFAULT_OUTLIER_MIN_CHANGE
    reference_run: int | None = None
    method: DriftMethod = "fit"

    def thresholds_for(self, q: Quantity) -> Thresholds:
        return self.thresholds.get(q.name, q.thresholds)


_NUMBER = r"[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?"
_THRESHOLD = re.compile(rf"^\s*({_NUMBER})?\s*(%?)\s*$")


def _parse_value(text: str, what: str) -> float | None:
    if text.strip().lower() == "off":
        return math.inf
    match = _THRESHOLD.match(text)
    if match is None:
        raise InvalidInput(
            f"invalid {what} threshold {text!r}", "give a number, optionally with %, e.g. 0.5%"
        )
    number, percent = match.groups()
    if number is None:
        if percent:
            raise InvalidInput(f"invalid {what} threshold {text!r}", "a number is missing")
        return None
    value = float(number)
    return value / 100.0 if percent else value


def parse_threshold(
    text: str, base: Mapping[str, Thresholds] | None = None
) -> tuple[str, Thresholds]:
    """Parse ``Q=STEP[:DRIFT]`` (e.g. ``Y0=0.5%``, ``Y0=0.3%:1%``, ``Y0=:1%``, ``p3=0.002``,
    ``Y0=off:1%``).

    ``%`` divides by 100; ``off`` disables the check; a plain number is in the quantity's
    threshold unit (a fraction for relative quantities, the quantity's unit otherwise).  A part
    left empty keeps the value from ``base`` (earlier overrides) or the quantity's default.
    Returns (quantity name, thresholds).
    """
    name, sep, rest = text.partition("=")
    if not sep:
        raise InvalidInput(
            f"invalid threshold {text!r}", "write QUANTITY=STEP[:DRIFT], e.g. Y0=0.5%:1%"
        )
    q = quantity(name.strip())
    current = (base or {}).get(q.name, q.thresholds)
    step_text, _, drift_text = rest.partition(":")
    step = _parse_value(step_text, "step")
    drift = _parse_value(drift_text, "drift") if drift_text.strip() else None
    if step is None and drift is None:
        raise InvalidInput(f"threshold {text!r} sets nothing", "give STEP, :DRIFT or both")
    return q.name, Thresholds(
        current.step if step is None else step, current.drift if drift is None else drift
    )


# ------------------------------------------------------------------------------------------------
# Pure analysis
# ------------------------------------------------------------------------------------------------
FlagKind = Literal["step", "drift"]


@dataclass(frozen=True)
class Flag:
    """A flagged change at point ``index`` of a series.

    ``change`` is the consecutive change (step) or the accumulated change since ``reference``
    (drift, steps excluded), a fraction for relative quantities; ``significance`` in standard
    deviations (None when the points carry no errors).
    """

    index: int
    kind: FlagKind
    change: float
    threshold: float
    significance: float | None
    reference: int


@dataclass(frozen=True)
class Analysis:
    """Changes of every point of a series and the flags (see the module docstring).

    Per point i: ``change[i]`` vs point i-1 (None for the first point or when undefined),
    ``change_sigma[i]`` its 1 sigma, ``to_reference[i]`` vs the series reference (steps
    included), ``drift[i]`` accumulated since the drift reference in force at i (steps
    excluded; None before the series reference).
    """

    relative: bool
    thresholds: Thresholds
    n_sigma: float
    reference: int
    method: DriftMethod
    change: tuple[float | None, ...]
    change_sigma: tuple[float | None, ...]
    to_reference: tuple[float | None, ...]
    drift: tuple[float | None, ...]
    flags: tuple[Flag, ...]

    def flagged(self, kind: FlagKind | None = None) -> list[int]:
        """Indices of the flagged points (of one kind, or of any)."""
        return [f.index for f in self.flags if kind is None or f.kind == kind]


def _fitted_drift(
    level: np.ndarray, sig: np.ndarray, window: Sequence[int], steps: Sequence[int]
) -> tuple[float, float | None] | None:
    """Level change (log or absolute) from ``window[0]`` to ``window[-1]`` fitted as a straight
    line in the point index plus one free offset per step index in ``steps``; and its 1 sigma
    (None without errors).  None when the points cannot determine the slope."""
    idx = np.asarray(window, dtype=np.intp)
    x = (idx - idx[0]).astype(np.float64)
    design = np.column_stack(
        [np.ones_like(x), x, *((idx >= j).astype(np.float64) for j in steps)]
    )
    if idx.size < design.shape[1]:
        return None
    s = sig[idx]
    weighted = bool(np.all(np.isfinite(s)) and np.all(s > 0))
    w = 1.0 / s if weighted else np.ones_like(x)
    aw = design * w[:, None]
    yw = level[idx] * w
    if np.linalg.matrix_rank(aw) < design.shape[1]:
        return None
    cov = np.linalg.inv(aw.T @ aw)
    beta = cov @ (aw.T @ yw)
    span = float(x[-1])
    change = float(beta[1]) * span
    if not weighted:
        return change, None
    ndf = idx.size - design.shape[1]
    scale = 1.0
    if ndf > 0:
        chi2 = float(np.sum((yw - aw @ beta) ** 2))
        scale = max(1.0, math.sqrt(chi2 / ndf))
    return change, math.sqrt(max(float(cov[1, 1]), 0.0)) * span * scale


def _significant(change: float, sigma: float | None, n_sigma: float) -> tuple[bool, float | None]:
    if sigma is None or not sigma > 0:
        return True, None
    z = abs(change) / sigma
    return z > n_sigma, z


def analyse(
    values: Sequence[float],
    errors: Sequence[float | None],
    *,
    relative: bool,
    thresholds: Thresholds,
    n_sigma: float = DEFAULT_N_SIGMA,
    reference: int = 0,
    method: DriftMethod = "fit",
) -> Analysis:
    """Flag steps and slow drifts in a series (values in run order, errors 1 sigma or None).

    Relative quantities are handled in log space: the change between points j and i is
    ``exp(l_i - l_j) - 1`` with ``l = log(value)`` and ``sigma_l = error / value``; absolute
    quantities use ``v_i - v_j``.

    The accumulated drift at point i since the drift reference r (flagged steps excluded) is
    estimated by ``method``:

    * ``"fit"`` (default): a weighted least-squares straight line in the point index over the
      usable points r..i, with one free offset per step flagged since r (so the steps do not
      bias the slope): drift = slope x (i - r), 1 sigma from the fit covariance, scaled up by
      sqrt(chi2/ndf) when that exceeds 1 (errors too small for the scatter).  For N equally
      precise points without steps its sigma is ~ sigma_point sqrt(12 / N), against
      2 sigma_point for the two-point difference with one removed step: a slow drift is
      flagged closer to where it truly crosses, and once only.  The x axis is the point index
      (campaign order), not the run number.
    * ``"points"``: the step-corrected level of i minus that of r, where the step-corrected
      level is the raw level minus every flagged step's consecutive change; its variance sums
      over the points it depends on (i, r and both sides of each step).

    A point whose value is not finite (or not positive for a relative quantity) is skipped: it
    gets no change and cannot be flagged, and the next point compares with the last usable one.
    """
    n = len(values)
    if len(errors) != n:
        raise ValueError(f"{n} values but {len(errors)} errors")
    if n and not 0 <= reference < n:
        raise ValueError(f"reference index {reference} outside 0..{n - 1}")
    level = np.full(n, np.nan)
    sig = np.full(n, np.nan)  # 1 sigma of the level, NaN when unknown
    for i, (v, e) in enumerate(zip(values, errors, strict=True)):
        if not math.isfinite(v) or (relative and v <= 0):
            continue
        level[i] = math.log(v) if relative else v
        if e is not None and math.isfinite(e) and e >= 0:
            sig[i] = e / v if relative else e

    def to_change(diff: float) -> float:
        return math.expm1(diff) if relative else diff

    def combine(coef: dict[int, float]) -> tuple[float, float | None]:
        """(change, 1 sigma) of the linear combination sum coef_k level_k of raw levels."""
        used = {k: c for k, c in coef.items() if c != 0.0}
        d = math.fsum(c * float(level[k]) for k, c in used.items())
        if not used or any(math.isnan(sig[k]) for k in used):
            return to_change(d), None
        s = math.sqrt(math.fsum((c * float(sig[k])) ** 2 for k, c in used.items()))
        return to_change(d), s * (math.exp(d) if relative else 1.0)

    change: list[float | None] = [None] * n
    change_sigma: list[float | None] = [None] * n
    to_reference: list[float | None] = [None] * n
    drift: list[float | None] = [None] * n
    flags: list[Flag] = []
    # The corrected level of point i is level_i + sum over flagged steps (p, j), j <= i, of
    # (level_p - level_j); steps at or before the drift reference cancel in the difference, so
    # only the (p, j) pairs flagged since the drift reference are kept.
    steps_since_ref: list[tuple[int, int]] = []
    window: list[int] = []  # usable points since the drift reference (for the fit)
    drift_ref: int | None = None
    prev: int | None = None
    for i in range(n):
        if math.isnan(level[i]):
            continue
        if prev is not None:
            change[i], change_sigma[i] = combine({i: 1.0, prev: -1.0})
            significant, z = _significant(change[i] or 0.0, change_sigma[i], n_sigma)
            if abs(change[i] or 0.0) > thresholds.step and significant:
                flags.append(Flag(i, "step", change[i] or 0.0, thresholds.step, z, prev))
                if drift_ref is not None:
                    steps_since_ref.append((prev, i))
        if i >= reference and not math.isnan(level[reference]):
            to_reference[i] = to_change(float(level[i] - level[reference]))
            if drift_ref is None:
                drift_ref = i
                steps_since_ref.clear()
                window.clear()
            window.append(i)
            dsig: float | None
            if method == "fit":
                fitted = _fitted_drift(level, sig, window, [j for _, j in steps_since_ref])
                if fitted is None:
                    drift[i], dsig = None, None
                else:
                    d_log, s_log = fitted
                    drift[i] = to_change(d_log)
                    scale = math.exp(d_log) if relative else 1.0
                    dsig = None if s_log is None else s_log * scale
            else:
                coef: dict[int, float] = {i: 1.0}
                coef[drift_ref] = coef.get(drift_ref, 0.0) - 1.0
                for p, j in steps_since_ref:
                    coef[p] = coef.get(p, 0.0) + 1.0
                    coef[j] = coef.get(j, 0.0) - 1.0
                drift[i], dsig = combine(coef)
            if i != drift_ref and drift[i] is not None:
                significant, z = _significant(drift[i] or 0.0, dsig, n_sigma)
                if abs(drift[i] or 0.0) > thresholds.drift and significant:
                    flags.append(Flag(i, "drift", drift[i] or 0.0, thresholds.drift, z, drift_ref))
                    drift_ref = i
                    steps_since_ref.clear()
                    window[:] = [i]
        prev = i
    return Analysis(
        relative,
        thresholds,
        n_sigma,
        reference,
        method,
        tuple(change),
        tuple(change_sigma),
        tuple(to_reference),
        tuple(drift),
        tuple(flags),
    )


@dataclass(frozen=True)
class ChannelOutliers:
    """LPMT channels whose correction moved unlike the population between two payloads.

    ``delta`` = change of the correction factor (dimensionless) of each outlier channel;
    ``median`` and ``robust_sigma`` describe the population of changes of channels GOOD in both
    payloads (``n_compared`` of them); ``newly_bad`` / ``recovered`` list the channels that left
    or joined the GOOD status.
    """

    channel_ids: tuple[int, ...]
    delta: tuple[float, ...]
    median: float
    robust_sigma: float
    n_compared: int
    newly_bad: tuple[int, ...]
    recovered: tuple[int, ...]


def channel_outliers(
    before: ChannelCorrections,
    after: ChannelCorrections,
    *,
    n_sigma: float = DEFAULT_OUTLIER_SIGMA,
    min_change: float = DEFAULT_OUTLIER_MIN_CHANGE,
) -> ChannelOutliers:
    """Channels whose correction changed by more than ``n_sigma`` robust sigma (1.4826 MAD) from
    the median change of the population and by more than ``min_change`` (see module docstring)."""
    ids, ia, ib = np.intersect1d(
        before.channel_ids, after.channel_ids, assume_unique=True, return_indices=True
    )
    good_a, good_b = before.good[ia], after.good[ib]
    both = good_a & good_b
    delta = after.correction[ib] - before.correction[ia]
    d = delta[both]
    if d.size == 0:
        median = sigma = 0.0
        out = np.zeros(0, dtype=bool)
    else:
        median = float(np.median(d))
        sigma = 1.4826 * float(np.median(np.abs(d - median)))
        dev = np.abs(d - median)
        out = (dev > n_sigma * sigma) & (dev > min_change)
    return ChannelOutliers(
        tuple(int(c) for c in ids[both][out]),
        tuple(float(x) for x in d[out]),
        median,
        sigma,
        int(d.size),
        tuple(int(c) for c in ids[good_a & ~good_b]),
        tuple(int(c) for c in ids[~good_a & good_b]),
    )


# ------------------------------------------------------------------------------------------------
# Reading series from the database
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SeriesSource:
    """Where a series comes from: a tag, or one record of a global tag."""

    tag: str | None = None
    global_tag: str | None = None
    record: str | None = None

    def __post_init__(self) -> None:
        if (self.tag is None) == (self.global_tag is None):
            raise InvalidInput("give a tag or a global tag", "e.g. --tag NAME or --gt NAME")
        if self.tag is not None and self.record is not None:
            raise InvalidInput("a record belongs to a global tag", "give --gt with --record")

    def describe(self) -> str:
        if self.tag is not None:
            return f"tag {self.tag}"
        return f"global tag {self.global_tag}" + (f" record {self.record}" if self.record else "")


@dataclass(frozen=True)
class IOVPoint:
    """One IOV in force: bounds (inclusive runs, ``until`` None = open-ended) and its payload."""

    since: int
    until: int | None
    payload_hash: str
    insertion_time: dt.datetime
    created_at: dt.datetime
    provenance: Mapping[str, str]


@dataclass(frozen=True)
class RecordIOVs:
    """The IOVs in force of one tag (reached directly or through a global-tag record)."""

    record: str | None
    tag: str
    payload_type: str
    iovs: tuple[IOVPoint, ...]


def summarise_provenance(provenance: Mapping[str, Any], max_len: int = 80) -> dict[str, str]:
    """A short, flat, printable summary of a payload's provenance: scalars as text (cut at
    ``max_len`` characters), lists and objects as counts ("3 items")."""
    out: dict[str, str] = {}
    for key in sorted(provenance):
        value = provenance[key]
        if isinstance(value, list | tuple):
            text = f"{len(value)} items"
        elif isinstance(value, dict):
            text = f"{len(value)} entries"
        else:
            text = str(value)
        out[str(key)] = text if len(text) <= max_len else text[: max_len - 3] + "..."
    return out


def _in_force_at(as_of: dt.datetime | None, snapshot: dt.datetime | None) -> dt.datetime | None:
    if as_of is None:
        return snapshot
    return as_of if snapshot is None else min(as_of, snapshot)


def _record_iovs(
    s: Session, record: str | None, tag: Tag, as_of: dt.datetime | None
) -> RecordIOVs:
    rows = store.list_iovs(s, tag.name, as_of=as_of)
    hashes = sorted({r.payload_hash for r in rows})
    meta: dict[str, tuple[dt.datetime, dict[str, Any]]] = {}
    for start in range(0, len(hashes), 500):
        chunk = hashes[start : start + 500]
        stmt = select(Payload.hash, Payload.created_at, Payload.provenance).where(
            Payload.hash.in_(chunk)
        )
        meta.update((h, (c, p or {})) for h, c, p in s.execute(stmt))
    points = tuple(
        IOVPoint(
            r.since,
            r.until,
            r.payload_hash,
            r.insertion_time,
            meta[r.payload_hash][0],
            summarise_provenance(meta[r.payload_hash][1]),
        )
        for r in rows
    )
    return RecordIOVs(record, tag.name, tag.type_name, points)


def read_iovs(
    s: Session, source: SeriesSource | str, *, as_of: dt.datetime | None = None
) -> list[RecordIOVs]:
    """The IOVs in force, in run order, of a tag or of the records of a global tag.

    A global tag gives every record (or the one named in ``source.record``); its snapshot time,
    if any, hides IOVs inserted later (the same semantics as :func:`conditions.resolve.resolve`).
    ``as_of`` replays the database as it was then.  A plain string is a tag name.
    """
    if isinstance(source, str):
        source = SeriesSource(tag=source)
    if source.tag is not None:
        return [_record_iovs(s, None, store.get_tag(s, source.tag), as_of)]
    assert source.global_tag is not None
    gt = store.get_global_tag(s, source.global_tag)
    frozen = gt.state is GlobalTagState.FROZEN
    mapping = store.global_tag_map(s, gt, as_of=None if frozen else as_of)
    if source.record is not None:
        if source.record not in mapping:
            raise RecordNotFound(
                f"global tag {gt.name!r} has no record {source.record!r}",
                f"records: {', '.join(sorted(mapping)) or 'none'}",
            )
        mapping = {source.record: mapping[source.record]}
    when = _in_force_at(as_of, gt.snapshot_time)
    return [_record_iovs(s, rec, tag, when) for rec, tag in sorted(mapping.items())]


@dataclass(frozen=True)
class SeriesPoint:
    """One point of a series: the IOV bounds, the value and its 1 sigma (None: not recorded)."""

    since: int
    until: int | None
    value: float
    error: float | None
    payload_hash: str
    insertion_time: dt.datetime
    created_at: dt.datetime
    provenance: Mapping[str, str]


@dataclass(frozen=True)
class Series:
    """A tracked quantity across the IOVs of one tag (maybe reached through a global tag)."""

    quantity: Quantity
    tag: str
    record: str | None
    points: tuple[SeriesPoint, ...]

    @property
    def key(self) -> str:
        """``record/quantity`` (or ``tag/quantity``): unique within one report."""
        return f"{self.record or self.tag}/{self.quantity.name}"

    def values(self) -> list[float]:
        return [p.value for p in self.points]

    def errors(self) -> list[float | None]:
        return [p.error for p in self.points]


@dataclass
class _Decoded:
    values: dict[str, Measurement]
    channels: ChannelCorrections | None


def decode_quantities(
    payload_type: str, data: bytes, quantities: Sequence[Quantity]
) -> tuple[dict[str, Measurement], ChannelCorrections | None]:
    """Decode a payload once and extract the given quantities (+ the LPMT channel summary)."""
    model = upgrade(decode_payload(payload_type, data))
    values = {q.name: extract(q, model) for q in quantities}
    channels = channel_corrections(model) if isinstance(model, LpmtNonlinearityV1) else None
    return values, channels


@dataclass(frozen=True)
class RecordSeries:
    """All tracked series of one record/tag plus, for LPMT curves, the per-channel summaries."""

    iovs: RecordIOVs
    series: tuple[Series, ...]
    channels: tuple[ChannelCorrections, ...] | None


def extract_series(
    s: Session,
    iovs: RecordIOVs,
    quantities: Sequence[Quantity] | None = None,
    *,
    progress: Callable[[int], None] | None = None,
) -> RecordSeries:
    """Decode each distinct payload of ``iovs`` once and build the series of ``quantities``
    (default: every quantity of the payload type).  ``progress(1)`` is called per IOV."""
    if quantities is None:
        quantities = quantities_for(iovs.payload_type)
    wrong = [q.name for q in quantities if q.payload_type != iovs.payload_type]
    if wrong:
        raise InvalidInput(
            f"{', '.join(wrong)} not tracked for payload type {iovs.payload_type!r}",
            f"quantities of {iovs.payload_type}: "
            + (", ".join(q.name for q in quantities_for(iovs.payload_type)) or "none"),
        )
    if iovs.payload_type not in PAYLOAD_TYPES or not quantities:
        raise InvalidInput(
            f"no tracked quantity for payload type {iovs.payload_type!r} (tag {iovs.tag})",
            f"tracked types: {', '.join(sorted({q.payload_type for q in QUANTITIES.values()}))}",
        )
    cache: dict[str, _Decoded] = {}
    decoded: list[_Decoded] = []
    for point in iovs.iovs:
        got = cache.get(point.payload_hash)
        if got is None:
            data = store.payload_bytes(s, point.payload_hash)
            got = _Decoded(*decode_quantities(iovs.payload_type, data, quantities))
            cache[point.payload_hash] = got
        decoded.append(got)
        if progress is not None:
            progress(1)
    series = tuple(
        Series(
            q,
            iovs.tag,
            iovs.record,
            tuple(
                SeriesPoint(
                    p.since,
                    p.until,
                    d.values[q.name][0],
                    d.values[q.name][1],
                    p.payload_hash,
                    p.insertion_time,
                    p.created_at,
                    p.provenance,
                )
                for p, d in zip(iovs.iovs, decoded, strict=True)
            ),
        )
        for q in quantities
    )
    channels = (
        tuple(d.channels for d in decoded if d.channels is not None)
        if iovs.payload_type == LpmtNonlinearityV1.TYPE_NAME
        else None
    )
    return RecordSeries(iovs, series, channels)


def _only_record_of_type(records: list[RecordIOVs], q: Quantity, where: str) -> RecordIOVs:
    matching = [r for r in records if r.payload_type == q.payload_type]
    if len(matching) != 1:
        found = ", ".join(str(r.record) for r in matching) or "none"
        raise RecordNotFound(
            f"{where} has {len(matching)} records of type {q.payload_type} ({found})",
            "name the record with --record" if matching else "track another quantity",
        )
    return matching[0]


def series(
    s: Session,
    source: SeriesSource | str,
    quantity_name: str,
    *,
    as_of: dt.datetime | None = None,
) -> Series:
    """The series of one quantity for a tag (``source`` a tag name) or for a record of a global
    tag (``SeriesSource(global_tag=..., record=...)``; without a record, the only record of the
    quantity's payload type), points in run order."""
    q = quantity(quantity_name)
    if isinstance(source, str):
        source = SeriesSource(tag=source)
    records = read_iovs(s, source, as_of=as_of)
    chosen = _only_record_of_type(records, q, source.describe())
    return extract_series(s, chosen, [q]).series[0]


# ------------------------------------------------------------------------------------------------
# Tracking: series + analysis + outliers, as used by `conddb trend` and the report
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Trend:
    """One series with its analysis."""

    series: Series
    analysis: Analysis

    @property
    def latest(self) -> SeriesPoint | None:
        return self.series.points[-1] if self.series.points else None


@dataclass(frozen=True)
class OutlierStep:
    """Per-channel outliers between LPMT payloads at points ``index - 1`` and ``index``."""

    record: str | None
    tag: str
    index: int
    since: int
    outliers: ChannelOutliers


@dataclass(frozen=True)
class TrackReport:
    """Everything `conddb trend` shows: trends, flags, LPMT channel outliers."""

    source: SeriesSource
    config: DriftConfig
    trends: tuple[Trend, ...]
    outliers: tuple[OutlierStep, ...]
    created_at: dt.datetime

    def flags(self) -> list[tuple[Trend, Flag]]:
        return [(t, f) for t in self.trends for f in t.analysis.flags]


def reference_index(points: Sequence[SeriesPoint], run: int | None) -> int:
    """Index of the point whose IOV covers ``run`` (None: the first point)."""
    if run is None or not points:
        return 0
    sinces = [p.since for p in points]
    k = bisect.bisect_right(sinces, run) - 1
    if k < 0:
        raise InvalidInput(
            f"reference run {run} lies before the first IOV (since {sinces[0]})",
            "choose a later reference run",
        )
    return k


def analyse_series(ser: Series, config: DriftConfig) -> Trend:
    """Run :func:`analyse` on a series with the configured thresholds and reference."""
    q = ser.quantity
    return Trend(
        ser,
        analyse(
            ser.values(),
            ser.errors(),
            relative=q.relative,
            thresholds=config.thresholds_for(q),
            n_sigma=config.n_sigma,
            reference=reference_index(ser.points, config.reference_run),
            method=config.method,
        ),
    )


def plan(
    s: Session,
    source: SeriesSource | str,
    quantity_names: Sequence[str] = (),
    *,
    as_of: dt.datetime | None = None,
) -> list[tuple[RecordIOVs, list[Quantity]]]:
    """Which records to read and which quantities of each (all tracked ones by default; with
    names, only the records holding those quantities).  Untracked records are skipped."""
    if isinstance(source, str):
        source = SeriesSource(tag=source)
    records = read_iovs(s, source, as_of=as_of)
    wanted = [quantity(n) for n in quantity_names]
    out: list[tuple[RecordIOVs, list[Quantity]]] = []
    for rec in records:
        qs = [q for q in wanted if q.payload_type == rec.payload_type] if wanted else (
            quantities_for(rec.payload_type)
        )
        if qs and rec.iovs:
            out.append((rec, qs))
    missing = [q.name for q in wanted if not any(q in qs for _, qs in out)]
    if missing or not out:
        types = ", ".join(sorted({r.payload_type for r in records})) or "none"
        raise InvalidInput(
            f"nothing to track for {', '.join(missing) or 'the tracked quantities'} in "
            f"{source.describe()} (payload types with IOVs: {types})",
            "check --quantity against the record types, or append IOVs first",
        )
    return out


def track(
    s: Session,
    source: SeriesSource | str,
    quantity_names: Sequence[str] = (),
    config: DriftConfig | None = None,
    *,
    as_of: dt.datetime | None = None,
    progress: Callable[[int], None] | None = None,
    planned: list[tuple[RecordIOVs, list[Quantity]]] | None = None,
) -> TrackReport:
    """Series, drift flags and LPMT channel outliers of a tag or global tag.

    ``planned`` (from :func:`plan`) lets a caller size a progress bar first; ``progress(1)`` is
    called once per IOV decoded.
    """
    config = config or DriftConfig()
    if isinstance(source, str):
        source = SeriesSource(tag=source)
    todo = planned if planned is not None else plan(s, source, quantity_names, as_of=as_of)
    trends: list[Trend] = []
    outliers: list[OutlierStep] = []
    for rec, qs in todo:
        rs = extract_series(s, rec, qs, progress=progress)
        trends.extend(analyse_series(ser, config) for ser in rs.series)
        if rs.channels is not None:
            for i in range(1, len(rs.channels)):
                if rec.iovs[i].payload_hash == rec.iovs[i - 1].payload_hash:
                    continue
                found = channel_outliers(
                    rs.channels[i - 1],
                    rs.channels[i],
                    n_sigma=config.outlier_sigma,
                    min_change=config.outlier_min_change,
                )
                outliers.append(OutlierStep(rec.record, rec.tag, i, rec.iovs[i].since, found))
    return TrackReport(source, config, tuple(trends), tuple(outliers), dt.datetime.now(dt.UTC))


# ------------------------------------------------------------------------------------------------
# Global-tag diff
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScalarChange:
    """A tracked scalar under global tag A and B; ``change`` relative (fraction) or absolute."""

    quantity: str
    value_a: float
    value_b: float
    change: float | None
    relative: bool


@dataclass(frozen=True)
class SegmentDiff:
    """A run range [first, last] (last None: open-ended) where A and B put different payloads
    in force (hash None: the range is not covered under that global tag)."""

    first: int
    last: int | None
    hash_a: str | None
    hash_b: str | None
    scalars: tuple[ScalarChange, ...]


RecordStatus = Literal["added", "removed", "changed", "retagged", "unchanged"]


@dataclass(frozen=True)
class RecordDiff:
    """One record of two global tags: its tags and the run ranges where the payloads differ.

    Status: ``added`` (only in B), ``removed`` (only in A), ``changed`` (different payloads in
    force somewhere in the compared runs), ``retagged`` (another tag, same payloads in force),
    ``unchanged``.
    """

    record: str
    tag_a: str | None
    tag_b: str | None
    type_a: str | None
    type_b: str | None
    segments: tuple[SegmentDiff, ...]

    @property
    def status(self) -> RecordStatus:
        if self.tag_a is None:
            return "added"
        if self.tag_b is None:
            return "removed"
        if self.segments:
            return "changed"
        return "retagged" if self.tag_a != self.tag_b else "unchanged"


@dataclass(frozen=True)
class GlobalTagDiff:
    """Record-by-record comparison of global tags ``a`` and ``b`` over ``runs`` (None: all)."""

    a: str
    b: str
    runs: tuple[int, int | None] | None
    records: tuple[RecordDiff, ...]

    def changed(self) -> list[RecordDiff]:
        return [r for r in self.records if r.status != "unchanged"]


def _segments(
    a: Sequence[tuple[int, str]], b: Sequence[tuple[int, str]], lo: int, hi: int | None
) -> list[tuple[int, int | None, str | None, str | None]]:
    """Run ranges within [lo, hi] with the pair of payloads in force (merged, differing only)."""
    sa, sb = [x for x, _ in a], [x for x, _ in b]

    def at(sinces: list[int], rows: Sequence[tuple[int, str]], run: int) -> str | None:
        k = bisect.bisect_right(sinces, run) - 1
        return rows[k][1] if k >= 0 else None

    bounds = sorted({lo, *(x for x in sa + sb if x > lo and (hi is None or x <= hi))})
    out: list[tuple[int, int | None, str | None, str | None]] = []
    for n, first in enumerate(bounds):
        last = bounds[n + 1] - 1 if n + 1 < len(bounds) else hi
        pair = (at(sa, a, first), at(sb, b, first))
        if out and (out[-1][2], out[-1][3]) == pair:
            out[-1] = (out[-1][0], last, *pair)
        else:
            out.append((first, last, *pair))
    return [seg for seg in out if seg[2] != seg[3]]


def gt_diff(
    s: Session,
    a: str,
    b: str,
    *,
    runs: int | tuple[int, int | None] | None = None,
    scalars: bool = True,
) -> GlobalTagDiff:
    """Which records changed between global tags ``a`` and ``b``, and by how much.

    Each record's tags are compared, then the payloads in force (snapshot times respected) over
    ``runs`` (a run, an inclusive range ``(first, last)`` with ``last`` None for open-ended, or
    None for every run).  For each run range where the payloads differ and both are typed
    payloads of the same type, the tracked scalars under A and B are given (``scalars=False``
    skips decoding).
    """
    if isinstance(runs, int):
        span: tuple[int, int | None] | None = (store.check_run(runs), runs)
    else:
        span = runs
    if span is not None:
        store.check_run(span[0])
        if span[1] is not None and store.check_run(span[1]) < span[0]:
            raise InvalidInput(f"empty run range {span[0]}-{span[1]}", "give FIRST <= LAST")
    lo, hi = span if span is not None else (0, None)
    left = {r.record or "": r for r in read_iovs(s, SeriesSource(global_tag=a))}
    right = {r.record or "": r for r in read_iovs(s, SeriesSource(global_tag=b))}
    cache: dict[str, dict[str, Measurement]] = {}

    def values(ptype: str, digest: str) -> dict[str, Measurement]:
        if digest not in cache:
            qs = quantities_for(ptype)
            cache[digest] = (
                decode_quantities(ptype, store.payload_bytes(s, digest), qs)[0] if qs else {}
            )
        return cache[digest]

    records: list[RecordDiff] = []
    for rec in sorted(set(left) | set(right)):
        ra, rb = left.get(rec), right.get(rec)
        rows_a = [(p.since, p.payload_hash) for p in ra.iovs] if ra else []
        rows_b = [(p.since, p.payload_hash) for p in rb.iovs] if rb else []
        segs: list[SegmentDiff] = []
        for first, last, ha, hb in _segments(rows_a, rows_b, lo, hi):
            changes: tuple[ScalarChange, ...] = ()
            same_type = ra is not None and rb is not None and ra.payload_type == rb.payload_type
            if scalars and ha and hb and same_type and ra is not None:
                va, vb = values(ra.payload_type, ha), values(ra.payload_type, hb)
                changes = tuple(_scalar_change(QUANTITIES[n], va[n][0], vb[n][0]) for n in va)
            segs.append(SegmentDiff(first, last, ha, hb, changes))
        records.append(
            RecordDiff(
                rec,
                ra.tag if ra else None,
                rb.tag if rb else None,
                ra.payload_type if ra else None,
                rb.payload_type if rb else None,
                tuple(segs),
            )
        )
    return GlobalTagDiff(a, b, span, tuple(records))


def _scalar_change(q: Quantity, va: float, vb: float) -> ScalarChange:
    if q.relative:
        change = vb / va - 1.0 if va != 0 and math.isfinite(va) and math.isfinite(vb) else None
    else:
        change = vb - va
    return ScalarChange(q.name, va, vb, change, q.relative)


def override_thresholds(
    texts: Iterable[str], base: Mapping[str, Thresholds] | None = None
) -> dict[str, Thresholds]:
    """Apply ``Q=STEP[:DRIFT]`` overrides in order (see :func:`parse_threshold`)."""
    out = dict(base or {})
    for text in texts:
        name, value = parse_threshold(text, out)
        out[name] = value
    return out


__all__ = [
    "QUANTITIES",
    "Analysis",
    "ChannelCorrections",
    "ChannelOutliers",
    "DriftConfig",
    "DriftMethod",
    "Flag",
    "FlagKind",
    "GlobalTagDiff",
    "IOVPoint",
    "Quantity",
    "RecordDiff",
    "RecordIOVs",
    "RecordSeries",
    "ScalarChange",
    "SegmentDiff",
    "Series",
    "SeriesPoint",
    "SeriesSource",
    "Thresholds",
    "TrackReport",
    "Trend",
    "analyse",
    "analyse_series",
    "channel_corrections",
    "channel_outliers",
    "extract",
    "extract_series",
    "gt_diff",
    "override_thresholds",
    "parse_threshold",
    "plan",
    "quantities_for",
    "quantity",
    "read_iovs",
    "series",
    "summarise_provenance",
    "track",
]
