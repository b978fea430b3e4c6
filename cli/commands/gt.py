"""``conddb gt create|set|clone|show|list|diff`` and the lifecycle (``submit|reopen|validate|
reports|approve|publish|invalidate|coverage``; ``freeze`` = ``publish``): global tags (record -> tag
maps)."""

from __future__ import annotations

import re
from typing import Any

import click

from cli.context import (
    JSON_OPTION,
    Context,
    echo_json,
    echo_table,
    fmt_time,
    parse_time,
    pass_context,
)
from cli.options import DESCRIPTION, as_of, global_tag_argument

from . import gt_remote


@click.group()
def gt() -> None:
    """Global tags: record -> tag maps used by reconstruction."""


@gt.command("create")
@click.argument("name")
@DESCRIPTION
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


@gt.command("clone")
@click.argument("source")
@click.argument("destination")
@DESCRIPTION
@pass_context
def gt_clone(ctx: Context, source: str, destination: str, description: str) -> None:
    """Create DESTINATION (open) with the map of SOURCE."""
    from conditions import store

    with ctx.writing() as s:
        store.clone_global_tag(s, source, destination, description)
    click.echo(f"global tag {destination} created from {source} (open)")


@gt.command("show")
@global_tag_argument()
@as_of("The map as it was")
@JSON_OPTION
@pass_context
def gt_show(ctx: Context, name: str, at: str | None, as_json: bool) -> None:
    """Show a global tag and its record -> tag map."""
    if ctx.is_remote():  # --db https://host (cli17)
        return gt_remote.show(ctx, name, at, as_json)
    from conditions import store
    from conditions.service.serializers import global_tag_json, gt_records_json

    with ctx.reading() as s:
        g = store.get_global_tag(s, name)
        mapping = store.global_tag_map(s, g, as_of=parse_time(at))
        rows = [(r, t.name, t.type_name, t.state.value) for r, t in sorted(mapping.items())]
        info: dict[str, Any] = {**global_tag_json(g), "records": gt_records_json(mapping)}
    if as_json:  # the read API's shape: GET /v1/globaltags/{name}
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
    from conditions.service.serializers import global_tag_json

    if ctx.is_remote():  # --db https://host (cli17): the read API's shape already
        docs = ctx.remote().global_tags()
    else:
        with ctx.reading() as s:
            docs = [global_tag_json(g) for g in store.list_global_tags(s)]
    if as_json:  # the read API's shape: GET /v1/globaltags
        echo_json(docs)
    else:
        echo_table(
            ["global tag", "state", "snapshot", "description"],
            [(d["name"], d["state"], d["snapshot_time"] or "-", d["description"]) for d in docs],
        )


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


# --- lifecycle (issue 18: conditions.services.lifecycle / validation) ----------------------------
def _transition(ctx: Context, action: str, name: str, **detail: Any) -> str:
    """Run one lifecycle use case and its audit row in one transaction; the new state."""
    from conditions.services import audit, lifecycle

    who = audit.os_user()
    with ctx.writing() as s:
        if action == "submit":
            g = lifecycle.submit(s, name)
        elif action == "reopen":
            g = lifecycle.reopen(s, name)
        elif action == "publish":
            g = lifecycle.publish(
                s, name, who, approvals_required=lifecycle.approvals_required(),
                snapshot_time=detail.get("snapshot_time"),
            )
        else:
            g = lifecycle.invalidate(s, name, detail["reason"], detail.get("replaced_by"))
        state = g.state.value
        audit.record_os_user(
            s, action=f"gt_{action}", target=name, detail={"state": state, **detail}
        )
    return state


@gt.command("submit")
@click.argument("name")
@pass_context
def gt_submit(ctx: Context, name: str) -> None:
    """open -> testing: hand the global tag over for validation (its map stays editable)."""
    click.echo(f"global tag {name}: {_transition(ctx, 'submit', name)}")


@gt.command("reopen")
@click.argument("name")
@pass_context
def gt_reopen(ctx: Context, name: str) -> None:
    """testing | validated -> open."""
    click.echo(f"global tag {name}: {_transition(ctx, 'reopen', name)}")


@gt.command("validate")
@click.argument("name")
@click.option("--runs", "runs_text", required=True, metavar="A-B", help="Run range to check.")
@click.option("--reference", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Positron reference sample (.npz: e_true, pe_total, x_m, y_m, z_m).")
@click.option("--tolerance", type=click.FloatRange(min=0), default=None,
              help="Largest |relative positron bias| (default 0.005).")
@click.option("--samples", type=click.IntRange(min=1), default=5,
              help="Sample runs across the range for the energy-scale checks.")
@JSON_OPTION
@pass_context
def gt_validate(
    ctx: Context, name: str, runs_text: str, reference: str | None, tolerance: float | None,
    samples: int, as_json: bool,
) -> None:
    """Run the checks over runs A-B, store the report; a pass moves the tag to validated."""
    from conditions.services import audit, lifecycle, validation

    opts = validation.Options(who=audit.os_user(), sample_runs=samples)
    if reference is not None:
        opts.positrons = validation.PositronSample.load(reference)
    if tolerance is not None:
        opts.tolerance = tolerance
    doc, state = validate_and_mark(ctx, name, lifecycle.parse_runs(runs_text), opts)
    if as_json:
        echo_json({**doc, "state": state})
        return
    echo_report(doc)
    click.echo(f"global tag {name}: {state}")
    if not doc["passed"]:
        raise SystemExit(1)  # the report is stored; the failing checks are listed above


def validate_and_mark(ctx: Context, name: str, runs: tuple[int, int], opts: Any) -> tuple[
    dict[str, Any], str
]:
    """Store a validation report and, when it passes, mark validated (one transaction)."""
    from conditions.services import audit, validation

    with ctx.writing() as s:
        report, state = validation.validate_and_mark(s, name, runs, opts)
        doc = validation.report_json(report, name)
        audit.record_os_user(
            s, action="gt_validate", target=name,
            detail={"report": report.id, "passed": report.passed, "runs": list(runs),
                    "state": state},
        )
    return doc, state


def echo_report(doc: dict[str, Any]) -> None:
    """A validation report as text: one line per check."""
    verdict = "PASSED" if doc["passed"] else "FAILED"
    click.echo(
        f"validation report {doc['id']} of {doc['global_tag']} runs {doc['runs'][0]}-"
        f"{doc['runs'][1]}: {verdict} (by {doc['who']}, {doc['created_at']}, "
        f"{doc['code_version']}, map {doc['map_hash'][:12]})"
    )
    for c in doc["checks"]:
        mark = {True: "ok  ", False: "FAIL", None: "skip"}[c["passed"]]
        detail = c["detail"]
        why = detail.get("failures") or detail.get("gaps") or detail.get("unacknowledged") or (
            detail.get("skipped") or detail.get("error") or ""
        )
        click.echo(f"  {mark} {c['name']}" + (f": {why}" if why else ""))


@gt.command("reports")
@click.argument("name")
@JSON_OPTION
@pass_context
def gt_reports(ctx: Context, name: str, as_json: bool) -> None:
    """The stored validation reports of a global tag, newest first."""
    from conditions import store
    from conditions.services import validation

    with ctx.reading() as s:
        g = store.get_global_tag(s, name)
        docs = [validation.report_json(r, name) for r in store.validation_reports(s, g)]
        current = store.map_hash(s, g)
    if as_json:
        echo_json([{**d, "current_map": d["map_hash"] == current} for d in docs])
        return
    if not docs:
        click.echo(f"global tag {name}: no validation report")
    for d in docs:
        echo_report(d)
        if d["map_hash"] != current:
            click.echo("  (of an earlier map)")


@gt.command("approve")
@click.argument("name")
@pass_context
def gt_approve(ctx: Context, name: str) -> None:
    """Approve the publication of a validated global tag (a second person)."""
    from conditions.services import audit, lifecycle

    who = audit.os_user()
    with ctx.writing() as s:
        lifecycle.approve(s, name, who)
        audit.record_os_user(s, action="gt_approve", target=name)
    click.echo(f"global tag {name}: approved by {who}")


@gt.command("publish")
@click.argument("name")
@click.option("--snapshot", default=None, help="Resolve as of this time (default: now).")
@pass_context
def gt_publish(ctx: Context, name: str, snapshot: str | None) -> None:
    """validated -> published: immutable, cached forever (needs approvals when configured).

    `freeze` is the same command under its former name."""
    state = _transition(ctx, "publish", name, snapshot_time=parse_time(snapshot))
    click.echo(f"global tag {name}: {state}")


#: ``gt freeze`` is ``gt publish`` under its former word: the same command, the same gates.
gt.add_command(gt_publish, name="freeze")


@gt.command("invalidate")
@click.argument("name")
@click.option("--reason", required=True, help="Why it must no longer be used.")
@click.option("--replaced-by", default=None, help="The global tag to use instead.")
@pass_context
def gt_invalidate(ctx: Context, name: str, reason: str, replaced_by: str | None) -> None:
    """published -> invalid: still resolvable, every answer marked deprecated."""
    state = _transition(ctx, "invalidate", name, reason=reason, replaced_by=replaced_by)
    click.echo(f"global tag {name}: {state}")


@gt.command("coverage")
@click.argument("name")
@click.option("--runs", "runs_text", required=True, metavar="A-B", help="Run range.")
@JSON_OPTION
@pass_context
def gt_coverage(ctx: Context, name: str, runs_text: str, as_json: bool) -> None:
    """Covered run stretches and gaps per record over runs A-B."""
    from conditions.services import lifecycle

    runs = lifecycle.parse_runs(runs_text)
    with ctx.reading() as s:
        found = lifecycle.coverage(s, name, runs)
    if as_json:
        echo_json(
            [
                {"record": c.record, "tag": c.tag, "covered": c.covered, "gaps": c.gaps}
                for c in found
            ]
        )
        return
    stretch = ", ".join
    echo_table(
        ["record", "tag", "covered", "gaps"],
        [
            (
                c.record, c.tag,
                stretch(f"{a}-{b}" for a, b in c.covered) or "-",
                stretch(f"{a}-{b}" for a, b in c.gaps) or "-",
            )
            for c in found
        ],
    )


from .gt_download import gt_download  # noqa: E402
from .trend import trend_ack, trend_flags  # noqa: E402

gt.add_command(gt_download)
#: the drift flags of a validation: ``conddb trend flags|ack`` (the issue's name), here too
gt.add_command(trend_flags, name="flags")
gt.add_command(trend_ack, name="ack")
