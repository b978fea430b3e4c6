"""The central laser scan of a campaign and its dual-calorimetry fit, shared by the LPMT jobs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from conditions.services.jobs.context import JobContext, RunData
from fitting import dualcal, io
from fitting.gain import GainResult, fit_channel_gain


@dataclass(frozen=True)
class LaserFit:
    run: RunData
    scan: dict[str, np.ndarray]
    gain: GainResult
    result: dualcal.ChannelNonlinearityResult


def fit_scan_arrays(
    scan: dict[str, np.ndarray], spmt_dark_pe: float, lpmt_dark_pe: float,
    spe_resolution: float | None,
) -> tuple[GainResult, dualcal.ChannelNonlinearityResult]:
    """SPE resolution + gains, then the curves, of the laser-scan arrays of docs/INPUTS.md.

    ``spmt_dark_pe`` / ``lpmt_dark_pe``: mean SPMT / LPMT-total dark charge in the window [PE];
    ``spe_resolution`` None = measured from the low steps.
    """
    n_channels = scan["lpmt_mean"].shape[1]
    gain = fit_channel_gain(scan["lpmt_mean"], scan["lpmt_sem"], scan["spmt_total"],
                            spmt_dark_pe, spe_resolution)
    laser = dualcal.LaserScan.from_flashes(
        np.arange(n_channels),
        scan["spmt_total"],
        spmt_dark_pe,
        scan["lpmt_mean"].T,
        scan["lpmt_sem"].T,
        np.full(n_channels, lpmt_dark_pe / n_channels),
    )
    config = dualcal.DualCalConfig(spe_resolution=gain.spe_resolution)
    result = dualcal.fit_dual_calorimetry(laser, config)
    if spe_resolution is None:
        # the low steps' variance is reduced by the channels' own non-linearity (fitting.gain):
        # re-measure s and the gains with the fitted responses (the curves depend on s only
        # through the Poisson deconvolution, at ~1e-4: not refitted)
        factor = dualcal.spe_variance_factor_of(result, laser)
        gain = fit_channel_gain(scan["lpmt_mean"], scan["lpmt_sem"], scan["spmt_total"],
                                spmt_dark_pe, None, variance_factor=factor)
    return gain, result


def laser_fit(ctx: JobContext) -> LaserFit | None:
    """Fit the first central laser scan (memoised): SPE resolution + gains, then the curves."""
    if "laser" in ctx.memo:
        return ctx.memo["laser"]
    lasers = [r for r in ctx.runs if r.source == "laser" and r.at_centre]
    if not lasers:
        ctx.memo["laser"] = None
        return None
    run = lasers[0]
    dark = ctx.payload("dark_noise")
    scan = io.read_laser_scan(run.path)
    n_channels = scan["lpmt_mean"].shape[1]
    ctx.progress(f"laser scan: {scan['lpmt_mean'].shape[0]} steps x {n_channels} channels")
    gain, result = fit_scan_arrays(scan, dark.offset_spmt, dark.offset_lpmt,
                                   ctx.settings.spe_resolution)
    out = LaserFit(run, scan, gain, result)
    ctx.memo["laser"] = out
    return out
