"""``energy_resolution``: (a, b, c) of Eq. 3.1 and a-tilde (Eq. 3.2) from gamma-peak widths.

The gamma-peak resolution differs from the positron one of Table 3 (a gamma's energy is shared
by several electrons); the conversion is :mod:`fitting.resolution`'s (branch phys-b).
"""

from __future__ import annotations

import numpy as np

from conditions.payloads import EnergyResolutionV1
from conditions.services.jobs.context import JobContext, JobOutput, finite
from conditions.services.jobs.gamma_peaks import SIMULATION_KINDS, gamma_peaks
from conditions.services.jobs.registry import job
from fitting.resolution import fit_resolution

#: Fewer gamma peaks than this: no resolution and no f_nonlin.
MIN_PEAKS = 4


@job("energy_resolution", needs=("dark_noise", "light_yield"))
def energy_resolution(ctx: JobContext) -> JobOutput | None:
    if ctx.manifest["kind"] != "comprehensive":
        return None
    ctx.progress("gamma peaks at the centre")
    measured = gamma_peaks(ctx)
    if len(measured.peaks) < MIN_PEAKS:
        return None
    e = np.array([m.peak.e_vis_mev for m in measured.peaks])
    res = fit_resolution(
        e,
        np.array([m.rel_sigma for m in measured.peaks]),
        np.array([m.rel_sigma_err for m in measured.peaks]),
    )
    a, b, c = (float(v) for v in res.fit.values)
    payload = EnergyResolutionV1(
        a=a, b=b, c=c,
        covariance=res.fit.covariance,
        a_tilde=res.a_tilde,
        chi2=finite(res.fit.chi2),
        ndf=res.fit.ndf,
    )
    quality = {
        "valid": bool(res.fit.valid),
        "chi2": finite(res.fit.chi2),
        "ndf": int(res.fit.ndf),
        "from": "gamma peaks at the centre",
        "missing_spectra": measured.missing_spectra,
    }
    return payload, ctx.provenance("energy_resolution", measured.runs, quality, SIMULATION_KINDS)
