"""Calibration campaigns of paper section 5 (Tables 5-7) written as files with known truth.

:func:`plan_campaign` builds the run list of a ``comprehensive``, ``weekly`` or ``monthly``
program; :func:`write_campaign` simulates it and writes, in ``out_dir``:

* ``manifest.json`` - the campaign (fields below);
* ``runs/run_NNNNNN_<source>.parquet`` (``.csv`` without pyarrow) - event files, columns in
  :mod:`fitting.io`; laser runs as ``.npz`` (:class:`fitting.toymc.laser.LaserScan`);
* ``truth.json`` + ``truth_arrays.npz`` - every true constant for closure tests.

Programs (rates 100 decays/s, K40 1/s, laser 50 Hz; travel model in :mod:`.layout`):

* comprehensive (Table 5, 2866 min): AmC at the 250 points of Figure 12 (100,000 neutrons at
  the centre, 30,000 = 5 min elsewhere); AmBe, 68Ge, 137Cs, 54Mn, 60Co with 100,000 decays and
  40K with 6,000 at the centre; a 10-step laser intensity scan at the centre (33.3 min per
  step). Plus, outside the table: one month of 12B (30,000 decays uniform in the LS) and
  20,000 random triggers.
* weekly (Table 6, 141 min): AmC at z = 0, 4, 8, 12, 16 m (6,000 neutrons = 1 min each), laser
  scan at the centre (10 steps x 2 min); plus 5,000 random triggers.
* monthly (Table 7, 673 min): AmC at the 27 ACU, 40 CLS and 23 GT points (1 min each), laser
  at the 27 ACU points (one 20 PE step, 2 min each); plus 5,000 random triggers.

``scale`` multiplies every event count (tests use small values), laser flashes included (the
nominal scan has 100,000 flashes per step, comprehensive, or 6,000); ``n_flashes`` overrides the
number of flashes stored per step.

Manifest fields (JSON):

=================  ==============================================================================
format             "juno-conddb-campaign/1"
kind               comprehensive | weekly | monthly
campaign_id        "<kind>-run<first_run>-seed<seed>"
first_run, last_run  run numbers (consecutive, one per deployment point / sample)
seed, day, scale   generator seed, days since detector start (drifts), event-count scale
start_time, end_time  ISO-8601 UTC of the program (runs back to back with their travel)
planned_minutes    {"travel", "data", "total"}: program totals of the tables (in-program runs)
truth_file         {"path", "sha256"} of truth.json
runs               list of run objects:
  run              run number
  system           ACU | CLS1 | CLS2 | GT | physics (12B) | daq (random triggers)
  source           Cs137 Mn54 Co60 K40 Ge68 AmBe AmC laser B12 random
  data_kind        events | laser
  position_mm      [x, y, z] in mm ([0, 0, 0] for uniform samples)
  r_mm, theta_deg  spherical coordinates of the position (theta from +z)
  uniform          true for samples uniform in the LS (12B)
  n_decays         decays / neutrons / flashes / triggers generated (nominal x scale)
  n_events         rows in the event file (after the trigger; flashes per step for laser)
  rate_hz          decay / trigger rate
  livetime_s       data-taking time of the run
  travel_min, data_min  travel charged to this run (first run of a deployment) and data time
  in_program       counts in the table totals
  start_time, end_time  ISO-8601 UTC
  file, format, sha256  data file path relative to the manifest, its format and hash
  intensities_pe   (laser only) nominal per-LPMT mean PE of each step
=================  ==============================================================================
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fitting.io import MANIFEST_FORMAT, events_extension, sha256_file, write_events
from fitting.toymc.events import b12_events, random_trigger_events, source_events
from fitting.toymc.gammas import GAMMA_SOURCES, secondary_electrons
from fitting.toymc.laser import default_intensities, simulate_laser_scan
from fitting.toymc.layout import (
    CalibPoint,
    acu_points,
    acu_travel_min,
    cls_points,
    cls_travel_min,
    gt_points,
    gt_travel_min,
    monthly_cls_points,
)
from fitting.toymc.pmts import lpmt_channels
from fitting.toymc.siminputs import write_simulation_inputs
from fitting.toymc.truth import DetectorTruth

KINDS: tuple[str, ...] = ("comprehensive", "weekly", "monthly")
EPOCH: dt.datetime = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
"""Detector start (day 0) of the mock timeline."""
FORMAT: str = MANIFEST_FORMAT
LASER_RATE_HZ: float = 50.0
RANDOM_RATE_HZ: float = 50.0
ProgressFn = Callable[[int, int, str], None]


@dataclass(frozen=True)
class RunPlan:
    """One planned run (see the manifest fields in the module docstring)."""

    run: int
    system: str
    source: str
    position_mm: tuple[float, float, float]
    n_decays: int
    rate_hz: float
    travel_min: float
    in_program: bool = True
    uniform: bool = False
    intensities_pe: tuple[float, ...] = field(default=())

    @property
    def data_kind(self) -> str:
        """'laser' for laser scans, else 'events'."""
        return "laser" if self.source == "laser" else "events"

    @property
    def livetime_s(self) -> float:
        """Data-taking time [s] (all steps for a laser scan)."""
        steps = max(len(self.intensities_pe), 1)
        return steps * self.n_decays / self.rate_hz

    @property
    def data_min(self) -> float:
        """Data-taking time [min] (0 for samples outside the program)."""
        return self.livetime_s / 60.0 if self.in_program else 0.0


@dataclass(frozen=True)
class CampaignPlan:
    """A program: kind, first run and the ordered runs."""

    kind: str
    first_run: int
    runs: tuple[RunPlan, ...]

    def totals(self) -> dict[str, float]:
        """Program totals [min]: travel, data and total (in-program runs only)."""
        travel = sum(r.travel_min for r in self.runs if r.in_program)
        data = sum(r.data_min for r in self.runs if r.in_program)
        return {"travel": travel, "data": data, "total": travel + data}


class _Builder:
    def __init__(self, first_run: int, scale: float) -> None:
        self.next_run = first_run
        self.scale = scale
        self.runs: list[RunPlan] = []

    def n(self, nominal: int) -> int:
        return max(round(nominal * self.scale), 1)

    def deploy(self, points: list[CalibPoint], source: str, counts: list[int], rate: float,
               travel: float, intensities: tuple[float, ...] = ()) -> None:
        for i, (p, c) in enumerate(zip(points, counts, strict=True)):
            self.runs.append(RunPlan(
                run=self.next_run, system=p.system, source=source,
                position_mm=(p.x_mm, p.y_mm, p.z_mm), n_decays=c, rate_hz=rate,
                travel_min=travel if i == 0 else 0.0, intensities_pe=intensities,
            ))
            self.next_run += 1

    def extra(self, system: str, source: str, n: int, rate: float, uniform: bool) -> None:
        self.runs.append(RunPlan(
            run=self.next_run, system=system, source=source, position_mm=(0.0, 0.0, 0.0),
            n_decays=n, rate_hz=rate, travel_min=0.0, in_program=False, uniform=uniform,
        ))
        self.next_run += 1


def plan_campaign(kind: str, first_run: int, scale: float = 1.0,
                  laser_scan_pe: tuple[float, ...] = ()) -> CampaignPlan:
    """Run list of a program of Tables 5-7 (see module docstring); ``scale`` scales counts;
    ``laser_scan_pe`` the intensity steps of the scans (default: 10 log steps to 100 PE)."""
    if kind not in KINDS:
        raise ValueError(f"unknown campaign kind {kind!r}: use one of {', '.join(KINDS)}")
    b = _Builder(first_run, scale)
    centre = acu_points(np.array([0.0]))
    laser_scan = laser_scan_pe or tuple(float(x) for x in default_intensities(10))
    if kind == "comprehensive":
        axis = acu_points()
        counts = [b.n(100_000) if p.z_mm == 0.0 else b.n(30_000) for p in axis]
        b.deploy(axis, "AmC", counts, 100.0, acu_travel_min(axis))
        cls = cls_points()
        for system in ("CLS1", "CLS2"):
            pts = [p for p in cls if p.system == system]
            b.deploy(pts, "AmC", [b.n(30_000)] * len(pts), 100.0, cls_travel_min(pts))
        gt = gt_points()
        b.deploy(gt, "AmC", [b.n(30_000)] * len(gt), 100.0, gt_travel_min(gt))
        b.deploy(centre, "AmBe", [b.n(100_000)], 100.0, acu_travel_min(centre))
        b.deploy(centre, "laser", [b.n(100_000)], LASER_RATE_HZ, acu_travel_min(centre),
                 laser_scan)
        for src in ("Ge68", "Cs137", "Mn54", "Co60"):
            b.deploy(centre, src, [b.n(100_000)], 100.0, acu_travel_min(centre))
        b.deploy(centre, "K40", [b.n(6_000)], 1.0, acu_travel_min(centre))
        b.extra("physics", "B12", b.n(30_000), 1000.0 / 86_400.0, uniform=True)
        b.extra("daq", "random", b.n(20_000), RANDOM_RATE_HZ, uniform=False)
    elif kind == "weekly":
        pts = acu_points(np.array([16_000.0, 12_000.0, 8_000.0, 4_000.0, 0.0]))
        b.deploy(pts, "AmC", [b.n(6_000)] * len(pts), 100.0, acu_travel_min(pts))
        b.deploy(centre, "laser", [b.n(6_000)], LASER_RATE_HZ, acu_travel_min(centre),
                 laser_scan)
        b.extra("daq", "random", b.n(5_000), RANDOM_RATE_HZ, uniform=False)
    else:
        axis = acu_points()
        b.deploy(axis, "AmC", [b.n(6_000)] * len(axis), 100.0, acu_travel_min(axis))
        laser_pts = acu_points()
        for i, p in enumerate(laser_pts):
            b.deploy([p], "laser", [b.n(6_000)], LASER_RATE_HZ,
                     acu_travel_min(laser_pts) if i == 0 else 0.0, (20.0,))
        cls = monthly_cls_points()
        b.deploy(cls, "AmC", [b.n(6_000)] * len(cls), 100.0, cls_travel_min(cls))
        gt = gt_points()
        b.deploy(gt, "AmC", [b.n(6_000)] * len(gt), 100.0, gt_travel_min(gt))
        b.extra("daq", "random", b.n(5_000), RANDOM_RATE_HZ, uniform=False)
    return CampaignPlan(kind, first_run, tuple(b.runs))


def _iso(t: dt.datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _spherical(pos: tuple[float, float, float]) -> tuple[float, float]:
    r = float(np.sqrt(sum(c * c for c in pos)))
    theta = float(np.degrees(np.arccos(np.clip(pos[2] / r, -1.0, 1.0)))) if r > 0 else 0.0
    return r, theta


def write_campaign(
    kind: str,
    first_run: int,
    out_dir: str | Path,
    seed: int = 0,
    day: float = 0.0,
    truth: DetectorTruth | None = None,
    scale: float = 1.0,
    n_flashes: int | None = None,
    progress: ProgressFn | None = None,
) -> Path:
    """Simulate a campaign and write manifest, data and truth files; return the manifest path.

    Deterministic for (kind, first_run, seed, day, truth, scale, n_flashes): each run uses
    ``numpy.random.default_rng([seed, run])``. ``truth`` defaults to
    :meth:`DetectorTruth.default`; drifts are applied for ``day`` (days since detector start).
    ``progress(i, n, label)`` is called before each run.  ``n_flashes`` (flashes stored per
    laser step) defaults to the program's nominal count x ``scale`` (Tables 5-7 at 50 Hz:
    100,000 per step in a comprehensive scan, 6,000 weekly and monthly).
    """
    base = truth if truth is not None else DetectorTruth.default()
    now_truth = base.at_day(day)
    plan = plan_campaign(kind, first_run, scale, base.laser_scan_pe)
    out = Path(out_dir)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    channels = lpmt_channels(now_truth)
    gain = base.drift.gain_factors(day, now_truth.n_lpmt)
    ext = events_extension()
    clock = EPOCH + dt.timedelta(days=day)
    start = clock
    run_entries: list[dict[str, Any]] = []
    run_truth: dict[str, Any] = {}
    for i, rp in enumerate(plan.runs):
        if progress is not None:
            progress(i, len(plan.runs), f"run {rp.run} {rp.system} {rp.source}")
        rng = np.random.default_rng([seed, rp.run])
        pos = np.array(rp.position_mm)
        clock += dt.timedelta(minutes=rp.travel_min)
        run_start = clock
        q = 1.0
        if rp.data_kind == "laser":
            n_rows = max(rp.n_decays if n_flashes is None else n_flashes, 2)
            scan = simulate_laser_scan(now_truth, rng, rp.intensities_pe, n_rows, pos, gain)
            path = out / "runs" / f"run_{rp.run:06d}_laser.npz"
            scan.save(path)
            fmt = "npz"
        else:
            if rp.source == "random":
                cols = random_trigger_events(now_truth, rp.n_decays, rng, rp.rate_hz)
            elif rp.source == "B12":
                cols = b12_events(now_truth, rp.n_decays, rng, rp.rate_hz * 86_400.0)
            else:
                q = float(channels.collection_factor(pos[None, :])[0])
                cols = source_events(now_truth, rp.source, pos, rp.n_decays, rng, rp.rate_hz,
                                     library_seed=seed + 7, collection=q)
            path = out / "runs" / f"run_{rp.run:06d}_{rp.source}{ext}"
            write_events(path, cols)
            n_rows = int(cols["event_id"].size)
            fmt = ext.lstrip(".")
        clock += dt.timedelta(seconds=rp.livetime_s if rp.in_program else 0.0)
        r_mm, theta = _spherical(rp.position_mm)
        entry: dict[str, Any] = {
            "run": rp.run, "system": rp.system, "source": rp.source,
            "data_kind": rp.data_kind, "position_mm": list(rp.position_mm),
            "r_mm": r_mm, "theta_deg": theta, "uniform": rp.uniform,
            "n_decays": rp.n_decays, "n_events": n_rows, "rate_hz": rp.rate_hz,
            "livetime_s": rp.livetime_s, "travel_min": rp.travel_min,
            "data_min": rp.data_min, "in_program": rp.in_program,
            "start_time": _iso(run_start),
            "end_time": _iso(run_start + dt.timedelta(seconds=rp.livetime_s)),
            "file": str(path.relative_to(out)), "format": fmt, "sha256": sha256_file(path),
        }
        if rp.intensities_pe:
            entry["intensities_pe"] = list(rp.intensities_pe)
        run_entries.append(entry)
        if not rp.uniform and rp.source not in ("random",):
            in_ls = r_mm < now_truth.gmap.r_ls_mm
            run_truth[str(rp.run)] = {
                "g_true": float(now_truth.g(r_mm, np.radians(theta))) if in_ls else None,
                "collection_q": q,
            }
    if progress is not None:
        progress(len(plan.runs), len(plan.runs), "truth file")
    truth_path = write_truth(out, base, day, kind, run_truth, gain)
    sim_inputs = write_simulation_inputs(out, now_truth, seed) if kind == "comprehensive" else []
    manifest = {
        "format": FORMAT,
        "kind": kind,
        "campaign_id": f"{kind}-run{first_run}-seed{seed}",
        "first_run": plan.runs[0].run,
        "last_run": plan.runs[-1].run,
        "seed": seed,
        "day": day,
        "scale": scale,
        "start_time": _iso(start),
        "end_time": _iso(clock),
        "planned_minutes": plan.totals(),
        "truth_file": {"path": truth_path.name, "sha256": sha256_file(truth_path)},
        "simulation_inputs": sim_inputs,
        "runs": run_entries,
    }
    manifest_path = out / "manifest.json"
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest_path


def gamma_evis_expected(truth: DetectorTruth, n_events: int = 20_000,
                        seed: int = 99) -> dict[str, float]:
    """Mean true visible energy of each bare source at the centre [MeV] (Eq. 2.6, MC)."""
    rng = np.random.default_rng(seed)
    out: dict[str, float] = {}
    for name in GAMMA_SOURCES:
        e, idx = secondary_electrons(name, n_events, rng)
        vis = np.bincount(idx, truth.electron_visible_energy(e), minlength=n_events)
        out[name] = float(vis.mean())
    return out


def nh_centre_light_factor(truth: DetectorTruth, n_events: int = 20_000,
                           seed: int = 98) -> float:
    """Mean light / mean E_vis of n-H captures of a neutron source at the centre (MC).

    The light of an event is its E_vis^e weighted by the true g at each deposit
    (:func:`fitting.toymc.detection.summarise`); the capture gamma's Compton electrons spread
    over ~1 m around the capture point (itself displaced from the source by the neutron's
    ``neutron_capture_distance_mm``), where g exceeds g(0) = 1 by ~1e-4 (a2 (r/R)^2).  Y0 is
    defined by the mean PE of these captures (section 2.1.3), so its truth carries this factor
    (1 + 0.4e-4 ... 1.0e-4 on the variants): without it the mean-PE estimator of the light-yield
    job reads 1-1.5 standard errors high at Table 5's 100,000 neutrons.
    """
    from fitting.toymc.detection import summarise
    from fitting.toymc.gammas import simulate_source_deposits

    rng = np.random.default_rng(seed)
    sigma = truth.neutron_capture_distance_mm / (2.0 * np.sqrt(2.0 / np.pi))
    origins = sigma * rng.standard_normal((n_events, 3))
    dep = simulate_source_deposits("nH", n_events, rng, origin_mm=origins,
                                   enclosure_loss_prob=0.0)
    sums = summarise(truth, dep, np.zeros(3))
    return float(sums.light.mean() / sums.vis.mean())


def write_truth(out: Path, base: DetectorTruth, day: float, kind: str,
                run_truth: dict[str, Any], gain: np.ndarray) -> Path:
    """Write ``truth.json`` and ``truth_arrays.npz``; return the JSON path."""
    now = base.at_day(day)
    ch = lpmt_channels(now)
    r_grid = np.linspace(0.0, now.gmap.r_ls_mm, 178)
    th_grid = np.radians(np.linspace(0.0, 180.0, 37))
    g_grid = now.g(r_grid[:, None], th_grid[None, :])
    arrays_path = out / "truth_arrays.npz"
    np.savez(
        arrays_path,
        lpmt_qe_rel=ch.qe_rel.astype("<f8"), lpmt_dead=ch.dead,
        lpmt_nonlin_b=ch.nonlin_b.astype("<f8"), lpmt_nonlin_gamma=ch.nonlin_gamma.astype("<f8"),
        lpmt_gain=np.asarray(gain, dtype="<f8"), lpmt_position_mm=ch.position_mm.astype("<f8"),
        g_r_mm=r_grid, g_theta_rad=th_grid, g_values=g_grid,
    )
    t_grid = np.concatenate((np.arange(0.1, 1.0, 0.05), np.arange(1.0, 16.01, 0.25)))
    fs = now.spmt_fraction
    q0 = float(ch.collection_factor(np.zeros((1, 3)))[0])
    y0_centre = now.y0_pe_per_mev * ((1.0 - fs) * q0 + fs)  # effective Y0 at the centre
    doc: dict[str, Any] = {
        "format": "juno-conddb-truth/1",
        "kind": kind,
        "day": day,
        "constants": dataclasses.asdict(base),
        "y0_pe_per_mev_at_day": now.y0_pe_per_mev,
        "y0_centre_effective_pe_per_mev": y0_centre,
        # the paper's Y0 (section 2.1.3): mean PE of n-H captures at the centre / 2.22 MeV,
        # i.e. the effective centre Y0 times the g of the capture gammas' deposit cloud
        "y0_centre_nh_pe_per_mev": y0_centre * nh_centre_light_factor(now),
        "dark_noise_pe": {"lpmt": now.lpmt_dark_noise_pe, "spmt": now.spmt_dark_noise_pe,
                          "window_ns": now.window_ns},
        "resolution_c_expected": float(np.sqrt(now.lpmt_dark_noise_pe + now.spmt_dark_noise_pe)
                                       / now.y0_pe_per_mev),
        "nonlin_true": {"kinetic_mev": t_grid.tolist(),
                        "f_nonlin": now.nonlin_true(t_grid).tolist()},
        "cherenkov_threshold_mev": now.cherenkov_threshold_mev(),
        "gamma_sources": {k: {"e_gamma_mev": v.total_energy, "gammas_mev": list(v.gammas)}
                          for k, v in GAMMA_SOURCES.items()},
        "runs": run_truth,
        "arrays_file": {"path": arrays_path.name, "sha256": sha256_file(arrays_path),
                        "content": "lpmt_qe_rel, lpmt_dead, lpmt_nonlin_b, lpmt_nonlin_gamma, "
                                   "lpmt_gain, lpmt_position_mm, g_r_mm, g_theta_rad, g_values"},
        "lpmt_response": ("Q_k(n) = gain_k * n_s,k (1 - exp(-n / n_s,k)), n_s = lpmt_nonlin_b"
                          if now.lpmt_nonlin_form == "exp"
                          else "Q_k(n) = gain_k * n / (1 + b_k (n/100)^gamma_k)"),
    }
    if kind == "comprehensive":
        evis = gamma_evis_expected(now)
        for name, v in evis.items():
            doc["gamma_sources"][name]["evis_mean_mev"] = v
            doc["gamma_sources"][name]["evis_over_e"] = v / GAMMA_SOURCES[name].total_energy
    path = out / "truth.json"
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return path
