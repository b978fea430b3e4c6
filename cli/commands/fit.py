"""``conddb fit``: one fitting job of a campaign -> its payload (printed, saved or uploaded)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import click

from cli.context import Context, pass_context
from cli.lazy import LazyChoice
from cli.options import QUIET, band_toys
from cli.progress import Progress

from .campaign import MANIFEST


def _records() -> Sequence[str]:
    from conditions.jobs import RECORDS

    return RECORDS


@click.command("fit")
@click.argument("job", type=LazyChoice(_records))
@click.argument("manifest", type=MANIFEST)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the payload as a JSON document (for `conddb payload put`).",
)
@click.option(
    "--tag",
    "tag_name",
    default=None,
    help="Upload the payload and append an IOV to this tag (created if missing).",
)
@click.option(
    "--since",
    type=click.IntRange(min=0),
    default=None,
    help="IOV start run (default: the campaign's first run).",
)
@band_toys(200)
@QUIET
@pass_context
def fit(
    ctx: Context,
    job: str,
    manifest: Path,
    out: Path | None,
    tag_name: str | None,
    since: int | None,
    band_toys: int,
    quiet: bool,
) -> None:
    """Run one fitting JOB on a campaign and print, save or upload its payload."""
    from conditions.jobs import JobSettings, run_campaign_jobs
    from conditions.payloads import encode_payload, type_of

    progress = Progress(show=not quiet)
    if tag_name is not None:
        ctx.engine()
    settings = JobSettings(band_toys=band_toys)
    constants = run_campaign_jobs(manifest, settings, progress.step, only={job})
    model, provenance = constants.payloads[job]
    doc = model.model_dump(mode="json")
    if out is not None:
        out.write_text(json.dumps(doc, indent=1))
        click.echo(f"wrote {out}", err=True)
    summary = {k: v for k, v in doc.items() if not isinstance(v, list) or len(v) <= 8}
    click.echo(
        json.dumps(
            {"job": job, "payload": summary, "fit_quality": provenance["fit_quality"]}, indent=2
        )
    )
    if tag_name is None:
        return
    import dataclasses
    import getpass

    from conditions.services import campaigns

    first = since if since is not None else constants.first_run
    upload = campaigns.CampaignUpload.of_items(
        f"{constants.name}.fit.{job}.{tag_name}",
        [(tag_name, first, job, encode_payload(model), type_of(model)[1], provenance)],
        kind="fit",
        tags={tag_name: (job, f"conddb fit {job}")},
    )
    upload = dataclasses.replace(upload, register_types=True)
    with ctx.writing() as s:
        report = campaigns.upload(s, upload, uploaded_by=getpass.getuser())
    put_hash = upload.items[0].hash
    click.echo(f"payload {put_hash} -> tag {tag_name}: {report.iovs_added} IOV added")
