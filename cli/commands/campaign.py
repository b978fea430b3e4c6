"""``conddb campaign run|list|show``: calibration campaigns -> constants, uploaded atomically."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cli.context import Context, echo_json, echo_table, fmt_time, pass_context
from cli.options import JSON_OPTION, QUIET, band_toys
from cli.progress import Progress

if TYPE_CHECKING:
    from conditions.campaign import CampaignConstants

#: A campaign's manifest.json (written by `conddb simulate campaign` or the detector's tools).
MANIFEST = click.Path(exists=True, dir_okay=False, path_type=Path)
#: The default ``--tag-prefix`` (conditions.campaign.DEFAULT_TAG_PREFIX; checked by a test).
DEFAULT_TAG_PREFIX = "juno-"


def _summary(constants: CampaignConstants, prefix: str) -> list[tuple[str, str, str, str, str]]:
    from conditions import store
    from conditions.campaign import plan_upload

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
@band_toys(200)
@QUIET
@JSON_OPTION
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
    from conditions.campaign import upload_campaign
    from conditions.errors import InvalidInput
    from conditions.jobs import JobSettings, run_campaign_jobs
    from fitting.io import EventFileError

    progress = Progress(show=not quiet)
    if not dry_run:
        ctx.engine()  # fail on a wrong database before minutes of fitting
    try:
        constants = run_campaign_jobs(manifest, JobSettings(band_toys=band_toys), progress.step)
    except EventFileError as exc:  # a data file that passed its SHA-256 but does not read
        raise InvalidInput(
            f"broken campaign: {exc}",
            "re-copy the campaign files or re-run `conddb simulate campaign`",
        ) from None
    rows = _summary(constants, tag_prefix)
    if dry_run:
        if as_json:
            echo_json(
                {
                    "campaign": constants.name,
                    "dry_run": True,
                    "records": [
                        {"record": r, "type": t, "tag": tag, "since": int(s), "payload_hash": h}
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
    progress.step("uploading (one transaction)")
    with ctx.writing() as s:
        report = upload_campaign(s, constants, tag_prefix=tag_prefix)
    elapsed = progress.elapsed()
    if as_json:  # the records are campaign links (serializers.campaign_link_json) + new_iov
        from conditions.service.serializers import campaign_link_json

        echo_json(
            {
                "campaign": report.campaign,
                "created": report.created,
                "iovs_added": report.iovs_added,
                "payloads_added": report.payloads_added,
                "seconds": round(elapsed, 2),
                "records": [
                    {**campaign_link_json(r), "new_iov": r.new_iov} for r in report.records
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
@JSON_OPTION
@pass_context
def campaign_list(ctx: Context, as_json: bool) -> None:
    """List the uploaded campaigns."""
    from conditions import store

    with ctx.reading() as s:
        campaigns = store.list_campaigns(s)
    if as_json:  # the read API's shape: GET /v1/campaigns
        from conditions.service.serializers import campaign_json

        echo_json([campaign_json(c) for c in campaigns])
    else:
        echo_table(
            ["campaign", "kind", "first run", "last run", "uploaded"],
            [(c.name, c.kind, c.first_run, c.last_run, fmt_time(c.created_at)) for c in campaigns],
        )


@campaign.command("show")
@click.argument("name")
@JSON_OPTION
@pass_context
def campaign_show(ctx: Context, name: str, as_json: bool) -> None:
    """Show a campaign: its constants, their tags and IOVs, its input files."""
    from conditions import store

    with ctx.reading() as s:
        c = store.get_campaign(s, name)
    links = c.links
    if as_json:  # the read API's shape: GET /v1/campaigns/{name}
        from conditions.service.serializers import campaign_json

        echo_json(campaign_json(c, links=True))
        return
    click.echo(
        f"campaign {c.name}: {c.kind}, runs {c.first_run}-{c.last_run}, "
        f"uploaded {fmt_time(c.created_at)}, manifest sha256 {c.manifest_sha256[:16]}"
    )
    echo_table(
        ["record", "tag", "since", "payload"],
        [(k.record, k.tag, k.since, k.payload_hash[:16]) for k in links],
    )
    click.echo(f"{len(c.info.get('runs', []))} input runs (files and SHA-256 with --json)")
    for line in _report_lines(c.info.get("report") or {}):
        click.echo(line)


#: flagged channels listed by ``campaign show`` (all stored ones with --json)
SHOWN_CHANNELS = 20


def _report_lines(report: dict[str, Any]) -> list[str]:
    """Text of a campaign's job report: skipped jobs and the broken-LPMT-channel report
    (count, count per reason, the first :data:`SHOWN_CHANNELS` flagged channels)."""
    lines = [f"skipped {record}: {why}" for record, why in (report.get("skipped") or {}).items()]
    broken = report.get("broken_lpmt_channels")
    if broken is None:
        return lines
    count = int(broken.get("count", 0))
    lines.append(f"broken LPMT channels: {count} flagged (identity curve in the payload)")
    for reason, n in sorted((broken.get("by_reason") or {}).items(), key=lambda kv: -kv[1]):
        lines.append(f"  {n:6d}  {reason}")
    channels = broken.get("channels") or {}
    shown = list(channels.items())[:SHOWN_CHANNELS]
    for ch, reasons in shown:
        lines.append(f"  channel {ch}: {'; '.join(reasons)}")
    if count > len(shown):
        lines.append(f"  ... {count - len(shown)} more (stored ones with --json, all flags in "
                     "the lpmt_nonlinearity payload's status)")
    return lines
