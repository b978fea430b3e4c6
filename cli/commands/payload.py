"""``conddb payload put|show|dump|where``: immutable, content-hashed payloads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from cli.context import Context, echo_json, echo_table, fmt_time, pass_context
from cli.options import JSON_OPTION, PAYLOAD_HASH


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
@PAYLOAD_HASH
@click.option("--content/--no-content", default=True, help="Include the decoded content.")
@JSON_OPTION
@pass_context
def payload_show(ctx: Context, payload_hash: str, content: bool, as_json: bool) -> None:
    """Show a payload (HASH may be an unambiguous prefix of at least 8 hex digits)."""
    from conditions.documents import decode_document

    info, data = _meta_and_bytes(ctx, payload_hash, content)
    if content:
        info["content"] = decode_document(info["type"], data)
    if as_json:
        echo_json(info)
        return
    for key in ("hash", "type", "schema_version", "size"):
        click.echo(f"{key:15} {info[key]}")
    click.echo(f"{'created_at':15} {info['created_at']}")
    click.echo(f"{'provenance':15} {json.dumps(info['provenance'], sort_keys=True)}")
    if content:
        click.echo(json.dumps(info["content"], indent=2, sort_keys=True))


def _meta_and_bytes(
    ctx: Context, payload_hash: str, with_bytes: bool
) -> tuple[dict[str, Any], bytes]:
    """The description of a payload (the read API's shape) and, if asked, its canonical bytes;
    from the database, or from the service with ``--db https://...`` (full hash there)."""
    if ctx.is_remote():
        remote = ctx.remote()
        meta = remote.payload_meta(payload_hash)
        return meta, remote.payload_bytes(meta["hash"]) if with_bytes else b""
    from conditions import store
    from conditions.service.serializers import payload_meta_json

    with ctx.reading() as s:
        row = store.find_payload(s, payload_hash)
        info = payload_meta_json(row)
        return info, store.payload_bytes(s, row.hash) if with_bytes else b""


@payload.command("dump")
@PAYLOAD_HASH
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write: NAME.json (full content, arrays as lists; `payload put` takes it "
    "back) or NAME.npz (typed payloads: one array per field path, the other fields as JSON "
    "in __fields__).",
)
@pass_context
def payload_dump(ctx: Context, payload_hash: str, out: Path) -> None:
    """Write the full content of a payload, arrays included, to a .json or .npz file."""
    suffix = out.suffix.lower()
    if suffix not in (".json", ".npz"):
        raise click.BadParameter(f"{out} must end in .json or .npz", param_hint="--out")
    from conditions.payloads.dump import full_document, npz_members

    info, data = _meta_and_bytes(ctx, payload_hash, True)
    part = out.with_name(out.name + ".part")
    if suffix == ".json":
        text = json.dumps(full_document(info["type"], data), indent=1, sort_keys=True)
        part.write_text(text + "\n")
    else:
        import numpy as np

        with part.open("wb") as f:
            np.savez(f, **npz_members(info["type"], data))  # type: ignore[arg-type]
    part.replace(out)  # never a half-written file under the asked name
    click.echo(f"payload {info['hash']} ({info['type']}) written to {out}")


@payload.command("where")
@PAYLOAD_HASH
@JSON_OPTION
@pass_context
def payload_where(ctx: Context, payload_hash: str, as_json: bool) -> None:
    """Which tags hold payload HASH (IOV rows, superseded too) and which global tags use them."""
    from conditions import store
    from conditions.store.search import global_tags_using_tags, tags_using_payload

    with ctx.reading() as s:
        full = store.find_payload(s, payload_hash).hash
        uses = tags_using_payload(s, full)
        gts = global_tags_using_tags(s, sorted({u.tag for u in uses}))
    if as_json:
        echo_json(
            {
                "hash": full,
                "iovs": [
                    {"tag": u.tag, "since": u.since, "insertion_time": u.insertion_time}
                    for u in uses
                ],
                "global_tags": [
                    {
                        "global_tag": g.global_tag,
                        "record": g.record,
                        "tag": g.tag,
                        "current": g.current,
                    }
                    for g in gts
                ],
            }
        )
        return
    click.echo(f"payload {full}")
    echo_table(
        ["tag", "since", "inserted"], [(u.tag, u.since, fmt_time(u.insertion_time)) for u in uses]
    )
    echo_table(
        ["global tag", "record", "tag", ""],
        [(g.global_tag, g.record, g.tag, "" if g.current else "superseded") for g in gts],
    )
