"""``conddb iov add|list``: intervals of validity (also the IOV rows ``tag show`` prints)."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cli.context import (
    Context,
    echo_json,
    echo_table,
    fmt_time,
    parse_time,
    pass_context,
)
from cli.options import JSON_OPTION, as_of, tag_argument

if TYPE_CHECKING:
    from conditions.store import IOVRow


def print_iovs(iovs: list[IOVRow]) -> None:
    echo_table(
        ["since", "until", "payload", "inserted", ""],
        [
            (
                i.since,
                "-" if i.until is None else i.until,
                i.payload_hash[:16],
                fmt_time(i.insertion_time),
                "superseded" if i.superseded else "",
            )
            for i in iovs
        ],
    )


def read_iov_file(path: Path) -> list[tuple[int, str]]:
    """Rows ``since,payload_hash`` (CSV, header optional)."""
    from conditions.errors import InvalidIOV

    out: list[tuple[int, str]] = []
    with path.open(newline="") as fh:
        for n, row in enumerate(csv.reader(fh), start=1):
            if not row or row[0].strip().lower() == "since":
                continue
            if len(row) != 2 or not re.fullmatch(r"[0-9]+", row[0].strip()):
                raise InvalidIOV(f"{path}:{n}: expected 'since,payload_hash'", "fix the line")
            out.append((int(row[0]), row[1].strip()))
    return out


@click.group()
def iov() -> None:
    """Intervals of validity."""


@iov.command("add")
@tag_argument("tag_name", "TAG")
@click.option("--since", type=click.IntRange(min=0), help="First valid run (inclusive).")
@click.option("--payload", "payload_hash", help="Payload hash (or unique prefix).")
@click.option(
    "--from-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV of since,payload_hash rows, appended in one transaction.",
)
@pass_context
def iov_add(
    ctx: Context, tag_name: str, since: int | None, payload_hash: str | None, from_file: Path | None
) -> None:
    """Append IOVs to an open tag (one, or many from a file, atomically)."""
    from conditions import store

    if from_file is None and (since is None or payload_hash is None):
        raise click.UsageError("give --since and --payload, or --from-file")
    with ctx.writing() as s:
        if from_file is not None:
            rows = [(r, store.find_payload(s, h).hash) for r, h in read_iov_file(from_file)]
        else:
            assert since is not None and payload_hash is not None
            rows = [(since, store.find_payload(s, payload_hash).hash)]
        result = store.append_iovs(s, tag_name, rows)
    click.echo(f"tag {tag_name}: {result.added} IOV(s) added, {result.unchanged} unchanged")


@iov.command("list")
@tag_argument("tag_name", "TAG")
@as_of("The IOVs as they were")
@click.option("--history", is_flag=True, help="Include superseded rows.")
@JSON_OPTION
@pass_context
def iov_list(ctx: Context, tag_name: str, at: str | None, history: bool, as_json: bool) -> None:
    """List the IOVs of a tag."""
    from conditions import store

    with ctx.reading() as s:
        iovs = store.list_iovs(s, tag_name, as_of=parse_time(at), history=history)
    if as_json:
        from conditions.service.serializers import iov_row_json

        echo_json([iov_row_json(i) for i in iovs])
    else:
        print_iovs(iovs)
