"""``conddb gt show`` against a remote service (``--db https://host``): the same output as
on a database, from the read API through :class:`conditions.service.remote.RemoteSource`."""

from __future__ import annotations

import click

from cli.context import Context, echo_json, echo_table, parse_time


def show(ctx: Context, name: str, at: str | None, as_json: bool) -> None:
    """``gt show NAME`` from the service."""
    info = ctx.remote().global_tag(name, as_of=parse_time(at))
    if as_json:
        echo_json(info)
        return
    snap = f", snapshot {info['snapshot_time']}" if info["snapshot_time"] else ""
    click.echo(f"global tag {info['name']}: {info['state']}{snap}")
    if info["description"]:
        click.echo(f"  {info['description']}")
    echo_table(
        ["record", "tag", "type", "tag state"],
        [(r, x["tag"], x["type"], x["tag_state"]) for r, x in sorted(info["records"].items())],
    )

