"""The registry of tracked quantities: one small extractor per calibration scalar.

See :mod:`conditions.drift` for the table of quantities (payload type, unit, paper section).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel

from fitting.physics.lpmt import interpolate_curves

from ..errors import InvalidInput
from ..payloads import (
    ChannelStatus,
    DarkNoiseV2,
    EnergyNonlinearityV1,
    EnergyResolutionV1,
    GainStatus,
    LightYieldV1,
    LpmtGainV1,
    LpmtNonlinearityV1,
    NonuniformityMapV1,
    upgrade,
)

#: (value, 1 sigma error or None when the payload carries none).
Measurement = tuple[float, float | None]

#: Reference measured charge [PE] at which the LPMT correction curves are summarised: inside the
#: 0-100 PE laser scan of the dual calorimetry (section 2.2), where the non-linearity matters.
LPMT_REFERENCE_CHARGE = 50.0


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
    A quantity is a *constant* (Y0, Delta Q_DR, p0..p3, a/b/c, ...), never an uncertainty: the
    error travels with its constant and is drawn as a band (issue 14 item 7: flagging the error
    of Y0 as a step confused fit statistics with a detector change).

    ``versus_previous``, when set, maps ``(model, previous IOV's model)`` to the value instead
    (a comparison of consecutive payloads); ``extract`` then gives the value of the first IOV.
    """

    name: str
    payload_type: str
    label: str
    unit: str
    relative: bool
    thresholds: Thresholds
    extract: Callable[[Any], Measurement] = field(repr=False, compare=False)
    description: str = ""
    versus_previous: Callable[[Any, Any], Measurement] | None = field(
        default=None, repr=False, compare=False)


def _sigma(cov: np.ndarray, k: int) -> float:
    return float(math.sqrt(max(float(cov[k, k]), 0.0)))


def _y0(m: LightYieldV1) -> Measurement:
    return float(m.y0), float(m.y0_uncertainty)


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
    """Correction factor true/measured charge of every channel at ``q_ref`` [PE] (section 2.2):
    each channel's curve at ``q_ref`` by :func:`fitting.physics.lpmt.interpolate_curves` (the
    energy scale's interpolation: linear between nodes, end segments outside), over ``q_ref``."""
    n = m.channel_ids.size
    at_ref = interpolate_curves(m.charge_grid, m.true_charge, np.arange(n), np.full(n, q_ref))
    corr = at_ref / q_ref
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


#: A channel's relative response moved when the change exceeds this many combined 1 sigma.
GAIN_MOVED_SIGMA = 5.0


def _gain_median(m: LpmtGainV1) -> Measurement:
    """Median SPE gain over GOOD channels; error = 1.2533 x robust RMS / sqrt(N) (median of N)."""
    x = m.gain[m.status == GainStatus.GOOD]
    if x.size < 2:
        return float("nan"), None
    med = float(np.median(x))
    rms = 1.4826 * float(np.median(np.abs(x - med)))
    return med, 1.2533 * rms / math.sqrt(x.size)


def _gain_moved_first(_: LpmtGainV1) -> Measurement:
    return 0.0, None  # the first IOV has nothing to move from


def _gain_moved(m: LpmtGainV1, previous: LpmtGainV1) -> Measurement:
    """Channels GOOD in both payloads whose relative response changed by more than
    :data:`GAIN_MOVED_SIGMA` x the two errors in quadrature (a gain or QE step of the channel)."""
    _, ia, ib = np.intersect1d(previous.channel_ids, m.channel_ids, assume_unique=True,
                                 return_indices=True)
    both = (previous.status[ia] == GainStatus.GOOD) & (m.status[ib] == GainStatus.GOOD)
    delta = m.relative_response[ib] - previous.relative_response[ia]
    sigma = np.hypot(m.relative_response_uncertainty[ib],
                     previous.relative_response_uncertainty[ia])
    moved = both & (np.abs(delta) > GAIN_MOVED_SIGMA * sigma)
    return float(np.count_nonzero(moved)), None


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
    versus_previous: Callable[[Any, Any], Measurement] | None = None,
) -> Quantity:
    thresholds = Thresholds(step, drift)
    return Quantity(name, ptype, label, unit, relative, thresholds, extract, description,
                    versus_previous)


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
        # 1 %: the median of ~17,600 photon-statistics gains is known to ~0.1 % per campaign
        _q("gain_median", "lpmt_gain", "median LPMT gain", "1", True, 0.01, 0.02, _gain_median,
           "median over GOOD channels of the SPE gain (photon statistics)"),
        # a count compared with the previous IOV: a step of 10 channels flags; no drift check
        _q("gain_moved_channels", "lpmt_gain", "LPMT channels whose response moved", "channels",
           False, 10.0, math.inf, _gain_moved_first,
           f"channels whose relative response moved by > {GAIN_MOVED_SIGMA:g} sigma vs the "
           "previous IOV", _gain_moved),
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


def extract(q: Quantity, model: BaseModel, previous: BaseModel | None = None) -> Measurement:
    """``(value, error)`` of quantity ``q`` from a payload model (upgraded first); a
    ``versus_previous`` quantity compares it with ``previous`` (the previous IOV's payload)."""
    if previous is not None and q.versus_previous is not None:
        value, error = q.versus_previous(upgrade(model), upgrade(previous))
    else:
        value, error = q.extract(upgrade(model))
    if error is not None and not math.isfinite(error):
        error = None
    return value, error
