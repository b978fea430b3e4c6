"""``conddb campaign run|list|show`` and ``conddb fit JOB``: calibration campaigns -> constants."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import click
from sqlalchemy import select

from conditions import store
from conditions.campaign import DEFAULT_TAG_PREFIX, CampaignConstants, plan_upload, upload_campaign
from conditions.jobs import RECORDS, JobSettings, run_campaign_jobs
from conditions.model import Campaign, CampaignPayload, Tag
from conditions.payloads import encode_payload, type_of

from .context import Context, echo_json, echo_table, fmt_time, pass_context

MANIFEST = click.Path(exists=True, dir_okay=False, path_type=Path)


def _progress(quiet: bool) -> tuple[Callable[[str], None], float]:
    start = time.perf_counter()

    def say(step: str) -> None:
        if not quiet:
            click.echo(f"  [{time.perf_counter() - start:6.1f} s] {step}", err=True)

    return say, start


def _summary(constants: CampaignConstants, prefix: str) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for record, tag_name, type_name, since, data, _version in plan_upload(constants, prefix):
        rows.append((record, type_name, tag_name, str(since), store.sha256_hex(data)[:16]))
    return rows


@click.group()
def campaign() -> None:
    """Calibration campaigns: run their fits and upload the constants atomically."""


@campaign.command("run")
@click.argument("manifest", type=MANIFEST)
@click.option(
    "--dry-run", is_flag=True, help="Run the fits, show what would be written, write nothing."
)
@click.option(
    "--tag-prefix",
    default=DEFAULT_TAG_PREFIX,
    show_default=True,
    help="Tags are <prefix><record>, created when missing.",
)
@click.option(
    "--band-toys",
    type=click.IntRange(min=0),
    default=200,
    show_default=True,
    help="Toy refits of the f_nonlin systematics band (comprehensive campaigns).",
)
@click.option("--quiet", is_flag=True, help="No progress lines.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_context
def campaign_run(
    ctx: Context,
    manifest: Path,
    dry_run: bool,
    tag_prefix: str,
    band_toys: int,
    quiet: bool,
    as_json: bool,
) -> None:
    """Run every fitting job MANIFEST implies and upload all constants in one transaction.

    Re-running a campaign changes nothing (same inputs -> same payload hashes).
    """
    say, start = _progress(quiet)
    if not dry_run:
        ctx.engine()  # fail on a wrong database before minutes of fitting
    constants = run_campaign_jobs(manifest, JobSettings(band_toys=band_toys), say)
    rows = _summary(constants, tag_prefix)
    if dry_run:
        if as_json:
            echo_json(
                {
                    "campaign": constants.name,
                    "dry_run": True,
                    "records": [
                        {"record": r, "type": t, "tag": tag, "since": int(s), "payload": h}
                        for r, t, tag, s, h in rows
                    ],
                }
            )
        else:
            click.echo(
                f"campaign {constants.name} ({constants.kind}, runs "
                f"{constants.first_run}-{constants.last_run}): would write"
            )
            echo_table(["record", "type", "tag", "since", "payload"], rows)
        return
    say("uploading (one transaction)")
    with ctx.writing() as s:
        report = upload_campaign(s, constants, tag_prefix=tag_prefix)
    elapsed = time.perf_counter() - start
    if as_json:
        echo_json(
            {
                "campaign": report.campaign,
                "created": report.created,
                "iovs_added": report.iovs_added,
                "payloads_added": report.payloads_added,
                "seconds": round(elapsed, 2),
                "records": [
                    {
                        "record": r.record,
                        "tag": r.tag,
                        "payload": r.payload_hash,
                        "since": r.since,
                        "new_iov": r.new_iov,
                    }
                    for r in report.records
                ],
            }
        )
        return
    state = "uploaded" if report.created else "already stored: nothing written"
    click.echo(
        f"campaign {report.campaign}: {state} ({report.payloads_added} new payloads, "
        f"{report.iovs_added} new IOVs, {elapsed:.1f} s)"
    )
    echo_table(
        ["record", "tag", "since", "payload", "new IOV"],
        [
            (r.record, r.tag, r.since, r.payload_hash[:16], "yes" if r.new_iov else "no")
            for r in report.records
        ],
    )


@campaign.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def campaign_list(ctx: Context, as_json: bool) -> None:
    """List the uploaded campaigns."""
    with ctx.reading() as s:
        rows = [
            (c.name, c.kind, c.first_run, c.last_run, fmt_time(c.created_at))
            for c in s.scalars(select(Campaign).order_by(Campaign.first_run))
        ]
    if as_json:
        echo_json(
            [
                dict(zip(["name", "kind", "first_run", "last_run", "uploaded"], r, strict=True))
                for r in rows
            ]
        )
    else:
        echo_table(["campaign", "kind", "first run", "last run", "uploaded"], rows)


@campaign.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def campaign_show(ctx: Context, name: str, as_json: bool) -> None:
    """Show a campaign: its constants, their tags and IOVs, its input files."""
    with ctx.reading() as s:
        c = s.scalar(select(Campaign).where(Campaign.name == name))
        if c is None:
            raise click.ClickException(f"no campaign named {name!r} - see `conddb campaign list`")
        links = s.execute(
            select(
                CampaignPayload.record,
                Tag.name,
                CampaignPayload.since,
                CampaignPayload.payload_hash,
            )
            .join(Tag, Tag.id == CampaignPayload.tag_id)
            .where(CampaignPayload.campaign_id == c.id)
            .order_by(CampaignPayload.record)
        ).all()
    if as_json:
        echo_json(
            {
                "name": c.name,
                "kind": c.kind,
                "first_run": c.first_run,
                "last_run": c.last_run,
                "manifest_sha256": c.manifest_sha256,
                "uploaded": c.created_at,
                "info": c.info,
                "records": [
                    {"record": r, "tag": t, "since": sn, "payload": h} for r, t, sn, h in links
                ],
            }
        )
        return
    click.echo(
        f"campaign {c.name}: {c.kind}, runs {c.first_run}-{c.last_run}, "
        f"uploaded {fmt_time(c.created_at)}, manifest sha256 {c.manifest_sha256[:16]}"
    )
    echo_table(["record", "tag", "since", "payload"], [(r, t, sn, h[:16]) for r, t, sn, h in links])
    click.echo(f"{len(c.info.get('runs', []))} input runs (files and SHA-256 with --json)")


@click.command("fit")
@click.argument("job", type=click.Choice(RECORDS))
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
@click.option("--band-toys", type=click.IntRange(min=0), default=200, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress lines.")
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
    say, _ = _progress(quiet)
    if tag_name is not None:
        ctx.engine()
    constants = run_campaign_jobs(manifest, JobSettings(band_toys=band_toys), say, only={job})
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
    data = encode_payload(model)
    with ctx.writing() as s:
        put = store.put_payload(
            s, job, data, schema_version=type_of(model)[1], provenance=provenance
        )
        if s.scalar(select(Tag.id).where(Tag.name == tag_name)) is None:
            store.create_tag(s, tag_name, job)
        result = store.append_iovs(
            s, tag_name, [(since if since is not None else constants.first_run, put.hash)]
        )
    click.echo(f"payload {put.hash} -> tag {tag_name}: {result.added} IOV added")


CAMPAIGN_COMMANDS = [campaign, fit]
