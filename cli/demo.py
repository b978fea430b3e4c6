"""The demo scenario (``conddb demo``): mock campaigns -> fits -> constants stored -> lookup ->
trend report.  It lives with the CLI, not in the library, because it drives the mock detector
(fitting.toymc), which production code never imports.

1. simulate one comprehensive campaign and a series of weekly campaigns with the mock detector
   (its light yield ages by -0.5 %/year and steps by -0.4 % on day 150);
2. run every campaign's fitting jobs and upload each campaign's constants in one transaction;
3. build a global tag over the tags the campaigns filled, validate it and publish it;
4. look the constants up for a run, build the reconstruction energy scale from them and check it on
   mock positrons (Eq 2.4) against their true kinetic energy;
5. track the constants across the weekly campaigns and write the HTML trend report.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine

from conditions import drift, migrate, store
from conditions.campaign import DEFAULT_TAG_PREFIX, UploadReport, upload_campaign
from conditions.db import read_session, write_session
from conditions.energy import EnergyScale
from conditions.jobs import JobSettings, run_campaign_jobs
from conditions.report import write_html_report
from conditions.resolve import Resolution, Resolver
from conditions.services import lifecycle, validation
from fitting.toymc.campaign import write_campaign
from fitting.toymc.events import positron_events
from fitting.toymc.truth import DetectorTruth

Say = Callable[[str], None]


@dataclass(frozen=True)
class DemoConfig:
    """What the demo simulates (defaults: about two minutes on two cores)."""

    out: Path
    weeks: int = 6
    first_day: float = 129.0
    comprehensive_scale: float = 0.2
    weekly_scale: float = 1.0
    seed: int = 1
    band_toys: int = 100
    global_tag: str = "JUNO-DEMO"
    #: |relative positron bias| the validation accepts (the paper: 0.2 %; + sample statistics)
    positron_tolerance: float = 0.005


@dataclass
class DemoResult:
    uploads: list[UploadReport] = field(default_factory=list)
    lookup_run: int = 0
    resolution: Resolution | None = None
    positron_bias: dict[float, float] = field(default_factory=dict)
    report_path: Path | None = None
    flags: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    validation: dict[str, Any] | None = None


def _campaigns(cfg: DemoConfig) -> list[tuple[str, int, float, float]]:
    """(kind, first run, day, scale) of the campaigns: one comprehensive, then weekly ones."""
    plan = [("comprehensive", 100, cfg.first_day - 7.0, cfg.comprehensive_scale)]
    for week in range(cfg.weeks):
        plan.append(("weekly", 1000 * (week + 1), cfg.first_day + 7.0 * week, cfg.weekly_scale))
    return plan


def simulate_and_upload(engine: Engine, cfg: DemoConfig, say: Say, result: DemoResult) -> None:
    for kind, first_run, day, scale in _campaigns(cfg):
        t0 = time.perf_counter()
        folder = cfg.out / "campaigns" / f"{kind}-run{first_run}"
        manifest = folder / "manifest.json"
        if not manifest.exists():
            say(f"simulate {kind} campaign, runs from {first_run}, day {day:g} (scale {scale:g})")
            write_campaign(kind, first_run, folder, seed=cfg.seed + first_run, day=day, scale=scale)
        say(f"fit {kind} campaign {folder.name}")
        constants = run_campaign_jobs(
            manifest, JobSettings(band_toys=cfg.band_toys), lambda step: say(f"    {step}")
        )
        with write_session(engine) as s:
            report = upload_campaign(s, constants)
        result.uploads.append(report)
        result.seconds[folder.name] = time.perf_counter() - t0
        say(
            f"  uploaded {report.payloads_added} payloads, {report.iovs_added} IOVs "
            f"({'new' if report.created else 'already stored'})"
        )


def build_global_tag(engine: Engine, cfg: DemoConfig, say: Say, result: DemoResult) -> None:
    """Map every demo tag into the global tag, validate it, publish it (issue 18 lifecycle).

    The mock's truth drifts on purpose, so its drift flags are acknowledged by the demo (the
    reviewer's step, ``conddb trend ack``) before the validation that requires it.
    """
    name = cfg.global_tag
    with write_session(engine) as s:
        tags = [t for t, _ in store.list_tags(s) if t.name.startswith(DEFAULT_TAG_PREFIX)]
        existing = {g.name: g for g in store.list_global_tags(s)}
        if name in existing:
            say(f"global tag {name} exists ({existing[name].state.value})")
            return
        store.create_global_tag(s, name, "demo: constants of the mock campaigns")
        for tag in tags:
            store.set_record(s, name, tag.name.removeprefix(DEFAULT_TAG_PREFIX), tag.name)
        lifecycle.submit(s, name)
        firsts = [store.list_iovs(s, t.name)[0].since for t in tags]
    plan = _campaigns(cfg)
    runs = (max(firsts), plan[-1][1] + 999)
    with write_session(engine) as s:
        for flag in validation.drift_flags(s, name):
            validation.acknowledge(s, name, flag, "demo", "the mock detector drifts by design")
    days = [(first, day) for _, first, day, _ in plan]

    def positrons_at(run: int) -> validation.PositronSample:
        day = max((d for first, d in days if first <= run), default=days[0][1])
        return mock_positrons(day, cfg.seed + run, 5_000)

    opts = validation.Options(
        who="demo", positrons_at=positrons_at, tolerance=cfg.positron_tolerance
    )
    say(f"validate global tag {name} over runs {runs[0]}-{runs[1]}")
    with write_session(engine) as s:
        report, state = validation.validate_and_mark(s, name, runs, opts)
        result.validation = validation.report_json(report, name)
    if not report.passed:
        say(f"global tag {name}: validation failed, left {state}")
        return
    with write_session(engine) as s:
        lifecycle.publish(s, name, "demo")
    say(f"global tag {name}: {len(tags)} records, validated (report {report.id}), published")


def mock_positrons(day: float, seed: int, n: int) -> validation.PositronSample:
    """A reference positron sample from the mock detector at ``day``, r < 15 m (1-8 MeV)."""
    truth = DetectorTruth.default().at_day(day)
    rng = np.random.default_rng(seed)
    parts: list[tuple[np.ndarray, ...]] = []
    for e_true in (1.0, 2.0, 4.0, 6.0, 8.0):
        ev = positron_events(truth, e_true, n, rng)
        x, y, z = (ev[k] / 1000.0 for k in ("x_mm", "y_mm", "z_mm"))
        inside = np.sqrt(x * x + y * y + z * z) < 15.0
        parts.append(
            (np.full(int(inside.sum()), e_true), ev["pe_total"][inside], x[inside], y[inside],
             z[inside])
        )
    e, pe, x, y, z = (np.concatenate(c) for c in zip(*parts, strict=True))
    return validation.PositronSample(e, pe, x, y, z)


def check_positrons(scale: EnergyScale, day: float, seed: int) -> dict[float, float]:
    """Relative bias of the mean reconstructed positron kinetic energy (Eq 2.4), uniform in
    r < 15 m, at a few energies [MeV] -> (mean E_rec / E_true - 1)."""
    truth = DetectorTruth.default().at_day(day)
    rng = np.random.default_rng(seed)
    bias = {}
    for e_true in (1.0, 2.0, 4.0, 6.0, 8.0):
        ev = positron_events(truth, e_true, 20_000, rng)
        x, y, z = (ev[k] / 1000.0 for k in ("x_mm", "y_mm", "z_mm"))
        inside = np.sqrt(x * x + y * y + z * z) < 15.0
        rec = scale.reconstruct(ev["pe_total"][inside], x[inside], y[inside], z[inside])
        good = np.isfinite(rec.e_rec)
        bias[e_true] = float(np.mean(rec.e_rec[good]) / e_true - 1.0)
    return bias


def run_demo(engine: Engine, cfg: DemoConfig, say: Say) -> DemoResult:
    """The whole story on one database; every step prints what it does through ``say``."""
    result = DemoResult()
    cfg.out.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(engine)
    t0 = time.perf_counter()
    simulate_and_upload(engine, cfg, say, result)
    build_global_tag(engine, cfg, say, result)
    weekly = [(first, day) for kind, first, day, _ in _campaigns(cfg) if kind == "weekly"]
    result.lookup_run, day = weekly[len(weekly) // 2][0] + 3, weekly[len(weekly) // 2][1]
    resolver = Resolver(engine)
    result.resolution = resolver.resolve(cfg.global_tag, result.lookup_run)
    # extrapolate past the payload's valid range (0.5-8 MeV): with the default (NaN outside) the
    # mean at 8 MeV would be taken over a truncated distribution and read ~1 % low
    scale = EnergyScale.from_resolved(
        result.resolution.records, resolver.payload, outside_range="extrapolate"
    )
    say(f"energy scale for run {result.lookup_run}: check on mock positrons (Eq 2.4)")
    result.positron_bias = check_positrons(scale, day, cfg.seed)
    say("trend report")
    with read_session(engine) as s:
        report = drift.track(s, drift.SeriesSource(global_tag=cfg.global_tag))
        files = write_html_report(
            report, cfg.out / "report.html", title=f"juno-conddb demo: {cfg.global_tag}"
        )
    result.report_path = files.html
    result.flags = [
        f"{t.series.key}: {flag.kind} of {100 * flag.change:+.2f} % at run "
        f"{t.series.points[flag.index].since}"
        for t, flag in report.flags()
    ]
    result.seconds["total"] = time.perf_counter() - t0
    return result


def summary(result: DemoResult) -> list[str]:
    """Lines printed at the end of the demo."""
    lines = [f"campaigns uploaded: {len(result.uploads)}"]
    if result.resolution is not None:
        lines.append(f"constants for run {result.lookup_run}:")
        for rec in sorted(result.resolution.records.values(), key=lambda r: r.record):
            until = "open" if rec.until is None else rec.until
            lines.append(
                f"  {rec.record:20} since {rec.since:>6} until {until!s:>6}  "
                f"{rec.payload_hash[:16]}"
            )
    lines.append(
        "positron energy bias (mean E_rec / E_true - 1, r < 15 m): "
        + ", ".join(f"{e:g} MeV {100 * b:+.2f} %" for e, b in result.positron_bias.items())
    )
    lines.append("drift flags: " + ("; ".join(result.flags) if result.flags else "none"))
    if result.validation is not None:
        v = result.validation
        lines.append(
            f"validation report {v['id']}: {'passed' if v['passed'] else 'FAILED'} runs "
            f"{v['runs'][0]}-{v['runs'][1]} by {v['who']} ({v['code_version']}, map "
            f"{v['map_hash'][:12]}): "
            + ", ".join(f"{c['name']} {_verdict(c['passed'])}" for c in v["checks"])
        )
    lines.append(f"trend report: {result.report_path}")
    lines.append(f"total time: {result.seconds.get('total', 0):.0f} s")
    return lines


def _verdict(passed: bool | None) -> str:
    return {True: "ok", False: "FAIL", None: "skipped"}[passed]


def as_dict(result: DemoResult) -> dict[str, Any]:
    return {
        "uploads": [dataclasses.asdict(u) for u in result.uploads],
        "lookup_run": result.lookup_run,
        "positron_bias": result.positron_bias,
        "flags": result.flags,
        "validation": result.validation,
        "report": str(result.report_path),
        "seconds": result.seconds,
    }
