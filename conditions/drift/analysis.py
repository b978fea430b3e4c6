"""Pure drift analysis (no database): steps, slow drifts, per-channel LPMT outliers.

The rules are stated in :mod:`conditions.drift`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .quantities import ChannelCorrections, Quantity, Thresholds

#: How the accumulated drift is estimated (see :func:`analyse`).
DriftMethod = Literal["fit", "points"]

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
