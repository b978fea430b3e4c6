"""Closure of the campaign jobs on a mock campaign: fitted constants against the variant's truth.

:func:`closure_figures` returns, for one campaign written by :mod:`fitting.toymc.campaign` and
the constants the jobs produced from its files, one number per quantity (the rows of the
closure matrix of issue 14).  Used by ``tests/unit/test_closure_matrix.py`` (reduced statistics)
and ``benchmarks/closure_matrix.py`` (nominal statistics of Tables 5-7).  Study code: it reads
the truth, so nothing in production imports it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from fitting.nonlinearity import f_nonlin
from fitting.physics.lpmt import interpolate_curves
from fitting.physics.resolution import a_tilde_error
from fitting.resolution import fit_resolution, resolution_points
from fitting.toymc.events import positron_events
from fitting.toymc.pmts import lpmt_channels
from fitting.toymc.truth import DetectorTruth

#: charges [PE] at which the per-channel LPMT residual is evaluated
LPMT_CHARGES_PE = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 50.0, 70.0, 90.0, 100.0)
POSITRON_ENERGIES_MEV = (1.0, 2.0, 4.0, 6.0, 8.0)


def lpmt_residuals(truth: DetectorTruth, payload: Any) -> dict[str, float]:
    """Per-channel residual (corrected / true - 1) of the good channels' curves at each charge
    of :data:`LPMT_CHARGES_PE` (noise-free response of the truth in the SPE-calibrated PE unit
    the laser files hold, :meth:`~fitting.toymc.pmts.LpmtChannels.calibrated_response`; gain 1):
    worst median and p95
    over the charges, and the event-level residual (sum over channels of a uniform
    illumination, efficiency-weighted) at 1-100 PE per channel."""
    ch = lpmt_channels(truth)
    good = np.flatnonzero(np.asarray(payload.status) == 0)
    grid = np.asarray(payload.charge_grid)
    table = np.asarray(payload.true_charge)
    worst_med = worst_p95 = worst_event = 0.0
    for n in LPMT_CHARGES_PE:
        measured = ch.calibrated_response(np.full(ch.n, n))[good]
        corrected = interpolate_curves(grid, table, good, measured)
        rel = corrected / n - 1.0
        worst_med = max(worst_med, abs(float(np.median(rel))))
        worst_p95 = max(worst_p95, float(np.percentile(np.abs(rel), 95)))
    eff = ch.efficiency
    alive = np.flatnonzero(eff > 0)
    is_good = np.isin(alive, good)
    row_of = np.full(ch.n, 0, dtype=np.intp)
    row_of[good] = good
    for n in (1.0, 10.0, 50.0, 100.0):
        n_k = n * eff[alive]
        meas = ch.calibrated_response(np.where(eff > 0, n * eff, 0.0))[alive]
        corr = np.where(is_good, interpolate_curves(grid, table, row_of[alive], meas), meas)
        worst_event = max(worst_event, abs(float(corr.sum() / n_k.sum() - 1.0)))
    return {"lpmt_median": worst_med, "lpmt_p95": worst_p95, "lpmt_event": worst_event}


def positron_bias(truth: DetectorTruth, payloads: dict[str, Any], n_events: int, seed: int,
                  uniform: bool, samples: list[np.ndarray] | None = None,
                  per_energy: dict[float, float] | None = None) -> float:
    """Largest |mean E_rec / E_true - 1| at 1-8 MeV (Eq. 2.4), centre or uniform r < 15 m.

    ``samples``: when given, the prompt visible energies E_vis [MeV] (Eq. 3.3, the energy of
    Eq. 3.1) of each energy are appended to it; ``per_energy``: filled with the signed bias at
    each energy.
    """
    from conditions.energy import EnergyScale

    scale = EnergyScale.from_payloads(payloads, outside_range="extrapolate")
    rng = np.random.default_rng(seed)
    worst = 0.0
    for e_true in POSITRON_ENERGIES_MEV:
        ev = positron_events(truth, e_true, n_events, rng, None if uniform else (0.0, 0.0, 0.0))
        x, y, z = (ev[k] / 1000.0 for k in ("x_mm", "y_mm", "z_mm"))
        inside = np.sqrt(x * x + y * y + z * z) < 15.0
        rec = scale.reconstruct(ev["pe_total"][inside], x[inside], y[inside], z[inside])
        ok = np.isfinite(rec.e_rec)
        bias = float(np.mean(rec.e_rec[ok]) / e_true - 1.0)
        worst = max(worst, abs(bias))
        if per_energy is not None:
            per_energy[e_true] = bias
        if samples is not None:
            samples.append(np.asarray(rec.e_vis[ok]))
    return worst


def positron_resolution_truth(samples: list[np.ndarray], res: Any) -> dict[str, float]:
    """(a, b, c) and a-tilde of Eq. 3.1 fitted to mock positrons at the centre (the truth the
    ``energy_resolution`` job converts the gamma widths to) and the job's pulls against it
    (job error from the payload covariance)."""
    mean, rel, err = resolution_points(samples)
    true = fit_resolution(mean, rel, err)
    cov = np.asarray(res.covariance)
    fig: dict[str, float] = {"a_tilde_true": float(true.a_tilde)}
    # a-tilde against the mock's own centre positrons: the job converts centre gamma widths,
    # so its truth is the centre row (Table 3 "Central IBDs", 2.99(1) %), not the uniform
    # calibrated 3.02 % (that adds the map residual, vertex smearing and QE spread)
    job_err = a_tilde_error(float(res.a), float(res.b), float(res.c), cov)
    err_t = math.hypot(job_err, float(true.a_tilde_err))
    fig["a_tilde_pull"] = ((float(res.a_tilde) - float(true.a_tilde)) / err_t
                           if err_t > 0 else math.nan)
    # the job's quoted error (20 % sharing systematic, fully correlated) is ~0.35 % absolute,
    # 7x the 0.05 % the issue asks for: the pull alone cannot test that, the difference does
    fig["a_tilde_dev"] = float(res.a_tilde) - float(true.a_tilde)
    for i, name in enumerate(("a", "b", "c")):
        t = float(true.fit.values[i])
        fig[f"res_{name}_true"] = t
        err_i = math.hypot(math.sqrt(max(float(cov[i, i]), 0.0)), float(true.fit.error(name)))
        fig[f"res_{name}_pull"] = (float(getattr(res, name)) - t) / err_i if err_i > 0 else math.nan
    return fig


def closure_figures(out_dir: Path, truth: DetectorTruth, constants: Any,
                    positrons: int = 0, seed: int = 5) -> dict[str, float]:
    """The closure figures of one campaign (see the module docstring); NaN where not produced.

    ``positrons``: events per energy for the positron bias (0 = skip it).
    """
    doc = json.loads((Path(out_dir) / "truth.json").read_text())
    now = truth.at_day(float(doc["day"]))
    pay = {k: v[0] for k, v in constants.payloads.items()}
    fig: dict[str, float] = {}
    ly = pay.get("light_yield")
    if ly is not None:
        # the paper's definition (mean PE of centre n-H captures / 2.22 MeV); older truth
        # files without it: the effective centre Y0 (1e-4 lower, the deposit cloud's g)
        y0_true = doc.get("y0_centre_nh_pe_per_mev", doc["y0_centre_effective_pe_per_mev"])
        fig["y0_pull"] = (ly.y0 - y0_true) / ly.y0_uncertainty
    dn = pay["dark_noise"]
    fig["dq_lpmt_pull"] = (dn.offset_lpmt - now.lpmt_dark_noise_pe) / dn.offset_lpmt_uncertainty
    nl = pay.get("energy_nonlinearity")
    if nl is not None:
        e = np.linspace(0.5, 8.0, 76)
        p = (nl.p0, nl.p1, nl.p2, nl.p3)
        fit = f_nonlin(e, p)
        true = now.nonlin_true(e)
        fig["fnonlin_max_dev"] = float(np.max(np.abs(fit / true - 1.0)))
        lo = np.interp(e, nl.band_energy, nl.band_lower)
        hi = np.interp(e, nl.band_energy, nl.band_upper)
        fig["fnonlin_in_band"] = float(np.mean((true >= lo) & (true <= hi)))
    gm = pay.get("nonuniformity_map")
    if gm is not None:
        r = np.asarray(gm.points_r)
        th = np.asarray(gm.points_theta)
        inner = r < 15.0
        xx, zz = r * np.sin(th), r * np.cos(th)
        fitted = gm.g_xyz(xx[inner], np.zeros(int(inner.sum())), zz[inner])
        # the map corrects PE / Y0 (Eq 3.3): its truth is g times the LPMT collection factor
        # Q(x) / Q(0) of the QE spread and dead channels (SPMT share taken uniform)
        ch = lpmt_channels(now)
        fs = now.spmt_fraction
        pos = np.stack([xx[inner], np.zeros(int(inner.sum())), zz[inner]], axis=1) * 1000.0
        q = ch.collection_factor(pos)
        q0 = float(ch.collection_factor(np.zeros((1, 3)))[0])
        q_rel = (fs + (1.0 - fs) * q) / (fs + (1.0 - fs) * q0)
        g_true = now.g(r[inner] * 1000.0, th[inner])
        fig["gmap_rms"] = float(np.sqrt(np.mean((fitted / (g_true * q_rel) - 1.0) ** 2)))
        fig["gmap_rms_vs_g_only"] = float(np.sqrt(np.mean((fitted / g_true - 1.0) ** 2)))
    lp = pay.get("lpmt_nonlinearity")
    if lp is not None:
        fig.update(lpmt_residuals(now, lp))
    gn = pay.get("lpmt_gain")
    if gn is not None:
        fig["spe_resolution_fit"] = float(gn.spe_resolution)
        fig["spe_resolution_true"] = float(now.spe_resolution)
    res = pay.get("energy_resolution")
    if res is not None:
        fig["res_a"], fig["res_b"], fig["res_c"] = float(res.a), float(res.b), float(res.c)
        fig["res_c_expected"] = float(doc["resolution_c_expected"])
        fig["a_tilde"] = float(res.a_tilde)
    if positrons and nl is not None and ly is not None:
        centre: list[np.ndarray] = []
        by_e: dict[float, float] = {}
        fig["positron_bias_centre"] = positron_bias(now, pay, positrons, seed, uniform=False,
                                                    samples=centre, per_energy=by_e)
        fig.update({f"detail_bias_centre_{e:g}MeV": v for e, v in by_e.items()})
        if res is not None:
            fig.update(positron_resolution_truth(centre, res))
        by_e = {}
        fig["positron_bias_uniform"] = positron_bias(now, pay, positrons, seed + 1, uniform=True,
                                                     per_energy=by_e)
        fig.update({f"detail_bias_uniform_{e:g}MeV": v for e, v in by_e.items()})
        if res is not None:
            fig["detail_res_chi2"] = float(res.chi2)
            fig["detail_res_ndf"] = float(res.ndf)
    return {k: (float(v) if v is not None and math.isfinite(float(v)) else math.nan)
            for k, v in fig.items()}
