"""Gamma peaks at the centre, shared by the resolution and f_nonlin jobs (computed once).

Each peak carries the secondary-electron spectrum P(E^e) of its source (Eq. 2.6) from the
campaign's declared simulation input, and the (alpha, n) prompt-gamma peaks carry the recoil
shift that the ``an_recoil`` input declares (section 2.3.4) as a
:class:`~fitting.nonlinearity.PeakCorrection`: the f_nonlin fit divides the peak by 1 + shift and
adds the shift's uncertainty to the peak's error (applied there, once).  A campaign that
declares no ``an_recoil`` input gets the paper's values
(:data:`fitting.nonlinearity.PAPER_ALPHA_N_CORRECTIONS`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from conditions.errors import InvalidInput
from conditions.services.jobs.context import (
    JobContext,
    RunData,
    dark_offset,
    mode_window,
)
from fitting import io
from fitting.nonlinearity import (
    PAPER_ALPHA_N_CORRECTIONS,
    GammaPeak,
    PeakCorrection,
    SecondarySpectrum,
    measure_gamma_peak,
)
from fitting.peaks import fit_gaussian
from fitting.physics.sources import GAMMA_SOURCES, PEAKS_OF_SOURCE
from fitting.physics.visible import visible_energy

#: Simulation inputs these peaks depend on (named in the provenance).
SIMULATION_KINDS: tuple[str, ...] = ("secondary_electrons", "an_recoil")


@dataclass(frozen=True)
class MeasuredPeak:
    """One gamma peak: the f_nonlin input and its Gaussian-fit width [MeV] (Eq. 3.1 input)."""

    peak: GammaPeak
    sigma: float
    sigma_err: float


@dataclass(frozen=True)
class GammaPeaks:
    peaks: list[MeasuredPeak]
    runs: list[RunData]
    missing_spectra: list[str]


def secondary_spectrum(ctx: JobContext, name: str) -> SecondarySpectrum | None:
    """P(E^e) of source ``name`` from the campaign's simulation input (None if not declared)."""
    s = ctx.simulation.secondary.get(name)
    if s is None:
        return None
    return SecondarySpectrum(name, s.e_gamma_mev, s.energy_mev, s.counts)


def peak_correction(ctx: JobContext, name: str) -> PeakCorrection | None:
    """The (alpha, n) recoil correction of peak ``name``: from the declared ``an_recoil`` input,
    else the paper's (section 2.3.4); None for a peak without one."""
    declared = [e for e in ctx.simulation.entries if e.get("kind") == "an_recoil"]
    if not declared:
        return PAPER_ALPHA_N_CORRECTIONS.get(name)
    shift = ctx.simulation.an_recoil.get(name)
    if shift is None:
        return None
    try:
        return PeakCorrection(shift["relative_shift"], shift["uncertainty"],
                              f"an_recoil {declared[0].get('version') or declared[0]['file']}")
    except ValueError as exc:
        raise InvalidInput(f"an_recoil input: {name}: {exc}", "see docs/INPUTS.md") from None


def gamma_peaks(ctx: JobContext) -> GammaPeaks:
    """The peaks of every bare source at the centre (memoised in the context)."""
    if "gamma_peaks" in ctx.memo:
        return ctx.memo["gamma_peaks"]
    y0 = ctx.payload("light_yield").y0
    dq = dark_offset(ctx)
    settings = ctx.settings
    peaks: list[MeasuredPeak] = []
    used: list[RunData] = []
    missing: list[str] = []
    done: set[str] = set()
    for r in ctx.runs:
        if not r.at_centre or r.source not in PEAKS_OF_SOURCE:
            continue
        e_vis = visible_energy(io.read_events(r.path)["pe_total"], dq, y0)
        found_before = len(peaks)
        for name in PEAKS_OF_SOURCE[r.source]:
            if name in done:
                continue
            spectrum = secondary_spectrum(ctx, name)
            if spectrum is None:
                missing.append(name)
                done.add(name)
                continue
            e_gamma = GAMMA_SOURCES[name].total_energy
            rel = 0.03 / math.sqrt(e_gamma)
            # gamma E_vis / E_gamma lies in 0.90-1.05 (Birks quenching of the secondary
            # electrons); with several peaks in a run (AmBe: 4.44 and n-C 4.95) a narrower
            # search window keeps the neighbour out.
            lo, hi = (0.85, 1.08) if len(PEAKS_OF_SOURCE[r.source]) == 1 else (0.97, 1.06)
            try:
                sample = mode_window(
                    e_vis, lo * e_gamma, hi * e_gamma, rel, settings.peak_window_sigmas
                )
            except InvalidInput:
                continue  # e.g. n-C (1 % of captures) beside the AmBe 4.44 MeV peak
            peak = measure_gamma_peak(name, sample, spectrum,
                                      correction=peak_correction(ctx, name))
            g = fit_gaussian(sample)
            peaks.append(MeasuredPeak(peak, g["sigma"], g.error("sigma")))
            done.add(name)
        if len(peaks) > found_before:  # provenance names only the runs that gave a peak
            used.append(r)
    out = GammaPeaks(peaks, used, missing)
    ctx.memo["gamma_peaks"] = out
    return out
