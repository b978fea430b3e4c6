"""Campaign manifest -> registered fitting jobs -> typed payloads with provenance.

Each record has one job module here, registered with ``@job(record, needs=..., uses=...)``
(:mod:`.registry`); the run order is derived from the dependencies.  Jobs read the campaign's
files through :mod:`fitting.io` (event files, laser scans and the declared detector-simulation
inputs of docs/INPUTS.md) and call the pure fits of :mod:`fitting`; the payload adapters live
in the job modules.  Nothing here imports the mock detector.

================== ==================================== ===================== ===============
record             from                                 paper                 needs
================== ==================================== ===================== ===============
dark_noise         random triggers                      section 2.3.3         -
light_yield        n-H peak at the centre               section 2.1.3         dark_noise
lpmt_nonlinearity  laser intensity scan at the centre   section 2.2           dark_noise
lpmt_gain          low-intensity laser steps            section 2.2           dark_noise
nonuniformity_map  n-H peaks at >= 20 positions         sections 3.4-3.5      dark_noise
energy_nonlinearity gamma peaks + 12B spectrum          sections 2.1.2-2.1.3  light_yield
energy_resolution  gamma widths -> positron Eq 3.1      section 3.1           energy_nonlinearity
================== ==================================== ===================== ===============
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conditions.campaign import CampaignConstants
from conditions.errors import InvalidInput
from conditions.services.jobs import (  # noqa: F401  (importing a job module registers it)
    dark_noise,
    energy_nonlinearity,
    energy_resolution,
    light_yield,
    lpmt_gain,
    lpmt_nonlinearity,
    nonuniformity_map,
)
from conditions.services.jobs.context import (
    JobContext,
    JobOutput,
    JobSettings,
    Progress,
    RunData,
    code_version,
    load_runs,
)
from conditions.services.jobs.registry import JOBS, closure, job, run_order
from fitting import io

#: The records a campaign can produce, in the order the jobs run.
RECORDS: tuple[str, ...] = tuple(run_order())

__all__ = [
    "JOBS",
    "RECORDS",
    "JobContext",
    "JobSettings",
    "RunData",
    "job",
    "load_runs",
    "run_campaign_jobs",
    "run_order",
]


def _quiet(_: str) -> None:
    return None


def run_campaign_jobs(
    manifest_path: Path,
    settings: JobSettings | None = None,
    progress: Progress | None = None,
    only: set[str] | None = None,
) -> CampaignConstants:
    """Run every job a campaign implies (or those producing ``only``, plus what they need and
    use); the payloads are ready for :func:`conditions.campaign.upload_campaign`.

    The campaign's ``info`` carries a ``report``: the jobs that produced nothing and the broken
    LPMT channels (count and reasons) for ``conddb campaign show``.
    """
    if only is not None and not only <= set(RECORDS):
        raise InvalidInput(
            f"unknown job(s) {sorted(only - set(RECORDS))}", f"jobs: {', '.join(RECORDS)}"
        )
    wanted = set(RECORDS) if only is None else set(only)
    to_run = closure(wanted)
    settings = settings or JobSettings()
    say = progress or _quiet
    manifest, runs = load_runs(Path(manifest_path))
    try:
        simulation = io.read_simulation_inputs(manifest)
    except ValueError as exc:
        raise InvalidInput(f"broken campaign: {exc}", "see docs/INPUTS.md") from None
    ctx = JobContext(manifest, runs, settings, simulation, say)
    skipped: dict[str, str] = {}
    for record in RECORDS:
        if record not in to_run:
            continue
        spec = JOBS[record]
        missing = [n for n in spec.needs if n not in ctx.results]
        if missing:
            skipped[record] = f"needs {', '.join(missing)}"
            continue
        say(record.replace("_", " "))
        out: JobOutput | None = spec.run(ctx)
        if out is None:
            skipped[record] = "the campaign has no runs for it"
            continue
        ctx.results[record] = out
    payloads = {k: v for k, v in ctx.results.items() if k in wanted}
    if not payloads:
        raise InvalidInput(
            f"campaign {manifest['campaign_id']} ({manifest['kind']}) gives none of "
            f"{', '.join(sorted(wanted))}",
            "choose a campaign with the runs those jobs need",
        )
    report: dict[str, Any] = {"skipped": {k: v for k, v in skipped.items() if k in wanted}}
    broken = ctx.memo.get("broken_channels")
    if broken is not None and "lpmt_nonlinearity" in payloads:
        report["broken_lpmt_channels"] = {"count": broken["count"],
                                          "by_reason": broken["by_reason"],
                                          "channels": broken["channels"]}
    return CampaignConstants(
        name=str(manifest["campaign_id"]),
        kind=str(manifest["kind"]),
        first_run=int(manifest["first_run"]),
        last_run=int(manifest["last_run"]),
        manifest_sha256=io.sha256_file(manifest_path),
        payloads=payloads,
        info={
            "kind": manifest["kind"],
            "start_time": manifest.get("start_time"),
            "end_time": manifest.get("end_time"),
            "runs": [r.input() | {"source": r.source} for r in runs],
            "simulation_inputs": [
                {k: e.get(k) for k in ("kind", "file", "sha256", "version")}
                for e in simulation.entries
            ],
            "settings": settings.as_dict(),
            "code_version": code_version(),
            "report": report,
        },
    )
