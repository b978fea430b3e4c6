"""``conddb run add|processed|fcsr|sync``: the run registry, prompt processing (FCSR), tag sync."""

from __future__ import annotations

import click

from cli.context import JSON_OPTION, Context, echo_json, parse_time, pass_context


@click.group("run")
def run_group() -> None:
    """The run registry, prompt processing (FCSR) and tag synchronisation."""


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


@run_group.command("processed")
@click.argument("number", type=click.IntRange(min=0))
@pass_context
def run_processed(ctx: Context, number: int) -> None:
    """Record that prompt reconstruction used the conditions of run NUMBER (moves the FCSR)."""
    from conditions import store
    from conditions.services import audit

    with ctx.writing() as s:
        _, fcsr = store.mark_processed(s, number, audit.os_user())
        audit.record_os_user(s, action="run_processed", target=str(number), detail={"fcsr": fcsr})
    click.echo(f"run {number} processed; FCSR {fcsr} (first condition-safe run)")


@run_group.command("fcsr")
@JSON_OPTION
@pass_context
def run_fcsr(ctx: Context, as_json: bool) -> None:
    """The first condition-safe run: prompt tags accept appends from it on."""
    from conditions import store

    with ctx.reading() as s:
        fcsr, next_run = store.fcsr(s), store.next_run(s)
        newest = [(r.run, r.processed_at, r.who) for r in store.processed_runs(s, 5)]
    if as_json:
        echo_json({"fcsr": fcsr, "next_run": next_run, "processed": newest})
        return
    click.echo(f"FCSR {fcsr} (prompt tags: since >= {fcsr}); next run to be taken {next_run}")


@run_group.command("sync")
@click.argument("tag_name", metavar="TAG")
@click.argument("mode", type=click.Choice(["offline", "prompt", "express"]))
@pass_context
def run_sync(ctx: Context, tag_name: str, mode: str) -> None:
    """Set the synchronisation of TAG: offline (any since), prompt (since >= FCSR), express."""
    from conditions import store
    from conditions.services import audit
    from conditions.store import TagSync

    with ctx.writing() as s:
        store.set_tag_sync(s, tag_name, TagSync(mode))
        audit.record_os_user(s, action="tag_sync", target=tag_name, detail={"mode": mode})
    click.echo(f"tag {tag_name}: {mode}")
