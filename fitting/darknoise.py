"""Dark-noise charge offset dQ_DR from random triggers (section 2.3.3, Eq 3.3, section 3).

A random trigger records only dark-noise pile-up, so the mean total charge in the analysis
window is the offset to subtract from every event (Eq 3.3); its event-to-event Poisson spread
is the source of the ``c`` term of Eq 3.1, ``c ~ sqrt(dQ_DR) / Y0`` (section 3: 185 PE, 13.6 PE
noise, c ~ 1.0 %).  Paper estimate: 350 ns x 17,600 LPMT x 30 kHz = 184.8 PE.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from fitting.result import FitResult

DARK_NAMES = ("dQ_DR",)


@dataclass(frozen=True)
class DarkNoiseResult:
    """Dark-noise offsets for the LPMT and (optionally) SPMT systems.

    Attributes
    ----------
    lpmt : FitResult, parameter ``dQ_DR`` [PE] per event in the window, LPMT sum.
    spmt : FitResult or None, same for the SPMT sum.
    window_ns : analysis window [ns].
    rate_hz_per_channel_lpmt : mean dark rate per LPMT channel [Hz] = dQ / window / n_channels
        (assumes one PE per dark pulse).
    rate_hz_per_channel_spmt : same for SPMT, or None.
    """

    lpmt: FitResult
    spmt: FitResult | None
    window_ns: float
    rate_hz_per_channel_lpmt: float
    rate_hz_per_channel_spmt: float | None


def offset_from_random_triggers(q_pe: ArrayLike, max_pe: float | None = None) -> FitResult:
    """Mean dark-noise charge [PE] of random triggers (section 2.3.3).

    Parameters
    ----------
    q_pe : array, shape (n_triggers,)
        Total charge [PE] in the analysis window of each random trigger.
    max_pe : optional upper cut [PE] rejecting triggers that overlap a physics event; no cut
        by default (a cut far in the tail, e.g. mean + 8 sqrt(mean), biases the mean by < 1e-12).

    Returns
    -------
    FitResult with ``dQ_DR`` [PE] and its error std/sqrt(n); ``extra`` holds ``n_triggers``,
    ``variance_pe2`` and ``fano`` = variance / mean (1 for pure Poisson dark noise), which the
    lead can use as a validity check. chi2 = 0, ndf = n - 1.
    """
    q = np.asarray(q_pe, dtype=np.float64).ravel()
    if max_pe is not None:
        q = q[q <= max_pe]
    if q.size < 2:
        raise ValueError("need at least 2 random triggers")
    if not np.all(np.isfinite(q)):
        raise ValueError("charges must be finite")
    mean = float(np.mean(q))
    var = float(np.var(q, ddof=1))
    fano = var / mean if mean > 0 else float("nan")
    return FitResult.from_covariance(
        DARK_NAMES, np.array([mean]), np.array([[var / q.size]]), 0.0, q.size - 1, True,
        "sample mean of random triggers",
        extra={"n_triggers": int(q.size), "variance_pe2": var, "fano": fano},
    )


def fit_dark_noise(
    q_lpmt_pe: ArrayLike,
    window_ns: float,
    n_lpmt: int = 17612,
    q_spmt_pe: ArrayLike | None = None,
    n_spmt: int = 25600,
    max_pe: float | None = None,
) -> DarkNoiseResult:
    """dQ_DR for LPMT and SPMT from random-trigger charges (section 2.3.3).

    Parameters
    ----------
    q_lpmt_pe : array, shape (n,), LPMT charge sum [PE] of each random trigger.
    window_ns : analysis window [ns] (paper: 350 ns).
    n_lpmt : number of LPMT channels (nominal 17,612; the paper's estimate uses 17,600).
    q_spmt_pe : optional SPMT charge sums [PE].
    n_spmt : number of SPMT channels (nominal 25,600).
    max_pe : optional pile-up rejection cut, see :func:`offset_from_random_triggers`.
    """
    if window_ns <= 0:
        raise ValueError("window must be positive")
    lp = offset_from_random_triggers(q_lpmt_pe, max_pe)
    sp = None if q_spmt_pe is None else offset_from_random_triggers(q_spmt_pe, max_pe)
    to_hz = 1e9 / window_ns
    return DarkNoiseResult(
        lpmt=lp, spmt=sp, window_ns=float(window_ns),
        rate_hz_per_channel_lpmt=lp["dQ_DR"] * to_hz / n_lpmt,
        rate_hz_per_channel_spmt=None if sp is None else sp["dQ_DR"] * to_hz / n_spmt,
    )


def expected_offset_pe(window_ns: float, n_channels: int, rate_hz: float) -> float:
    """Expected dQ_DR [PE] = window x channels x rate (section 2.3.3: 350 ns x 17600 x 30 kHz)."""
    return window_ns * 1e-9 * n_channels * rate_hz


def c_term_from_offset(dq_pe: float, y0_pe_per_mev: float) -> float:
    """Dark-noise ``c`` term of Eq 3.1 [MeV, as a fraction x MeV]: sqrt(dQ_DR) / Y0.

    Section 3: sqrt(185) = 13.6 PE, c ~ 13.6 / 1345 = 1.0 %.
    """
    return float(np.sqrt(dq_pe) / y0_pe_per_mev)
