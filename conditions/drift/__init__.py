"""Drift tracking: series of calibration scalars across runs, drift flags, global-tag diffs.

The weekly calibration "is designed to track major changes of the detector properties such as
variations in the light yield of the LS, PMT gains, and electronics" (paper section 5.2); this
module turns the payloads of a tag (or of a record of a global tag) into time series of tracked
scalars and flags the changes worth a look.

Tracked scalars (:data:`QUANTITIES`, one small extractor per scalar):

===================  =====================  ===============================================  =====
quantity             payload type           value (unit)                                     paper
===================  =====================  ===============================================  =====
Y0                   light_yield            light yield [PE/MeV] (its 1 sigma: the band)     2.1
dQ_DR_LPMT, _SPMT    dark_noise             dark-noise offset Delta Q_DR [PE]                3.3
p0, p1, p2, p3       energy_nonlinearity    f_nonlin parameters (p2 [1/MeV], p3 [MeV])       2.5
E_vis_anni           energy_nonlinearity    visible energy of the annihilation gammas [MeV]  2.2
a, b, c, a_tilde     energy_resolution      resolution terms (fractions)                     3.1-2
g_mean, g_spread     nonuniformity_map      mean and RMS of g(r, theta) at the map's points   3.3
lpmt_corr_mean/_rms  lpmt_nonlinearity      mean / RMS over GOOD channels of the correction  2.2
                                            true/measured charge at the reference charge
lpmt_bad_channels    lpmt_nonlinearity      number of channels not GOOD (count)              3.8
gain_median          lpmt_gain              median SPE gain over GOOD channels (1 = nominal)  2.2
gain_moved_channels  lpmt_gain              channels whose relative response moved by > 5    2.2
                                            sigma vs the previous IOV (count; 0 for the first)
===================  =====================  ===============================================  =====

Every quantity is a constant; its 1 sigma error is carried with each point (drawn as a band in
the report) and used by the significance guard, but never tracked as a quantity of its own.

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

Package layout: :mod:`.quantities` (the registry), :mod:`.thresholds` (the CLI threshold syntax),
:mod:`.analysis` (pure), :mod:`.series` (reads via the repository and :mod:`conditions.iov`),
:mod:`.track` (series + analysis), :mod:`.diff` (global-tag diff).  Every name below stays
importable as ``conditions.drift.X``.
"""

from __future__ import annotations

from .analysis import (
    DEFAULT_N_SIGMA,
    DEFAULT_OUTLIER_MIN_CHANGE,
    DEFAULT_OUTLIER_SIGMA,
    Analysis,
    ChannelOutliers,
    DriftConfig,
    DriftMethod,
    Flag,
    FlagKind,
    analyse,
    channel_outliers,
)
from .diff import GlobalTagDiff, RecordDiff, RecordStatus, ScalarChange, SegmentDiff, gt_diff
from .quantities import (
    LPMT_REFERENCE_CHARGE,
    QUANTITIES,
    ChannelCorrections,
    Measurement,
    Quantity,
    Thresholds,
    channel_corrections,
    extract,
    g_at_points,
    quantities_for,
    quantity,
)
from .series import (
    IOVPoint,
    RecordIOVs,
    RecordSeries,
    Series,
    SeriesPoint,
    SeriesSource,
    decode_quantities,
    extract_series,
    read_iovs,
    series,
    summarise_provenance,
)
from .thresholds import override_thresholds, parse_threshold
from .track import OutlierStep, TrackReport, Trend, analyse_series, plan, reference_index, track

__all__ = [
    "DEFAULT_N_SIGMA",
    "DEFAULT_OUTLIER_MIN_CHANGE",
    "DEFAULT_OUTLIER_SIGMA",
    "LPMT_REFERENCE_CHARGE",
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
    "Measurement",
    "OutlierStep",
    "Quantity",
    "RecordDiff",
    "RecordIOVs",
    "RecordSeries",
    "RecordStatus",
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
    "decode_quantities",
    "extract",
    "extract_series",
    "g_at_points",
    "gt_diff",
    "override_thresholds",
    "parse_threshold",
    "plan",
    "quantities_for",
    "quantity",
    "read_iovs",
    "reference_index",
    "series",
    "summarise_provenance",
    "track",
]
