"""Campaign manifest -> fitting jobs -> typed payloads with provenance.

The fitting code (:mod:`fitting`) is pure numpy/scipy and knows nothing of payloads or databases;
this module runs the jobs a campaign implies and turns each result into the payload of its
record (GUIDE §4), with provenance: job, code version, settings, input files with their SHA-256,
fit quality.

Which jobs run depends on what the campaign contains:

================== =============================================  =====================
record             from                                           paper
================== =============================================  =====================
dark_noise         random triggers                                 section 2.3.3
light_yield        n-H peak of the neutron source at the centre    section 2.1.3
lpmt_nonlinearity  laser intensity scan at the centre              section 2.2
nonuniformity_map  n-H peaks at >= 20 source positions             sections 3.4-3.5
energy_nonlinearity gamma peaks at the centre + 12B spectrum       sections 2.1.2-2.1.3, 2.3.7
energy_resolution  gamma widths at the centre -> positron Eq 3.1   section 3.1
================== =============================================  =====================

The secondary-electron spectra P(E^e) of Eq 2.6 come from the source simulation
(:func:`fitting.toymc.gammas.secondary_electrons`), as the paper takes them from Geant4.
The energy resolution is the positron one of Eq 3.1: gamma widths minus their energy-sharing
variance, c constrained by the dark noise, plus the 68Ge sharing term
(:func:`fitting.resolution.fit_positron_resolution`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel

import conditions
from fitting import dualcal, io, uniformity
from fitting.darknoise import fit_dark_noise
from fitting.lightyield import fit_light_yield
from fitting.nonlinearity import (
    PAPER_ALPHA_N_CORRECTIONS,
    BetaSpectrum,
    GammaPeak,
    NonlinFitConfig,
    NonlinFitResult,
    SecondarySpectrum,
    b12_histogram_from_events,
    fit_nonlinearity,
    measure_gamma_peak,
    systematics_band,
)
from fitting.peaks import fit_gaussian
from fitting.physics.resolution import sharing_deviations
from fitting.resolution import SHARING_E_REG_MEV, GammaWidth, fit_positron_resolution
from fitting.toymc.beta12b import b12_spectrum
from fitting.toymc.gammas import GAMMA_SOURCES, secondary_electrons

from .campaign import CampaignConstants
from .errors import InvalidInput
from .payloads import (
    DarkNoiseV2,
    EnergyNonlinearityV1,
    EnergyResolutionV1,
    LightYieldV1,
    LpmtNonlinearityV1,
    NonuniformityMapV1,
)

FloatArray = NDArray[np.float64]
Progress = Callable[[str], None]

#: Peaks measured in each calibration source's runs at the centre (section 2.1.1, Table 1).
PEAKS_OF_SOURCE: dict[str, tuple[str, ...]] = {
    "Cs137": ("Cs137",),
    "Mn54": ("Mn54",),
    "Co60": ("Co60",),
    "K40": ("K40",),
    "Ge68": ("Ge68",),
    "AmBe": ("AmBe", "nC", "nH"),
    "AmC": ("AmC", "nH"),
}
#: Fiducial radius of the 12B sample [mm] (paper section 2.1.3: r < 15 m).
B12_FIDUCIAL_MM = 15_000.0
#: A peak needs this many events in its search range to be measured.
MIN_PEAK_EVENTS = 1000
#: The n-H peak of a neutron source (the fullest peak of its run) needs fewer.
MIN_NH_EVENTS = 100
#: Smallest number of source positions for a g(r, theta) map.
MIN_MAP_POINTS = 20


@dataclass(frozen=True)
class JobSettings:
    """Settings of the campaign jobs (recorded in each payload's provenance)."""

    dark_window_ns: float = 350.0
    spectrum_events: int = 20_000
    spectrum_seed: int = 2024
    band_toys: int = 200
    band_jobs: int = 2
    peak_window_sigmas: float = 5.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class RunData:
    """One run of a manifest with its file path resolved."""

    info: dict[str, Any]
    path: Path

    @property
    def run(self) -> int:
        return int(self.info["run"])

    @property
    def source(self) -> str:
        return str(self.info["source"])

    @property
    def at_centre(self) -> bool:
        return float(self.info.get("r_mm", 1e9)) < 1.0 and not self.info.get("uniform", False)

    def input(self) -> dict[str, Any]:
        return {"run": self.run, "file": self.info["file"], "sha256": self.info["sha256"]}


def _quiet(_: str) -> None:
    return None


def _code_version() -> str:
    return f"juno-conddb {conditions.__version__}"


def load_runs(manifest_path: Path) -> tuple[dict[str, Any], list[RunData]]:
    """The manifest (every file's SHA-256 verified) and its runs; a broken campaign raises
    :class:`InvalidInput` naming the problem."""
    try:
        manifest = io.load_manifest(manifest_path, verify=True)
    except (OSError, ValueError, KeyError) as exc:
        raise InvalidInput(
            f"broken campaign: {exc}",
            "re-copy the campaign files or re-run `conddb simulate campaign`",
        ) from None
    base = Path(manifest_path).parent
    return manifest, [RunData(r, base / r["file"]) for r in manifest["runs"]]


def _provenance(
    job: str,
    runs: list[RunData],
    settings: JobSettings,
    quality: dict[str, Any],
    manifest: dict[str, Any],
) -> dict[str, Any]:
    return {
        "job": job,
        "code_version": _code_version(),
        "campaign": manifest["campaign_id"],
        "inputs": [r.input() for r in runs],
        "settings": settings.as_dict(),
        "fit_quality": quality,
    }


def _finite(x: float, what: str = "chi2") -> float:
    """``x`` if finite; a failed fit (NaN chi2) must not be stored as a perfect one."""
    if not math.isfinite(x):
        raise InvalidInput(
            f"the {what} of a fit is not finite: the fit failed",
            "check the campaign's runs; nothing was stored",
        )
    return float(x)


def _mode_window(
    x: FloatArray,
    lo: float,
    hi: float,
    rel_sigma: float,
    n_sigmas: float,
    min_events: int = MIN_PEAK_EVENTS,
) -> FloatArray:
    """Events within ``n_sigmas`` (relative width ``rel_sigma``) of the fullest bin in [lo, hi].

    Raises :class:`InvalidInput` when there is no peak: too few events, or the fullest bin at the
    edge of the search range (the flank of a neighbouring peak, not a peak of its own).
    """
    inside = x[(x > lo) & (x < hi)]
    if inside.size < min_events:
        raise InvalidInput(f"no peak between {lo:.4g} and {hi:.4g}", "check the source runs")
    counts, edges = np.histogram(inside, bins=100, range=(lo, hi))
    k = int(np.argmax(counts))
    if k < 5 or k > 94:
        raise InvalidInput(
            f"no peak between {lo:.4g} and {hi:.4g} (only a flank)", "check the source runs"
        )
    mode = 0.5 * (edges[k] + edges[k + 1])
    half = n_sigmas * rel_sigma * mode
    return x[np.abs(x - mode) < half]


# --- dark noise ----------------------------------------------------------------------------------
def dark_noise_job(
    runs: list[RunData], settings: JobSettings, manifest: dict[str, Any]
) -> tuple[DarkNoiseV2, dict[str, Any]] | None:
    randoms = [r for r in runs if r.source == "random"]
    if not randoms:
        return None
    cols = [io.read_events(r.path) for r in randoms]
    q_lpmt = np.concatenate([c["pe_lpmt"] for c in cols])
    q_spmt = np.concatenate([c["pe_spmt"] for c in cols])
    res = fit_dark_noise(q_lpmt, settings.dark_window_ns, q_spmt_pe=q_spmt)
    assert res.spmt is not None
    payload = DarkNoiseV2(
        offset_lpmt=res.lpmt.values[0],
        offset_lpmt_uncertainty=res.lpmt.errors[0],
        offset_spmt=res.spmt.values[0],
        offset_spmt_uncertainty=res.spmt.errors[0],
        window_ns=settings.dark_window_ns,
        rate_lpmt_hz=res.rate_hz_per_channel_lpmt,
        rate_spmt_hz=res.rate_hz_per_channel_spmt,
        n_random_triggers=int(q_lpmt.size),
    )
    quality = {"valid": bool(res.lpmt.valid), "n_events": int(q_lpmt.size)}
    return payload, _provenance("dark_noise", randoms, settings, quality, manifest)


# --- light yield ---------------------------------------------------------------------------------
def _nh_peak_pe(pe: FloatArray, settings: JobSettings) -> FloatArray:
    """Events of the n-H capture peak (the fullest peak of a neutron source) [PE]."""
    rel = 1.2 / math.sqrt(max(float(np.median(pe)), 1.0))
    return _mode_window(
        pe,
        0.5 * float(np.median(pe)),
        float(np.percentile(pe, 99.9)),
        max(rel, 0.02),
        settings.peak_window_sigmas,
        min_events=MIN_NH_EVENTS,
    )


def light_yield_job(
    runs: list[RunData], dark: DarkNoiseV2, settings: JobSettings, manifest: dict[str, Any]
) -> tuple[LightYieldV1, dict[str, Any]] | None:
    centre = [r for r in runs if r.source in ("AmC", "AmBe") and r.at_centre]
    if not centre:
        return None
    run = max(centre, key=lambda r: int(r.info.get("n_events", 0)))
    pe = io.read_events(run.path)["pe_total"]
    peak = _nh_peak_pe(pe, settings)
    dq = dark.offset_lpmt + dark.offset_spmt
    dq_err = math.hypot(dark.offset_lpmt_uncertainty, dark.offset_spmt_uncertainty)
    fit = fit_light_yield(peak, dq, dq_err, method="gauss")
    payload = LightYieldV1(
        y0=fit.values[0],
        y0_uncertainty=fit.errors[0],
        n_events=int(peak.size),
        chi2=_finite(fit.chi2),
        ndf=int(fit.ndf),
    )
    quality = {"valid": bool(fit.valid), "chi2": _finite(fit.chi2), "ndf": int(fit.ndf)}
    return payload, _provenance("light_yield", [run], settings, quality, manifest)


# --- LPMT channel non-linearity ------------------------------------------------------------------
def lpmt_job(
    runs: list[RunData], dark: DarkNoiseV2, settings: JobSettings, manifest: dict[str, Any]
) -> tuple[LpmtNonlinearityV1, dict[str, Any]] | None:
    lasers = [r for r in runs if r.source == "laser" and r.at_centre]
    if not lasers:
        return None
    run = lasers[0]
    scan = io.read_laser_scan(run.path)
    n_channels = scan["lpmt_mean"].shape[1]
    laser = dualcal.LaserScan.from_flashes(
        np.arange(n_channels),
        scan["spmt_total"],
        dark.offset_spmt,
        scan["lpmt_mean"].T,
        scan["lpmt_sem"].T,
        np.full(n_channels, dark.offset_lpmt / n_channels),
    )
    result = dualcal.fit_dual_calorimetry(laser)
    payload = LpmtNonlinearityV1.model_validate(result.payload_fields())
    quality = {
        "valid": True,
        "n_good": int(result.n_good),
        "n_channels": n_channels,
        "flags": {k: int(v) for k, v in _flag_counts(result).items()},
    }
    return payload, _provenance("lpmt_nonlinearity", [run], settings, quality, manifest)


def _flag_counts(result: dualcal.ChannelNonlinearityResult) -> dict[str, int]:
    counts: dict[str, int] = {}
    for flag in dualcal.ChannelStatus:
        if flag.value:
            counts[flag.name or str(flag.value)] = int(
                np.count_nonzero(result.status & np.uint16(flag.value))
            )
    return counts


# --- non-uniformity map --------------------------------------------------------------------------
def gmap_job(
    runs: list[RunData], dark: DarkNoiseV2, settings: JobSettings, manifest: dict[str, Any]
) -> tuple[NonuniformityMapV1, dict[str, Any]] | None:
    points = [r for r in runs if r.source == "AmC" and not r.info.get("uniform", False)]
    if len(points) < MIN_MAP_POINTS or not any(r.at_centre for r in points):
        return None
    dq = dark.offset_lpmt + dark.offset_spmt
    peaks, errs = [], []
    for r in points:
        pe = io.read_events(r.path)["pe_total"] - dq
        fit = fit_gaussian(_nh_peak_pe(pe, settings))
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
    payload = NonuniformityMapV1.model_validate(gmap.payload_fields(source="AmC"))
    quality = {
        "valid": True,
        "chi2": _finite(gmap.chi2),
        "ndf": _finite(gmap.ndf),
        "n_points": len(points),
    }
    return payload, _provenance("nonuniformity_map", points, settings, quality, manifest)


# --- energy non-linearity and resolution ---------------------------------------------------------
def secondary_spectrum(source: str, settings: JobSettings) -> SecondarySpectrum:
    """P(E^e) of a gamma source from the source simulation (Eq 2.6)."""
    electrons, _ = _source_electrons(source, settings)
    return SecondarySpectrum.from_electrons(
        source, GAMMA_SOURCES[source].total_energy, electrons, settings.spectrum_events
    )


def _source_electrons(source: str, settings: JobSettings) -> tuple[FloatArray, NDArray[np.int64]]:
    """Per-event secondary electrons of a gamma source (P(E^e) of Eq 2.6 and its sharing)."""
    rng = np.random.default_rng(settings.spectrum_seed + sum(map(ord, source)))
    return secondary_electrons(source, settings.spectrum_events, rng)


def beta_spectrum_b12() -> BetaSpectrum:
    """True 12B kinetic-energy spectrum (allowed shape) on a 10 keV grid."""
    edges = np.linspace(0.0, 13.369, 1338)
    return BetaSpectrum.from_density(edges, b12_spectrum(0.5 * (edges[1:] + edges[:-1])))


@dataclass(frozen=True)
class MeasuredPeak:
    peak: GammaPeak
    sigma: float
    sigma_err: float


def _measure_peaks(
    runs: list[RunData], y0: float, dq: float, settings: JobSettings
) -> tuple[list[MeasuredPeak], list[RunData]]:
    peaks: list[MeasuredPeak] = []
    used: list[RunData] = []
    done: set[str] = set()
    for r in runs:
        if not r.at_centre or r.source not in PEAKS_OF_SOURCE:
            continue
        e_vis = (io.read_events(r.path)["pe_total"] - dq) / y0
        found_before = len(peaks)
        for name in PEAKS_OF_SOURCE[r.source]:
            if name in done:
                continue
            e_gamma = GAMMA_SOURCES[name].total_energy
            rel = 0.03 / math.sqrt(e_gamma)
            # gamma E_vis / E_gamma lies in 0.90-1.05 (Birks quenching of the secondary
            # electrons); with several peaks in a run (AmBe: 4.44 and n-C 4.95) a narrower
            # search window keeps the neighbour out.
            lo, hi = (0.85, 1.08) if len(PEAKS_OF_SOURCE[r.source]) == 1 else (0.97, 1.06)
            try:
                sample = _mode_window(
                    e_vis, lo * e_gamma, hi * e_gamma, rel, settings.peak_window_sigmas
                )
            except InvalidInput:
                continue  # e.g. n-C (1 % of captures) beside the AmBe 4.44 MeV peak
            peak = measure_gamma_peak(name, sample, secondary_spectrum(name, settings),
                                      correction=PAPER_ALPHA_N_CORRECTIONS.get(name))
            g = fit_gaussian(sample)
            peaks.append(MeasuredPeak(peak, g["sigma"], g.error("sigma")))
            done.add(name)
        if len(peaks) > found_before:  # provenance names only the runs that gave a peak
            used.append(r)
    return peaks, used


def nonlinearity_jobs(
    runs: list[RunData],
    y0: LightYieldV1,
    dark: DarkNoiseV2,
    gmap: NonuniformityMapV1 | None,
    settings: JobSettings,
    manifest: dict[str, Any],
    progress: Progress,
) -> dict[str, tuple[BaseModel, dict[str, Any]]]:
    """f_nonlin with its band and the resolution terms, from a comprehensive campaign."""
    dq = dark.offset_lpmt + dark.offset_spmt
    progress("gamma peaks at the centre")
    measured, peak_runs = _measure_peaks(runs, y0.y0, dq, settings)
    if len(measured) < 4:
        return {}
    out: dict[str, tuple[BaseModel, dict[str, Any]]] = {}
    b12_runs = [r for r in runs if r.source == "B12"]
    b12 = None
    if b12_runs and gmap is not None:
        progress("12B spectrum")
        cols = [io.read_events(r.path) for r in b12_runs]
        x, y, z = (np.concatenate([c[k] for c in cols]) for k in ("x_mm", "y_mm", "z_mm"))
        pe = np.concatenate([c["pe_total"] for c in cols])
        inside = np.sqrt(x * x + y * y + z * z) < B12_FIDUCIAL_MM
        g = _eval_gmap(gmap, x[inside], y[inside], z[inside])
        b12 = b12_histogram_from_events((pe[inside] - dq) / y0.y0 / g, beta_spectrum_b12())
    gammas = [m.peak for m in measured]
    config = NonlinFitConfig()
    progress("f_nonlin fit (Eq 2.8)")
    fit = fit_nonlinearity(gammas, b12, config)
    out["energy_resolution"] = _resolution_job(measured, fit, y0, dq, settings, peak_runs,
                                               manifest)
    progress(f"systematics band ({settings.band_toys} toys)")
    band = systematics_band(fit, gammas, b12, n_toys=settings.band_toys, n_jobs=settings.band_jobs)
    fit = fit.with_band(band)
    out["energy_nonlinearity"] = (
        _nonlinearity_payload(fit),
        _provenance(
            "energy_nonlinearity",
            peak_runs + b12_runs,
            settings,
            {
                "valid": bool(fit.fit.valid),
                "chi2": _finite(fit.fit.chi2),
                "ndf": int(fit.fit.ndf),
                "chi2_gamma": _finite(fit.chi2_gamma),
                "chi2_b12": _finite(fit.chi2_b12),
                "gamma_residual": fit.gamma_residual,
                "band_failed_toys": band.n_failed,
            },
            manifest,
        ),
    )
    return out


#: (alpha, n) prompt peaks carry the recoil spread: not used for the resolution
_RESOLUTION_SKIP = ("AmBe", "AmC")
#: relative uncertainty of the dark-noise c (Poisson assumption; Fano factor known to ~10 %)
_C_DARK_REL_UNC = 0.05


def _resolution_job(
    measured: list[MeasuredPeak], fit: NonlinFitResult, y0: LightYieldV1, dq: float,
    settings: JobSettings, peak_runs: list[RunData], manifest: dict[str, Any],
) -> tuple[BaseModel, dict[str, Any]]:
    """Positron (a, b, c) of Eq 3.1 converted from the gamma widths at the centre (section 3.1)."""
    widths = []
    for m in measured:
        if m.peak.source in _RESOLUTION_SKIP:
            continue
        e, idx = _source_electrons(m.peak.source, settings)
        share = sharing_deviations(e, idx, settings.spectrum_events, fit.p, SHARING_E_REG_MEV)
        widths.append(GammaWidth(m.peak.source, m.peak.e_vis_mev, m.sigma, m.sigma_err, share))
    c_dark = math.sqrt(dq) / y0.y0
    res = fit_positron_resolution(widths, c_dark, _C_DARK_REL_UNC * c_dark)
    abc = tuple(float(v) for v in res.fit.values)
    payload = EnergyResolutionV1(
        a=abc[0], b=abc[1], c=abc[2], covariance=res.fit.covariance, a_tilde=res.a_tilde,
        chi2=_finite(res.fit.chi2), ndf=res.fit.ndf,
    )
    quality = {"valid": bool(res.fit.valid), "chi2": _finite(res.fit.chi2),
               "ndf": int(res.fit.ndf),
               "from": "positron resolution converted from gamma widths at the centre"}
    return payload, _provenance("energy_resolution", peak_runs, settings, quality, manifest)


def _eval_gmap(gmap: NonuniformityMapV1, x: FloatArray, y: FloatArray, z: FloatArray) -> FloatArray:
    """g at vertices given in mm (the event files' unit; the map works in metres)."""
    return np.asarray(gmap.g_xyz(x / 1000.0, y / 1000.0, z / 1000.0), dtype=np.float64)


def _nonlinearity_payload(fit: NonlinFitResult) -> EnergyNonlinearityV1:
    assert fit.band is not None
    if fit.e_vis_anni_mev is None:
        raise InvalidInput("no 68Ge peak: E_vis^anni unknown", "include a 68Ge run at the centre")
    p = fit.fit.values
    return EnergyNonlinearityV1(
        p0=p[0],
        p1=p[1],
        p2=p[2],
        p3=p[3],
        covariance=fit.fit.covariance,
        e_min=fit.valid_range_mev[0],
        e_max=fit.valid_range_mev[1],
        e_vis_anni=fit.e_vis_anni_mev,
        e_vis_anni_uncertainty=fit.e_vis_anni_err_mev or 0.0,
        band_energy=fit.band.grid_mev,
        band_lower=fit.band.lower,
        band_upper=fit.band.upper,
        chi2=_finite(fit.fit.chi2),
        ndf=int(fit.fit.ndf),
        sources=fit.sources_used,
    )


# --- the whole campaign --------------------------------------------------------------------------
#: The records a campaign can produce, in the order the jobs run.
RECORDS = (
    "dark_noise",
    "light_yield",
    "lpmt_nonlinearity",
    "nonuniformity_map",
    "energy_resolution",
    "energy_nonlinearity",
)


def run_campaign_jobs(
    manifest_path: Path,
    settings: JobSettings | None = None,
    progress: Progress | None = None,
    only: set[str] | None = None,
) -> CampaignConstants:
    """Run every fitting job a campaign implies (or those producing the records in ``only``, plus
    what they need); the payloads are ready for :func:`conditions.campaign.upload_campaign`."""
    if only is not None and not only <= set(RECORDS):
        raise InvalidInput(
            f"unknown job(s) {sorted(only - set(RECORDS))}", f"jobs: {', '.join(RECORDS)}"
        )
    wanted = set(RECORDS) if only is None else set(only)
    settings = settings or JobSettings()
    say = progress or _quiet
    manifest, runs = load_runs(Path(manifest_path))
    payloads: dict[str, tuple[BaseModel, dict[str, Any]]] = {}
    say("dark noise (random triggers)")
    dark = dark_noise_job(runs, settings, manifest)
    if dark is None:
        raise InvalidInput(
            f"campaign {manifest['campaign_id']} has no random triggers",
            "every campaign needs them for the dark-noise offset",
        )
    payloads["dark_noise"] = dark
    say("light yield Y0 (n-H at the centre)")
    ly = light_yield_job(runs, dark[0], settings, manifest)
    if ly is not None:
        payloads["light_yield"] = ly
    if "lpmt_nonlinearity" in wanted:
        say("LPMT channel non-linearity (laser scan)")
        lp = lpmt_job(runs, dark[0], settings, manifest)
        if lp is not None:
            payloads["lpmt_nonlinearity"] = lp
    gm = None
    if wanted & {"nonuniformity_map", "energy_nonlinearity"}:
        say("non-uniformity map g(r, theta)")
        gm = gmap_job(runs, dark[0], settings, manifest)
        if gm is not None:
            payloads["nonuniformity_map"] = gm
    if (
        ly is not None
        and manifest["kind"] == "comprehensive"
        and wanted & {"energy_resolution", "energy_nonlinearity"}
    ):
        payloads.update(
            nonlinearity_jobs(runs, ly[0], dark[0], gm[0] if gm else None, settings, manifest, say)
        )
    payloads = {k: v for k, v in payloads.items() if k in wanted}
    if not payloads:
        raise InvalidInput(
            f"campaign {manifest['campaign_id']} ({manifest['kind']}) gives none of "
            f"{', '.join(sorted(wanted))}",
            "choose a campaign with the runs those jobs need",
        )
    return CampaignConstants(
        name=str(manifest["campaign_id"]),
        kind=str(manifest["kind"]),
        first_run=int(manifest["first_run"]),
        last_run=int(manifest["last_run"]),
        manifest_sha256=io.sha256_file(manifest_path),
        payloads=payloads,
        info={
            "kind": manifest["kind"],
            "start_time": manifest.get("start_time"),
            "end_time": manifest.get("end_time"),
            "runs": [r.input() | {"source": r.source} for r in runs],
            "settings": settings.as_dict(),
            "code_version": _code_version(),
        },
    )
