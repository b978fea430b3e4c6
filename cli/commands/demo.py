"""``conddb demo``: the main job end to end on the embedded SQLite default (see cli.demo)."""

from __future__ import annotations

from pathlib import Path

import click

from cli.context import Context, echo_json, pass_context
from cli.options import JSON_OPTION, band_toys


@click.command("demo")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-out"),
    show_default=True,
    help="Folder for campaigns, database and report.",
)
@click.option(
    "--weeks",
    type=click.IntRange(min=2),
    default=6,
    show_default=True,
    help="Weekly campaigns to simulate (around the light-yield step of day 150).",
)
@click.option(
    "--scale",
    type=click.FloatRange(min=0.01),
    default=0.2,
    show_default=True,
    help="Event-count scale of the comprehensive campaign.",
)
@band_toys(100)
@JSON_OPTION
@pass_context
def demo(ctx: Context, out: Path, weeks: int, scale: float, band_toys: int, as_json: bool) -> None:
    """Simulate campaigns, fit them, store the constants, look up a run, write a trend report.

    Uses --db / CONDDB_URL if given, else OUT/conddb.sqlite.
    """
    from cli.demo import DemoConfig, as_dict, run_demo, summary
    from conditions.db import make_engine

    out.mkdir(parents=True, exist_ok=True)
    engine = make_engine(ctx.url or f"sqlite:///{out.resolve() / 'conddb.sqlite'}")
    cfg = DemoConfig(out=out, weeks=weeks, comprehensive_scale=scale, band_toys=band_toys)
    result = run_demo(engine, cfg, lambda line: click.echo(line, err=True))
    engine.dispose()
    if as_json:
        echo_json(as_dict(result))
        return
    click.echo("\n".join(summary(result)))
