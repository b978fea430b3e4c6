"""Compatibility name: the campaign jobs live in :mod:`conditions.services.jobs`."""

from conditions.services.jobs import (
    JOBS,
    RECORDS,
    JobContext,
    JobSettings,
    RunData,
    job,
    load_runs,
    run_campaign_jobs,
    run_order,
)

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
