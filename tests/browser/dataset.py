"""A small, realistic conditions database for the browser tests.

Three campaigns of the mock detector (one comprehensive, two weekly) are simulated and fitted at
reduced statistics with the real campaign jobs (every payload type, real provenance: job, code
version, settings, input files with their SHA-256, fit quality), once per test session; each
backend's database gets them uploaded, then:

* ``JUNO-TEST`` - a frozen global tag over the six ``juno-*`` tags (as the demo builds it);
* ``JUNO-TEST-NEXT`` - its open clone whose ``light_yield`` record was re-pointed at the tag
  ``ly-reprocessed`` (map history), which holds the example Y0 payload and one superseded IOV;
* ``notes`` - a tag of an untyped JSON payload type (rendered as a document, no plots).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

from conditions import store
from conditions.campaign import CampaignConstants, upload_campaign
from conditions.db import write_session
from conditions.documents import put_document
from conditions.jobs import JobSettings, run_campaign_jobs
from conditions.payloads import encode_payload, examples, type_of
from fitting.toymc.campaign import write_campaign
from tests.support.lifecycle import publish

GT = "JUNO-TEST"
GT_NEXT = "JUNO-TEST-NEXT"
REPROCESSED = "ly-reprocessed"
NOTES = "notes"

#: (kind, first run, day, statistics scale) of the simulated campaigns (as conditions.demo, less).
CAMPAIGNS = (
    ("comprehensive", 100, 122.0, 0.05),
    ("weekly", 1000, 129.0, 0.2),
    ("weekly", 2000, 136.0, 0.2),
)


def fit_campaigns(folder: Path) -> list[CampaignConstants]:
    """Simulate and fit the campaigns (slow part, once per session)."""
    out = []
    for kind, first_run, day, scale in CAMPAIGNS:
        manifest = write_campaign(
            kind, first_run, folder / f"{kind}-{first_run}", seed=1 + first_run, day=day,
            scale=scale,
        )
        out.append(run_campaign_jobs(manifest, JobSettings(band_toys=5)))
    return out


@dataclass(frozen=True)
class Dataset:
    """Names and hashes the tests click through."""

    nonlinearity_hash: str
    lpmt_hash: str
    superseded_hash: str
    notes_hash: str
    tags: tuple[str, ...]


def populate(engine: Engine, constants: list[CampaignConstants]) -> Dataset:
    """Upload the fitted campaigns to a migrated database and add the extra objects above."""
    for c in constants:
        with write_session(engine) as s:
            upload_campaign(s, c)
    with write_session(engine) as s:
        tags = [t.name for t, _ in store.list_tags(s) if t.name.startswith("juno-")]
        store.create_global_tag(s, GT, "browser test: constants of the mock campaigns")
        for name in tags:
            store.set_record(s, GT, name.removeprefix("juno-"), name)
        publish(s, GT)
        store.clone_global_tag(s, GT, GT_NEXT, "reprocessed light yield")
        ly = examples.light_yield()
        ptype, version = type_of(ly)
        first = store.put_payload(s, ptype, encode_payload(ly), schema_version=version).hash
        store.create_tag(s, REPROCESSED, ptype, "Y0 re-fitted")
        store.append_iovs(s, REPROCESSED, [(100, first)])
    with write_session(engine) as s:  # a later transaction: a newer row for since 100
        moved = examples.light_yield().model_copy(update={"y0": 1351.0})
        second = store.put_payload(s, ptype, encode_payload(moved), schema_version=version).hash
        store.append_iovs(s, REPROCESSED, [(100, second), (1500, first)])
        store.set_record(s, GT_NEXT, "light_yield", REPROCESSED)
        store.register_payload_type(s, "shift_notes", "free-form JSON notes")
        notes = put_document(s, "shift_notes", {"shifter": "A. Person", "runs": [100, 1000]})
        store.create_tag(s, NOTES, "shift_notes")
        store.append_iovs(s, NOTES, [(0, notes.hash)])
        nl = store.list_iovs(s, "juno-energy_nonlinearity")[0].payload_hash
        lpmt = store.list_iovs(s, "juno-lpmt_nonlinearity")[0].payload_hash
    return Dataset(nl, lpmt, first, notes.hash, tuple(tags))
