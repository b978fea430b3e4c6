"""`conddb export FILE` / `conddb import FILE`: move a database (or one global tag) as a file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from cli.context import JSON_OPTION, Context, echo_json, echo_table, pass_context

if TYPE_CHECKING:
    from conditions.transfer import TransferReport


KEY_OPTION = click.option(
    "--key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="CONDDB_EXPORT_KEY",
    default=None,
    help="Key file for the HMAC-SHA256 signature of the file (default: $CONDDB_EXPORT_KEY).",
)


def _print(report: TransferReport, verb: str, as_json: bool) -> None:
    from conditions import transfer

    if as_json:
        echo_json(
            {
                "file": str(report.path),
                "scope": report.scope,
                "rows": report.rows,
                "added": report.added,
                "reused": report.reused,
            }
        )
        return
    if verb == "exported":
        echo_table(["table", "rows"], [(t, n) for t, n, _a, _r in transfer.table_counts(report)])
    else:
        echo_table(["table", "rows", "added", "reused"], list(transfer.table_counts(report)))
    click.echo(f"{verb} {report.scope} ({report.path})")


@click.command(
    "export",
    short_help="Write the database (or one global tag) to a zip file with SHA-256 checks.",
)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--gt",
    "global_tag",
    default=None,
    metavar="NAME",
    help="Export only this global tag with everything it references.",
)
@KEY_OPTION
@JSON_OPTION
@pass_context
def export_cmd(
    ctx: Context, file: Path, global_tag: str | None, key: Path | None, as_json: bool
) -> None:
    """Write the whole database (or one global tag: map history, tags, every IOV row with its
    insertion time, payloads, types, campaign records) to FILE, a zip with SHA-256 checks;
    signed with HMAC-SHA256 when a key is given."""
    from conditions import transfer

    secret = None if key is None else transfer.read_key(key)
    report = transfer.export_file(ctx.engine(), file, global_tag=global_tag, key=secret)
    _print(report, "exported", as_json)


@click.command(
    "import",
    short_help="Import a file made by `conddb export`, in one transaction (all or nothing).",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@KEY_OPTION
@JSON_OPTION
@pass_context
def import_cmd(ctx: Context, file: Path, key: Path | None, as_json: bool) -> None:
    """Import FILE (made by `conddb export`) in one transaction: hashes are verified first, then
    every row by the library's rules (the first bad row is named); identical objects already
    present are kept; any conflict writes nothing.  With a key, an unsigned file or a file
    signed with another key is refused."""
    from conditions import transfer

    secret = None if key is None else transfer.read_key(key)
    report = transfer.import_file(ctx.engine(), file, key=secret)
    _print(report, "imported", as_json)
