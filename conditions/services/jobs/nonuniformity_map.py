"""``nonuniformity_map``: g(r, theta) from n-H peaks at >= 20 source positions (sections 3.4-3.5).

The payload adapter (:func:`gmap_payload`) lives here: :mod:`fitting.uniformity` returns a fit
result in millimetres, the payload is in metres.
"""

from __future__ import annotations

import numpy as np

from conditions.payloads import NonuniformityMapV1
from conditions.services.jobs.context import (
    JobContext,
    JobOutput,
    dark_offset,
    finite,
    nh_peak_pe,
)
from conditions.services.jobs.registry import job
from fitting import io, uniformity
from fitting.peaks import fit_gaussian

#: Smallest number of source positions for a g(r, theta) map.
MIN_MAP_POINTS = 20


def gmap_payload(gmap: uniformity.GMap, source: str) -> NonuniformityMapV1:
    """The non-uniformity payload (coordinates "r3_costheta", lengths in metres) of a fit."""
    return NonuniformityMapV1(
        coordinates="r3_costheta",
        r_ref=gmap.r_ref_mm / 1000.0,
        knots_u=gmap.knots_u.copy(),
        knots_v=gmap.knots_v.copy(),
        degree_u=gmap.degree_u,
        degree_v=gmap.degree_v,
        coefficients=gmap.coeffs.copy(),
        points_r=gmap.points_r_mm / 1000.0,
        points_theta=gmap.points_theta_rad.copy(),
        points_g=gmap.values.copy(),
        points_g_uncertainty=gmap.errors.copy(),
        particle=gmap.particle,
        source=source,
        energy=gmap.energy_mev,
    )


@job("nonuniformity_map", needs=("dark_noise",))
def nonuniformity_map(ctx: JobContext) -> JobOutput | None:
    points = [r for r in ctx.runs if r.source == "AmC" and not r.info.get("uniform", False)]
    if len(points) < MIN_MAP_POINTS or not any(r.at_centre for r in points):
        return None
    dq = dark_offset(ctx)
    peaks, errs = [], []
    for r in points:
        pe = io.read_events(r.path)["pe_total"] - dq
        fit = fit_gaussian(nh_peak_pe(pe, ctx.settings))
        peaks.append(fit["mu"])
        errs.append(fit.error("mu"))
    centre = max(
        (k for k, r in enumerate(points) if r.at_centre),
        key=lambda k: int(points[k].info.get("n_events", 0)),
    )
    g, g_err = uniformity.g_from_peaks(np.array(peaks), np.array(errs), centre)
    r_mm = np.array([float(r.info["r_mm"]) for r in points])
    theta = np.radians([float(r.info["theta_deg"]) for r in points])
    gmap = uniformity.fit_gmap(r_mm, theta, g, g_err, particle="gamma", energy_mev=2.223)
    quality = {
        "valid": True,
        "chi2": finite(gmap.chi2),
        "ndf": finite(gmap.ndf),
        "n_points": len(points),
    }
    return gmap_payload(gmap, "AmC"), ctx.provenance("nonuniformity_map", points, quality)
