"""`conddb export-files GT --out DIR`: the payload file tree of a global tag (CVMFS-style)."""

from __future__ import annotations

from pathlib import Path

import click

from ..context import Context, echo_json, pass_context


@click.command("export-files")
@click.argument("global_tag")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of the tree: <type>/<sha256> files and the manifest <GT>.sha256.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def export_files(ctx: Context, global_tag: str, out: Path, as_json: bool) -> None:
    """Write the payload files of GLOBAL_TAG as <type>/<sha256> under --out, with a checksum
    manifest, for the C++ nopayloadclient.  Re-running writes nothing new; a damaged file is
    detected by its SHA-256 and rewritten."""
    from conditions.service.hsf.filetree import export_files as write_tree

    with ctx.reading() as s:
        r = write_tree(s, global_tag, out)
    if as_json:
        echo_json(
            {
                "global_tag": r.global_tag,
                "files": r.files,
                "written": r.written,
                "repaired": r.repaired,
                "unchanged": r.unchanged,
                "manifest": str(r.manifest),
                "manifest_written": r.manifest_written,
            }
        )
        return
    click.echo(
        f"{r.files} payload files of {global_tag} in {out}: {r.written} written, "
        f"{r.repaired} repaired, {r.unchanged} unchanged (manifest {r.manifest})"
    )
