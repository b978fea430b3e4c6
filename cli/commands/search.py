"""``conddb search TEXT``: global tags, tags, payload types and campaigns by name, payloads by
hash prefix."""

from __future__ import annotations

import click

from cli.context import JSON_OPTION, Context, echo_json, echo_table, pass_context


@click.command("search")
@click.argument("text")
@click.option(
    "--limit", type=click.IntRange(min=1), default=50, help="At most this many hits per kind."
)
@JSON_OPTION
@pass_context
def search(ctx: Context, text: str, limit: int, as_json: bool) -> None:
    """Find global tags, tags, payload types and campaigns whose name contains TEXT
    (case-insensitive), and payloads whose hash starts with TEXT (>= 4 hex digits)."""
    from conditions.store.search import KINDS
    from conditions.store.search import search as find

    with ctx.reading() as s:
        hits = find(s, text, limit, kinds=KINDS)
    if as_json:
        echo_json([{"kind": h.kind, "name": h.name, "detail": h.detail} for h in hits])
        return
    echo_table(["kind", "name", "detail"], [(h.kind, h.name, h.detail) for h in hits])
