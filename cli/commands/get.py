"""``conddb get``: the constants of one run, per record the payload in force and its IOV."""

from __future__ import annotations

import warnings
from typing import Any

import click

from cli.context import JSON_OPTION, Context, echo_json, echo_table, parse_time, pass_context


@click.command("get")
@click.option("--gt", "gt_name", required=True, help="Global tag.")
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
    from conditions import store
    from conditions.resolve import resolve

    if (run is None) == (when is None):
        raise click.UsageError("give exactly one of --run and --time")
    from conditions.documents import decode_document

    contents: dict[str, Any] = {}
    if ctx.is_remote():  # --db https://host: the same lookup through the HTTP client
        if run is None:
            raise click.UsageError("--time needs the database itself (the run registry)")
        remote = ctx.remote()
        with warnings.catch_warnings():  # the one line below says it (not a Python warning)
            warnings.simplefilter("ignore", UserWarning)
            result = remote.resolve(gt_name, run, record=record, as_of=parse_time(at))
        if content:
            contents = {
                r.record: decode_document(r.payload_type, remote.payload_bytes(r.payload_hash))
                for r in result.records.values()
            }
    else:
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
    if as_json:
        echo_json(
            {
                "global_tag": gt_name,
                "run": run,
                "as_of": result.as_of,
                "records": {
                    r.record: {
                        "tag": r.tag,
                        "type": r.payload_type,
                        "payload": r.payload_hash,
                        "since": r.since,
                        "until": r.until,
                        **({"content": contents[r.record]} if content else {}),
                    }
                    for r in result.records.values()
                },
            }
        )
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
