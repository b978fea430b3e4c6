"""Concurrent uploads of *different* campaigns into a fresh database (issue 13 item 7).

Every upload creates the payload types and tags it needs; before the fix, creation was
check-then-insert and the second writer failed on PostgreSQL with ``duplicate key ...
"uq_tag_name"``.  N writers start together (barrier) and each uploads its own campaign; all must
succeed, and the store must hold exactly the union: no row lost, none duplicated.
"""

from __future__ import annotations

import threading

from sqlalchemy import select
from sqlalchemy.engine import Engine

from conditions import store
from conditions.campaign import CampaignConstants, upload_campaign
from conditions.db import read_session, write_session
from conditions.model import IOV, Campaign, Tag
from tests.conftest import row_counts
from tests.integration.test_campaign_upload import constants

WRITERS = 6


def campaign(i: int) -> CampaignConstants:
    """Campaign ``i``: its own name, runs and light yield; the dark-noise payload is the same
    content in every campaign (one payload row, shared by all)."""
    base = constants(name=f"weekly-{i:02d}", y0=1300.0 + i)
    return CampaignConstants(
        name=base.name,
        kind=base.kind,
        first_run=1000 + 100 * i,
        last_run=1010 + 100 * i,
        manifest_sha256=f"{i:064x}",
        payloads=base.payloads,
        info=base.info,
    )


def upload_together(engine: Engine, n: int) -> list[BaseException]:
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            barrier.wait(30)
            with write_session(engine) as s:
                upload_campaign(s, campaign(i))
        except BaseException as exc:  # reported by the test, never swallowed
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return errors


def test_concurrent_different_campaigns_all_land(engine: Engine) -> None:
    errors = upload_together(engine, WRITERS)
    assert not errors, [str(e).splitlines()[0] for e in errors]
    rows = row_counts(engine)
    assert rows["payload_type"] == 2 and rows["tag"] == 2
    assert rows["campaign"] == WRITERS and rows["campaign_payload"] == 2 * WRITERS
    assert rows["iov"] == 2 * WRITERS
    assert rows["payload"] == WRITERS + 1  # N light yields + one shared dark-noise payload
    with read_session(engine) as s:
        names = set(s.scalars(select(Campaign.name)))
        assert names == {campaign(i).name for i in range(WRITERS)}
        for tag in s.scalars(select(Tag)):
            sinces = sorted(s.scalars(select(IOV.since).where(IOV.tag_id == tag.id)))
            assert sinces == [1000 + 100 * i for i in range(WRITERS)], tag.name


def test_create_tag_race_is_a_clean_error_or_the_existing_tag(engine: Engine) -> None:
    """Explicit creation of one name by many writers: one creates it, the others get
    AlreadyExists (never a raw unique violation); with exist_ok all get the same tag."""
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
    barrier = threading.Barrier(WRITERS)
    outcomes: list[str] = []

    def writer(exist_ok: bool) -> None:
        barrier.wait(30)
        try:
            with write_session(engine) as s:
                outcomes.append(str(store.create_tag(s, "t", "json", exist_ok=exist_ok).id))
        except Exception as exc:
            outcomes.append(type(exc).__name__)

    for exist_ok in (False, True):
        threads = [threading.Thread(target=writer, args=(exist_ok,)) for _ in range(WRITERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    first, second = outcomes[:WRITERS], outcomes[WRITERS:]
    ids = {o for o in first if o.isdigit()}
    assert len(ids) == 1 and sorted(first).count("AlreadyExists") == WRITERS - 1, first
    assert set(second) == ids, second
