"""``conddb simulate campaign``: mock calibration campaigns with known truth (fitting.toymc).

One of the two commands allowed to import the mock detector (the other is ``conddb demo``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from cli.lazy import LazyChoice
from cli.progress import Progress


def _kinds() -> tuple[str, ...]:
    from fitting.toymc.campaign import KINDS

    return KINDS


def _variants() -> tuple[str, ...]:
    from fitting.toymc.variants import VARIANTS

    return VARIANTS


@click.group(name="simulate")
def simulate() -> None:
    """Generate mock JUNO calibration data (mock detector with known truth)."""


@simulate.command(name="campaign")
@click.option("--kind", type=LazyChoice(_kinds), required=True,
              help="Calibration program: Table 5 (comprehensive), 6 (weekly) or 7 (monthly).")
@click.option("--run", "first_run", type=click.IntRange(min=1), required=True,
              help="First run number; runs are numbered consecutively from it.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="Output directory (created; manifest.json goes there).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Random seed; the same seed gives the same files.")
@click.option("--day", type=click.FloatRange(min=0.0), default=0.0, show_default=True,
              help="Days since detector start: applies the Y0 and gain drifts.")
@click.option("--scale", type=click.FloatRange(min=1e-6, max=10.0), default=1.0,
              show_default=True, help="Multiply every event count (e.g. 0.01 for a quick look).")
@click.option("--flashes", type=click.IntRange(min=2), default=None,
              help="Laser flashes stored per intensity step [default: the program's nominal "
                   "count x --scale: 100,000 comprehensive, 6,000 weekly/monthly].")
@click.option("--realistic", is_flag=True,
              help="Section 3.8 detector: 1% dead LPMTs, 30% SPE resolution, shadowing, "
                   "enclosure energy loss.")
@click.option("--extreme-nonlin", is_flag=True,
              help="LPMT channel non-linearity up to 50% at 100 PE (section 2.2 extreme case).")
@click.option("--truth", "truth_name", type=LazyChoice(_variants), default="nominal",
              show_default=True,
              help="Truth variant of the mock detector (fitting.toymc.variants): every knob "
                   "differs between variants.")
@click.option("--dry-run", is_flag=True, help="Print the plan (runs, minutes) and write nothing.")
def campaign(kind: str, first_run: int, out_dir: Path, seed: int, day: float, scale: float,
             flashes: int | None, realistic: bool, extreme_nonlin: bool, truth_name: str,
             dry_run: bool) -> None:
    """Write a calibration campaign: manifest.json, run files and the truth file."""
    from fitting.toymc.campaign import plan_campaign, write_campaign
    from fitting.toymc.truth import DetectorTruth
    from fitting.toymc.variants import truth_variant

    if not dry_run and (out_dir / "manifest.json").exists():
        raise click.ClickException(
            f"{out_dir} already holds a campaign - choose another --out or delete it first"
        )
    if truth_name != "nominal" and realistic:
        raise click.ClickException("--realistic applies to the nominal truth only - "
                                   "drop it or use --truth nominal")
    base = truth_variant(truth_name)
    plan = plan_campaign(kind, first_run, scale, base.laser_scan_pe)
    totals = plan.totals()
    click.echo(
        f"{kind}: runs {plan.runs[0].run}-{plan.runs[-1].run} ({len(plan.runs)} runs), "
        f"travel {totals['travel']:.0f} min + data {totals['data']:.0f} min "
        f"= {totals['total']:.0f} min"
    )
    if dry_run:
        for rp in plan.runs:
            x, y, z = rp.position_mm
            click.echo(f"  run {rp.run} {rp.system:7s} {rp.source:7s} "
                       f"({x:8.0f}, {y:4.0f}, {z:8.0f}) mm  n={rp.n_decays}")
        return
    truth = DetectorTruth.realistic() if realistic else base
    if extreme_nonlin:
        truth = dataclasses.replace(truth, lpmt_nonlin_max=0.5)
    with Progress().bar(len(plan.runs), "simulating") as bar:
        manifest = write_campaign(kind, first_run, out_dir, seed=seed, day=day, truth=truth,
                                  scale=scale, n_flashes=flashes, progress=bar.at)
    click.echo(f"wrote {manifest}")
