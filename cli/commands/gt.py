"""``conddb gt create|set|freeze|clone|show|list|diff``: global tags (record -> tag maps)."""

from __future__ import annotations

import re
from typing import Any

import click

from cli.complete import global_tag_names
from cli.context import (
    JSON_OPTION,
    Context,
    echo_json,
    echo_table,
    fmt_time,
    parse_time,
    pass_context,
)

from . import gt_remote


@click.group()
def gt() -> None:
    """Global tags: record -> tag maps used by reconstruction."""


@gt.command("create")
@click.argument("name")
@click.option("--description", default="")
@pass_context
def gt_create(ctx: Context, name: str, description: str) -> None:
    """Create an open, empty global tag."""
    from conditions import store

    with ctx.writing() as s:
        store.create_global_tag(s, name, description)
    click.echo(f"global tag {name} created (open)")


@gt.command("set")
@click.argument("name")
@click.argument("record")
@click.argument("tag_name", metavar="TAG")
@pass_context
def gt_set(ctx: Context, name: str, record: str, tag_name: str) -> None:
    """Point RECORD of global tag NAME at TAG."""
    from conditions import store

    with ctx.writing() as s:
        changed = store.set_record(s, name, record, tag_name)
    click.echo(f"{name}: {record} -> {tag_name}" + ("" if changed else " (unchanged)"))


@gt.command("freeze")
@click.argument("name")
@click.option("--snapshot", default=None, help="Resolve as of this time (default: now).")
@pass_context
def gt_freeze(ctx: Context, name: str, snapshot: str | None) -> None:
    """Freeze a global tag: immutable, and resolved as of its snapshot time forever."""
    from conditions import store

    with ctx.writing() as s:
        g = store.freeze_global_tag(s, name, snapshot_time=parse_time(snapshot))
    click.echo(f"global tag {name} frozen, snapshot {fmt_time(g.snapshot_time)}")


@gt.command("clone")
@click.argument("source")
@click.argument("destination")
@click.option("--description", default="")
@pass_context
def gt_clone(ctx: Context, source: str, destination: str, description: str) -> None:
    """Create DESTINATION (open) with the map of SOURCE."""
    from conditions import store

    with ctx.writing() as s:
        store.clone_global_tag(s, source, destination, description)
    click.echo(f"global tag {destination} created from {source} (open)")


@gt.command("show")
@click.argument("name", shell_complete=global_tag_names)
@click.option("--at", "at", default=None, help="The map as it was at this time.")
@JSON_OPTION
@pass_context
def gt_show(ctx: Context, name: str, at: str | None, as_json: bool) -> None:
    """Show a global tag and its record -> tag map."""
    if ctx.is_remote():  # --db https://host (cli17)
        return gt_remote.show(ctx, name, at, as_json)
    from conditions import store

    with ctx.reading() as s:
        g = store.get_global_tag(s, name)
        mapping = store.global_tag_map(s, g, as_of=parse_time(at))
        rows = [(r, t.name, t.type_name, t.state.value) for r, t in sorted(mapping.items())]
        info: dict[str, Any] = {
            "name": g.name,
            "state": g.state,
            "snapshot_time": g.snapshot_time,
            "description": g.description,
            "created_at": g.created_at,
            "frozen_at": g.frozen_at,
        }
    if as_json:
        info["records"] = {r: {"tag": t, "type": ty, "tag_state": st} for r, t, ty, st in rows}
        echo_json(info)
        return
    snap = f", snapshot {fmt_time(g.snapshot_time)}" if g.snapshot_time else ""
    click.echo(f"global tag {g.name}: {g.state.value}{snap}")
    if g.description:
        click.echo(f"  {g.description}")
    echo_table(["record", "tag", "type", "tag state"], rows)


@gt.command("list")
@JSON_OPTION
@pass_context
def gt_list(ctx: Context, as_json: bool) -> None:
    """List global tags."""
    from conditions import store

    if ctx.is_remote():  # --db https://host (cli17)
        rows = gt_remote.list_rows(ctx)
    else:
        with ctx.reading() as s:
            gts = store.list_global_tags(s)
            rows = [(g.name, g.state.value, fmt_time(g.snapshot_time), g.description) for g in gts]
    if as_json:
        echo_json(
            [
                {"name": n, "state": st, "snapshot_time": sn, "description": d}
                for n, st, sn, d in rows
            ]
        )
    else:
        echo_table(["global tag", "state", "snapshot", "description"], rows)


# --- diff (conditions.drift) ---------------------------------------------------------------------
_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d*)\s*$")


def parse_runs(run: int | None, runs: str | None) -> int | tuple[int, int | None] | None:
    """``--run N`` or ``--runs FIRST-LAST`` / ``FIRST-`` (open-ended) -> the diff's run span."""
    if run is not None and runs is not None:
        raise click.UsageError("give --run or --runs, not both")
    if runs is None:
        return run
    match = _RANGE.match(runs)
    if match is None:
        from conditions.errors import InvalidInput

        raise InvalidInput(f"invalid run range {runs!r}", "write FIRST-LAST or FIRST- (open)")
    first, last = match.groups()
    return int(first), int(last) if last else None


@gt.command("diff")
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
    from conditions import drift
    from conditions.report import fmt_change, fmt_value, gt_diff_dict

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


from .gt_download import gt_download  # noqa: E402

gt.add_command(gt_download)
