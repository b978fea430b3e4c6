"""``conddb run add``: the optional run registry (start/end times and run types)."""

from __future__ import annotations

import click

from cli.context import Context, parse_time, pass_context


@click.group("run")
def run_group() -> None:
    """The run registry (optional): start/end times and run types."""


@run_group.command("add")
@click.argument("number", type=click.IntRange(min=0))
@click.option("--start", default=None, help="Start time (ISO 8601).")
@click.option("--end", default=None, help="End time (ISO 8601).")
@click.option("--type", "run_type", default="physics")
@pass_context
def run_add(ctx: Context, number: int, start: str | None, end: str | None, run_type: str) -> None:
    """Register a run."""
    from conditions import store

    with ctx.writing() as s:
        store.register_run(
            s, number, start_time=parse_time(start), end_time=parse_time(end), run_type=run_type
        )
    click.echo(f"run {number} registered")
