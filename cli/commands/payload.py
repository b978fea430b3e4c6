"""``conddb payload put|show``: immutable, content-hashed payloads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from cli.context import JSON_OPTION, Context, echo_json, fmt_time, pass_context


@click.group()
def payload() -> None:
    """Immutable, content-hashed payloads."""


@payload.command("put")
@click.argument("type_name", metavar="TYPE")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--provenance",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON file describing where the payload comes from.",
)
@pass_context
def payload_put(ctx: Context, type_name: str, file: Path, provenance: Path | None) -> None:
    """Validate FILE (JSON) as a payload of TYPE and store it; prints its hash."""
    from conditions.documents import parse_json_bytes, put_document, read_document_file

    doc = parse_json_bytes(read_document_file(file), str(file))
    prov: dict[str, Any] = {"source_file": file.name}
    if provenance is not None:
        extra = parse_json_bytes(read_document_file(provenance), str(provenance))
        if not isinstance(extra, dict):
            raise click.BadParameter("the provenance file must hold a JSON object")
        prov.update(extra)
    with ctx.writing() as s:
        result = put_document(s, type_name, doc, provenance=prov)
    click.echo(result.hash)
    click.echo("stored" if result.created else "already stored (same content)", err=True)


@payload.command("show")
@click.argument("payload_hash", metavar="HASH")
@click.option("--content/--no-content", default=True, help="Include the decoded content.")
@JSON_OPTION
@pass_context
def payload_show(ctx: Context, payload_hash: str, content: bool, as_json: bool) -> None:
    """Show a payload (HASH may be an unambiguous prefix of at least 8 hex digits)."""
    from conditions import store
    from conditions.documents import decode_document

    with ctx.reading() as s:
        row = store.find_payload(s, payload_hash)
        info = {
            "hash": row.hash,
            "type": row.type_name,
            "schema_version": row.schema_version,
            "size": row.size,
            "created_at": row.created_at,
            "provenance": row.provenance,
        }
        if content:
            info["content"] = decode_document(row.type_name, store.payload_bytes(s, row.hash))
    if as_json:
        echo_json(info)
        return
    for key in ("hash", "type", "schema_version", "size"):
        click.echo(f"{key:15} {info[key]}")
    click.echo(f"{'created_at':15} {fmt_time(row.created_at)}")
    click.echo(f"{'provenance':15} {json.dumps(info['provenance'], sort_keys=True)}")
    if content:
        click.echo(json.dumps(info["content"], indent=2, sort_keys=True))
