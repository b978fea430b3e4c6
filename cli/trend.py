"""``conddb trend`` and ``conddb gt diff``: drift across runs, trend reports, global-tag diffs.

Thin commands over :mod:`conditions.drift` (series, flags, diffs) and :mod:`conditions.report`
(JSON, HTML, PNG).  The lead registers :data:`trend` as ``conddb trend`` and :data:`gt_diff` in
the ``gt`` group as ``conddb gt diff``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from conditions import drift
from conditions.errors import InvalidInput
from conditions.report import (
    fmt_change,
    fmt_threshold,
    fmt_value,
    gt_diff_dict,
    report_dict,
    write_html_report,
)

from .context import Context, echo_json, echo_table, parse_time, pass_context

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@contextmanager
def _progress(length: int, label: str, show: bool) -> Iterator[Callable[[int], None] | None]:
    """A click progress bar on stderr (stdout stays clean for --json); None when hidden."""
    if not show or length == 0:
        yield None
        return
    with click.progressbar(length=length, label=label, file=sys.stderr) as bar:
        yield bar.update


@click.command("trend")
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
    default=drift.DEFAULT_N_SIGMA,
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
    default=drift.DEFAULT_OUTLIER_SIGMA,
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
    drift_method: drift.DriftMethod,
    at: str | None,
    html_path: Path | None,
    as_json: bool,
) -> None:
    """Series of tracked calibration scalars across runs, with flagged steps and slow drifts.

    Prints the latest value of every tracked quantity and the flagged drifts; --html writes a
    report with plots and the provenance of every point.
    """
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
        method=drift_method,
    )
    as_of = parse_time(at)
    with ctx.reading() as s:
        planned = drift.plan(s, source, quantities, as_of=as_of)
        total = sum(len(rec.iovs) for rec, _ in planned)
        with _progress(total, "reading payloads", show=total > 1) as bar:
            report = drift.track(
                s, source, quantities, config, as_of=as_of, progress=bar, planned=planned
            )
    files = None
    if html_path is not None:
        with _progress(len(report.trends), "plotting", show=len(report.trends) > 1) as bar:
            files = write_html_report(report, html_path, progress=bar)
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


def _print_report(report: drift.TrackReport) -> None:
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


_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d*)\s*$")


def parse_runs(run: int | None, runs: str | None) -> int | tuple[int, int | None] | None:
    """``--run N`` or ``--runs FIRST-LAST`` / ``FIRST-`` (open-ended) -> the diff's run span."""
    if run is not None and runs is not None:
        raise click.UsageError("give --run or --runs, not both")
    if runs is None:
        return run
    match = _RANGE.match(runs)
    if match is None:
        raise InvalidInput(f"invalid run range {runs!r}", "write FIRST-LAST or FIRST- (open)")
    first, last = match.groups()
    return int(first), int(last) if last else None


@click.command("diff")
@click.argument("a")
@click.argument("b")
@click.option("--run", type=click.IntRange(min=0), default=None, help="Compare at this run only.")
@click.option("--runs", default=None, metavar="FIRST-LAST", help="Compare over a run range.")
@click.option("--no-scalars", is_flag=True, help="Do not decode payloads to compare scalars.")
@click.option("--all", "show_all", is_flag=True, help="Also list unchanged records.")
@JSON_OPTION
@pass_context
def gt_diff(
    ctx: Context,
    a: str,
    b: str,
    run: int | None,
    runs: str | None,
    no_scalars: bool,
    show_all: bool,
    as_json: bool,
) -> None:
    """Which records changed between global tags A and B, and by how much."""
    span = parse_runs(run, runs)
    with ctx.reading() as s:
        diff = drift.gt_diff(s, a, b, runs=span, scalars=not no_scalars)
    if as_json:
        echo_json(gt_diff_dict(diff))
        return
    shown = diff.records if show_all else tuple(diff.changed())
    where = "" if diff.runs is None else f" over runs {_span_text(diff.runs[0], diff.runs[1])}"
    click.echo(f"{a} -> {b}{where}: {len(diff.changed())} of {len(diff.records)} records differ")
    echo_table(
        ["record", "status", f"tag in {a}", f"tag in {b}", "run ranges differing"],
        [
            (r.record, r.status, r.tag_a or "-", r.tag_b or "-", len(r.segments))
            for r in shown
        ],
    )
    lines: list[tuple[Any, ...]] = []
    for r in diff.records:
        for seg in r.segments:
            lines.append(
                (
                    r.record,
                    _span_text(seg.first, seg.last),
                    (seg.hash_a or "-")[:12],
                    (seg.hash_b or "-")[:12],
                    "; ".join(
                        f"{c.quantity} {fmt_value(c.value_a)} -> {fmt_value(c.value_b)} "
                        f"({fmt_change(c.change, c.relative)})"
                        for c in seg.scalars
                        if c.value_a != c.value_b
                    )
                    or "-",
                )
            )
    if lines:
        click.echo("")
        echo_table(["record", "runs", f"payload {a}", f"payload {b}", "tracked scalars"], lines)


def _span_text(first: int, last: int | None) -> str:
    if last == first:
        return str(first)
    return f"{first}-" + ("" if last is None else str(last))
