"""``energy_nonlinearity``: f_nonlin (Eq. 2.5) from gamma peaks + the 12B spectrum (Eq. 2.8).

Needs the secondary-electron spectra (Eq. 2.6) and, for 12B, the true 12B spectrum shape: both
are declared simulation inputs of the campaign (docs/INPUTS.md), hashed into the provenance.
"""

from __future__ import annotations

import numpy as np

from conditions.errors import InvalidInput
from conditions.payloads import EnergyNonlinearityV1
from conditions.services.jobs.context import JobContext, JobOutput, dark_offset, finite
from conditions.services.jobs.gamma_peaks import SIMULATION_KINDS, gamma_peaks
from conditions.services.jobs.registry import job
from fitting import io
from fitting.nonlinearity import (
    BetaSpectrum,
    NonlinFitConfig,
    NonlinFitResult,
    b12_histogram_from_events,
    fit_nonlinearity,
    systematics_band,
)
from fitting.physics.detector import B12_FIDUCIAL_MM
from fitting.physics.visible import visible_energy

#: Fewer gamma peaks than this: no f_nonlin (and so no resolution).
MIN_PEAKS = 4


def nonlinearity_payload(fit: NonlinFitResult) -> EnergyNonlinearityV1:
    """The energy non-linearity payload of a fit with its band."""
    assert fit.band is not None
    if fit.e_vis_anni_mev is None:
        raise InvalidInput("no 68Ge peak: E_vis^anni unknown", "include a 68Ge run at the centre")
    p = fit.fit.values
    return EnergyNonlinearityV1(
        p0=p[0], p1=p[1], p2=p[2], p3=p[3],
        covariance=fit.fit.covariance,
        e_min=fit.valid_range_mev[0],
        e_max=fit.valid_range_mev[1],
        e_vis_anni=fit.e_vis_anni_mev,
        e_vis_anni_uncertainty=fit.e_vis_anni_err_mev or 0.0,
        band_energy=fit.band.grid_mev,
        band_lower=fit.band.lower,
        band_upper=fit.band.upper,
        chi2=finite(fit.fit.chi2),
        ndf=int(fit.fit.ndf),
        sources=fit.sources_used,
    )


def _g_at(gmap: object, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """g at vertices given in mm (the event files' unit; the map works in metres)."""
    return np.asarray(gmap.g_xyz(x / 1000.0, y / 1000.0, z / 1000.0),  # type: ignore[attr-defined]
                      dtype=np.float64)


@job("energy_nonlinearity", needs=("dark_noise", "light_yield"), uses=("nonuniformity_map",))
def energy_nonlinearity(ctx: JobContext) -> JobOutput | None:
    if ctx.manifest["kind"] != "comprehensive":
        return None
    ctx.progress("gamma peaks at the centre")
    measured = gamma_peaks(ctx)
    if len(measured.peaks) < MIN_PEAKS:
        return None
    y0 = ctx.payload("light_yield").y0
    dq = dark_offset(ctx)
    gmap = ctx.payload("nonuniformity_map")
    sim = ctx.simulation
    b12_runs = [r for r in ctx.runs if r.source == "B12"]
    b12 = None
    kinds = SIMULATION_KINDS
    if b12_runs and gmap is not None and sim.b12_edges_mev is not None:
        ctx.progress("12B spectrum")
        assert sim.b12_density is not None
        beta = BetaSpectrum.from_density(sim.b12_edges_mev, sim.b12_density)
        cols = [io.read_events(r.path) for r in b12_runs]
        x, y, z = (np.concatenate([c[k] for c in cols]) for k in ("x_mm", "y_mm", "z_mm"))
        pe = np.concatenate([c["pe_total"] for c in cols])
        inside = np.sqrt(x * x + y * y + z * z) < B12_FIDUCIAL_MM
        g = _g_at(gmap, x[inside], y[inside], z[inside])
        b12 = b12_histogram_from_events(visible_energy(pe[inside], dq, y0, g), beta)
        kinds = (*kinds, "b12_spectrum")
    else:
        b12_runs = []
    gammas = [m.peak for m in measured.peaks]
    config = NonlinFitConfig()  # the 12B smearing uses the default (a, b, c) (Eq 3.1)
    ctx.progress("f_nonlin fit (Eq 2.8)")
    fit = fit_nonlinearity(gammas, b12, config)
    n_toys = ctx.settings.band_toys
    ctx.progress(f"systematics band ({n_toys} toys)")
    band = systematics_band(fit, gammas, b12, n_toys=n_toys, n_jobs=ctx.settings.band_jobs)
    fit = fit.with_band(band)
    quality = {
        "valid": bool(fit.fit.valid),
        "chi2": finite(fit.fit.chi2),
        "ndf": int(fit.fit.ndf),
        "chi2_gamma": finite(fit.chi2_gamma),
        "chi2_b12": finite(fit.chi2_b12),
        "gamma_residual": fit.gamma_residual,
        "band_failed_toys": band.n_failed,
        "missing_spectra": measured.missing_spectra,
    }
    runs = measured.runs + b12_runs
    return nonlinearity_payload(fit), ctx.provenance("energy_nonlinearity", runs, quality, kinds)
