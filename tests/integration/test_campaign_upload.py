"""Campaign uploads: all constants or none, idempotent re-runs, conflicting re-uploads refused."""

from __future__ import annotations

import multiprocessing as mp

import pytest
from sqlalchemy.engine import Engine

from conditions import store
from conditions.campaign import CampaignConstants, upload_campaign
from conditions.db import make_engine, write_session
from conditions.errors import Conflict, TagLocked
from conditions.model import IOV, Campaign, CampaignPayload, Payload
from conditions.payloads import examples
from conditions.resolve import resolve
from tests.conftest import row_counts


def constants(name: str = "weekly-run1000", y0: float = 1345.0) -> CampaignConstants:
    ly = examples.light_yield().model_copy(update={"y0": y0})
    return CampaignConstants(
        name=name,
        kind="weekly",
        first_run=1000,
        last_run=1010,
        manifest_sha256="ab" * 32,
        payloads={
            "light_yield": (ly, {"job": "lightyield"}),
            "dark_noise": (examples.dark_noise(), {"job": "darknoise"}),
        },
        info={"inputs": [{"file": "runs/run_001000.csv", "sha256": "cd" * 32}]},
    )


def counts(engine: Engine) -> tuple[int, int, int, int]:
    rows = row_counts(engine)
    return tuple(rows[m.__tablename__] for m in (Payload, IOV, Campaign, CampaignPayload))  # type: ignore[return-value]


def test_upload_then_rerun_is_a_no_op(engine: Engine) -> None:
    with write_session(engine) as s:
        first = upload_campaign(s, constants())
    assert first.created and first.iovs_added == 2 and first.payloads_added == 2
    with write_session(engine) as s:
        again = upload_campaign(s, constants())
    assert not again.created and again.iovs_added == 0
    assert [r.payload_hash for r in again.records] == [r.payload_hash for r in first.records]
    assert counts(engine) == (2, 2, 1, 2)
    with write_session(engine) as s:
        store.create_global_tag(s, "G")
        for r in first.records:
            store.set_record(s, "G", r.record, r.tag)
    assert resolve(engine, "G", 1005)["light_yield"].payload_hash == first.records[1].payload_hash


def test_conflicting_reupload_and_failures_write_nothing(engine: Engine) -> None:
    with write_session(engine) as s:
        upload_campaign(s, constants())
    before = counts(engine)
    with pytest.raises(Conflict), write_session(engine) as s:
        upload_campaign(s, constants(y0=1350.0))
    with write_session(engine) as s:
        store.lock_tag(s, "juno-light_yield")
    with pytest.raises(TagLocked), write_session(engine) as s:
        upload_campaign(s, constants("weekly-run2000", y0=1340.0))
    assert counts(engine) == before  # the dark-noise payload of the failed upload is gone too


def _upload(url: str) -> None:
    engine = make_engine(url)
    with write_session(engine) as s:
        upload_campaign(s, constants())
    engine.dispose()


def test_concurrent_uploads_of_one_campaign(engine: Engine, db_url: str) -> None:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_upload, args=(db_url,)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    assert counts(engine) == (2, 2, 1, 2)
