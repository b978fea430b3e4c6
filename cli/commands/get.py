"""``conddb get``: the constants of one run, per record the payload in force and its IOV."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import click

from cli.complete import global_tag_names
from cli.context import JSON_OPTION, Context, echo_json, echo_table, parse_time, pass_context

if TYPE_CHECKING:
    from conditions.iov import Resolution


@click.command("get")
@click.option("--gt", "gt_name", required=True, help="Global tag.", shell_complete=global_tag_names)
@click.option("--run", "run", type=click.IntRange(min=0), default=None, help="Run number.")
@click.option("--time", "when", default=None, help="Look the run up by time in the run registry.")
@click.option("--record", default=None, help="Only this record.")
@click.option("--at", "at", default=None, help="Replay the lookup as it was at this time.")
@click.option("--content", is_flag=True, help="Include the payload content (with --json).")
@JSON_OPTION
@pass_context
def get(
    ctx: Context,
    gt_name: str,
    run: int | None,
    when: str | None,
    record: str | None,
    at: str | None,
    content: bool,
    as_json: bool,
) -> None:
    """Look up the constants of a run: per record the payload in force and its IOV."""
    if (run is None) == (when is None):
        raise click.UsageError("give exactly one of --run and --time")
    result: Resolution | None = None
    contents: dict[str, Any] = {}
    if run is not None and at is None and not content and not ctx.is_remote():
        # the plain lookup: the reader's statement without importing SQLAlchemy (start-up is
        # the whole cost of this command); None for anything else, which takes the path below
        from conditions.db.plain import resolve_plain

        result = resolve_plain(ctx.resolved_url(), gt_name, run, record=record)
    if result is None and ctx.is_remote():  # --db https://host: the lookup by the HTTP client
        if run is None:
            raise click.UsageError("--time needs the database itself (the run registry)")
        from conditions.documents import decode_document

        remote = ctx.remote()
        with warnings.catch_warnings():  # the one line below says it (not a Python warning)
            warnings.simplefilter("ignore", UserWarning)
            result = remote.resolve(gt_name, run, record=record, as_of=parse_time(at))
        if content:
            contents = {
                r.record: decode_document(r.payload_type, remote.payload_bytes(r.payload_hash))
                for r in result.records.values()
            }
    elif result is None:
        from conditions import store
        from conditions.documents import decode_document
        from conditions.resolve import resolve

        with ctx.reading() as s:
            if run is None:
                moment = parse_time(when)
                assert moment is not None
                run = store.run_at(s, moment)
            result = resolve(s, gt_name, run, record=record, as_of=parse_time(at))
            if content:
                contents = {
                    r.record: decode_document(
                        r.payload_type, store.payload_bytes(s, r.payload_hash)
                    )
                    for r in result.records.values()
                }
    if result.deprecation is not None:  # an invalid global tag: still answered, deprecated
        click.echo(f"Warning: {result.deprecation.message()}", err=True)
    if as_json:  # the read API's shape (GET /v1/resolve/{gt}/{run}), + content with --content
        from conditions.service.serializers import resolution_json

        doc = resolution_json(result)
        if content:
            for name, rec in doc["records"].items():
                rec["content"] = contents[name]
        echo_json(doc)
        return
    echo_table(
        ["record", "type", "payload", "since", "until", "tag"],
        [
            (
                r.record,
                r.payload_type,
                r.payload_hash[:16],
                r.since,
                "-" if r.until is None else r.until,
                r.tag,
            )
            for r in sorted(result.records.values(), key=lambda x: x.record)
        ],
    )
