"""``conddb trend``: drift of the tracked calibration scalars across runs, trend reports;
``conddb trend flags GT`` / ``trend ack GT FLAG``: the drift flags a validation needs reviewed
(also ``conddb gt flags`` / ``gt ack``: the same commands).

A thin command over :mod:`conditions.drift` (series, flags) and :mod:`conditions.report` (JSON,
HTML, PNG); ``conddb gt diff`` lives with the other global-tag commands (:mod:`.gt`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from cli.context import JSON_OPTION, Context, echo_json, echo_table, parse_time, pass_context
from cli.progress import Progress

if TYPE_CHECKING:
    from conditions.drift import TrackReport

#: Defaults of conditions.drift (DEFAULT_N_SIGMA, DEFAULT_OUTLIER_SIGMA), repeated here so that
#: ``conddb trend --help`` does not import the analysis; tests/integration/test_trend_cli.py
#: checks that they agree.
DEFAULT_N_SIGMA = 4.0
DEFAULT_OUTLIER_SIGMA = 5.0


@click.group("trend", invoke_without_command=True)
@click.option("--tag", "tag_name", default=None, help="Track the IOVs of this tag.")
@click.option("--gt", "gt_name", default=None, help="Track the records of this global tag.")
@click.option("--record", default=None, help="Only this record of the global tag.")
@click.option(
    "--quantity",
    "quantities",
    multiple=True,
    metavar="Q",
    help="Tracked quantity (repeatable; default: all of the payload types), e.g. Y0, p0, a.",
)
@click.option(
    "--threshold",
    "thresholds",
    multiple=True,
    metavar="Q=STEP[:DRIFT]",
    help="Override thresholds (repeatable), e.g. Y0=0.5% or Y0=0.3%:1% or p3=0.002 or "
    "Y0=off:1%; % divides by 100, plain numbers are fractions (relative quantities) or in the "
    "quantity's unit, off disables.",
)
@click.option(
    "--n-sigma",
    type=click.FloatRange(min=0),
    default=DEFAULT_N_SIGMA,
    show_default=True,
    help="Significance a flagged change must also have (when the points carry errors).",
)
@click.option(
    "--reference-run",
    type=click.IntRange(min=0),
    default=None,
    help="Reference = the IOV covering this run (default: the first IOV).",
)
@click.option(
    "--outlier-sigma",
    type=click.FloatRange(min=0),
    default=DEFAULT_OUTLIER_SIGMA,
    show_default=True,
    help="LPMT channel outlier cut in robust sigma of the channel population.",
)
@click.option(
    "--drift-method",
    type=click.Choice(["fit", "points"]),
    default="fit",
    show_default=True,
    help="Accumulated drift from a straight-line fit since the reference (steps as offsets) or "
    "from the difference of the two points.",
)
@click.option("--at", "at", default=None, help="Replay the database as it was at this time.")
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write an HTML report here (plots in <name>_files/ next to it).",
)
@click.option(
    "--browser-url",
    default="http://127.0.0.1:8080",
    show_default=True,
    help="Base URL of the conditions browser (`conddb serve`) the --html report links to.",
)
@JSON_OPTION
@pass_context
def trend(
    ctx: Context,
    tag_name: str | None,
    gt_name: str | None,
    record: str | None,
    quantities: tuple[str, ...],
    thresholds: tuple[str, ...],
    n_sigma: float,
    reference_run: int | None,
    outlier_sigma: float,
    drift_method: str,
    at: str | None,
    html_path: Path | None,
    browser_url: str,
    as_json: bool,
) -> None:
    """Series of tracked calibration scalars across runs, with flagged steps and slow drifts.

    Prints the latest value of every tracked quantity and the flagged drifts; --html writes a
    report with plots and the provenance of every point.
    """
    if click.get_current_context().invoked_subcommand is not None:
        return  # `conddb trend ack|flags ...`
    from conditions import drift
    from conditions.report import report_dict, write_html_report

    if (tag_name is None) == (gt_name is None):
        raise click.UsageError("give exactly one of --tag and --gt")
    if record is not None and gt_name is None:
        raise click.UsageError("--record needs --gt")
    source = drift.SeriesSource(tag=tag_name, global_tag=gt_name, record=record)
    config = drift.DriftConfig(
        thresholds=drift.override_thresholds(thresholds),
        n_sigma=n_sigma,
        outlier_sigma=outlier_sigma,
        reference_run=reference_run,
        method=drift_method,  # type: ignore[arg-type]  # one of click.Choice(DriftMethod)
    )
    as_of = parse_time(at)
    progress = Progress()
    with ctx.reading() as s:
        planned = drift.plan(s, source, quantities, as_of=as_of)
        total = sum(len(rec.iovs) for rec, _ in planned)
        with progress.bar(total, "reading payloads", min_length=2) as bar:
            report = drift.track(
                s, source, quantities, config, as_of=as_of, progress=bar.advance, planned=planned
            )
    files = None
    if html_path is not None:
        with progress.bar(len(report.trends), "plotting", min_length=2) as bar:
            files = write_html_report(
                report, html_path, browser_url=browser_url, progress=bar.advance
            )
    if as_json:
        doc = report_dict(report)
        if files is not None:
            doc["html"] = str(files.html)
            doc["plots"] = [str(p) for p in files.plots]
        echo_json(doc)
        return
    _print_report(report)
    if files is not None:
        click.echo(f"report written to {files.html} ({len(files.plots)} plots)")


# --- drift flags of a global tag: reviewed before validation (issue 18) ----------------------
@trend.command("flags")
@click.argument("name")
@JSON_OPTION
@pass_context
def trend_flags(ctx: Context, name: str, as_json: bool) -> None:
    """Drift flags of a global tag and whether each was acknowledged (validation needs all)."""
    from conditions.services import validation

    with ctx.reading() as s:
        flags = validation.drift_flags(s, name)
        acked = validation.acknowledged(s, name)
    if as_json:
        echo_json([{"flag": f, "acknowledged": f in acked} for f in flags])
        return
    echo_table(["drift flag", "acknowledged"], [(f, "yes" if f in acked else "no") for f in flags])


@trend.command("ack")
@click.argument("name")
@click.argument("flag")
@click.option("--note", default="", help="Why the flag is fine.")
@pass_context
def trend_ack(ctx: Context, name: str, flag: str, note: str) -> None:
    """Acknowledge drift FLAG of global tag NAME (see `conddb trend flags NAME`)."""
    from conditions.services import audit, validation

    with ctx.writing() as s:
        new = validation.acknowledge(s, name, flag, audit.os_user(), note)
        audit.record_os_user(s, action="drift_ack", target=name, detail={"flag": flag})
    click.echo(f"{name}: {flag} acknowledged" + ("" if new else " (already)"))


def _print_report(report: TrackReport) -> None:
    from conditions.report import fmt_change, fmt_threshold, fmt_value

    n_iovs = max((len(t.series.points) for t in report.trends), default=0)
    click.echo(f"{report.source.describe()}: {len(report.trends)} series, up to {n_iovs} IOVs")
    rows = []
    for t in report.trends:
        p, q, an = t.latest, t.series.quantity, t.analysis
        if p is None:
            continue
        last = len(t.series.points) - 1
        rows.append(
            (
                t.series.key,
                p.since,
                fmt_value(p.value),
                fmt_value(p.error, 3),
                q.unit,
                fmt_change(an.change[last], q.relative, q.unit),
                fmt_change(an.to_reference[last], q.relative, q.unit),
                len(an.flags),
            )
        )
    echo_table(
        ["series", "since", "value", "error", "unit", "vs previous", "vs reference", "flags"],
        rows,
    )
    flags = report.flags()
    click.echo("")
    if not flags:
        click.echo("no drift flagged")
    else:
        click.echo(f"{len(flags)} flagged:")
        echo_table(
            ["series", "kind", "since", "change", "threshold", "sigma", "reference since"],
            [
                (
                    t.series.key,
                    f.kind,
                    t.series.points[f.index].since,
                    fmt_change(f.change, t.series.quantity.relative, t.series.quantity.unit),
                    fmt_threshold(f.threshold, t.series.quantity.relative, t.series.quantity.unit),
                    "-" if f.significance is None else f"{f.significance:.1f}",
                    t.series.points[f.reference].since,
                )
                for t, f in flags
            ],
        )
    with_outliers = [o for o in report.outliers if o.outliers.channel_ids or o.outliers.newly_bad]
    if with_outliers:
        click.echo("")
        click.echo("LPMT channel changes:")
        echo_table(
            ["record", "since", "outliers", "channels", "newly bad"],
            [
                (
                    o.record or o.tag,
                    o.since,
                    len(o.outliers.channel_ids),
                    _ids(o.outliers.channel_ids),
                    _ids(o.outliers.newly_bad),
                )
                for o in with_outliers
            ],
        )


def _ids(ids: tuple[int, ...], shown: int = 10) -> str:
    if not ids:
        return "-"
    more = f",... ({len(ids)})" if len(ids) > shown else ""
    return ",".join(str(i) for i in ids[:shown]) + more
