"""``conddb gt download GT --runs A-B --out snapshot.sqlite``: an offline SQLite snapshot."""

from __future__ import annotations

import re
from pathlib import Path

import click

from cli.complete import global_tag_names
from cli.context import Context, pass_context


def _run_range(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", value) or re.fullmatch(r"\s*(\d+)\s*", value)
    if match is None:
        raise click.BadParameter(f"{value!r} is not a run range - write FIRST-LAST, e.g. 1000-1999")
    first = int(match.group(1))
    return first, int(match.group(match.lastindex or 1))


@click.command("download")
@click.argument("global_tag", metavar="GT", shell_complete=global_tag_names)
@click.option(
    "--runs", required=True, callback=_run_range, metavar="FIRST-LAST", help="Runs the job needs."
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="SQLite file to write (read it back with --db sqlite:///FILE).",
)
@click.option("--force", is_flag=True, help="Replace an existing --out file.")
@pass_context
def gt_download(
    ctx: Context, global_tag: str, runs: tuple[int, int], out: Path, force: bool
) -> None:
    """Write GT to a self-contained, migrated SQLite file for offline jobs.

    The snapshot keeps the global tag's map, its tags' IOVs (insertion times, superseded rows,
    snapshot time) and their payloads, so `conddb --db sqlite:///FILE get --gt GT --run N`
    answers as the source does. The first and last run of --runs must be covered (checked
    before anything is written, and again in the new file); the file appears only when complete.
    """
    from conditions.services.snapshot import download

    report = download(ctx.engine(), global_tag, runs[0], runs[1], out, force=force)
    click.echo(
        f"{report.global_tag} (runs {report.first_run}-{report.last_run}; records "
        f"{', '.join(report.records)}) written to {report.path}: "
        + ", ".join(f"{n} {table}" for table, n in report.rows.items() if n)
    )
