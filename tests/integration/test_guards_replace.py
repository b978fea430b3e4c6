"""REPLACE and UPSERT cannot rewrite history (issue 13 item 2), on both backends.

SQLite resolves an ``INSERT OR REPLACE`` / ``REPLACE INTO`` key conflict by deleting the old row
without firing DELETE triggers (unless ``PRAGMA recursive_triggers`` is on), which passed every
guard of migrations 0001/0002.  ``INSERT ... ON CONFLICT DO UPDATE`` (UPSERT) exists on both
backends.  Each guarded table is attacked with every form; the table must be unchanged after.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from conditions import store
from conditions.campaign import upload_campaign
from conditions.db import write_session
from tests.integration.test_campaign_upload import constants
from tests.support.lifecycle import publish


@dataclass(frozen=True)
class Rewrite:
    """An INSERT ... SELECT that re-inserts a guarded row with one column changed."""

    table: str
    columns: str
    select: str  # selects the changed row; ``{state}``/``{bytes}`` filled in per dialect
    key: str  # conflict target of the UPSERT form
    changed: str  # column the UPSERT form overwrites


REWRITES = {
    "payload-bytes": Rewrite(
        "payload",
        "hash, type_name, schema_version, data, size, provenance, created_at",
        "SELECT hash, type_name, schema_version, {bytes}, 1, provenance, created_at FROM payload "
        "WHERE type_name = 'json'",
        "hash",
        "data",
    ),
    "locked-tag-reopened": Rewrite(
        "tag",
        "id, name, type_name, state, description, created_at, locked_at",
        "SELECT id, name, type_name, {tag_open}, description, created_at, NULL FROM tag "
        "WHERE name = 'locked_tag'",
        "id",
        "state",
    ),
    "locked-tag-replaced-by-name": Rewrite(
        "tag",
        "id, name, type_name, state, description, created_at, locked_at",
        "SELECT id + 1000, name, type_name, {tag_open}, description, created_at, NULL FROM tag "
        "WHERE name = 'locked_tag'",
        "name",
        "state",
    ),
    "frozen-gt-reopened": Rewrite(
        "global_tag",
        "id, name, state, snapshot_time, description, created_at, frozen_at",
        "SELECT id, name, {gt_open}, NULL, description, created_at, NULL FROM global_tag "
        "WHERE name = 'GT'",
        "id",
        "state",
    ),
    "frozen-gt-replaced-by-name": Rewrite(
        "global_tag",
        "id, name, state, snapshot_time, description, created_at, frozen_at",
        "SELECT id + 1000, name, {gt_open}, NULL, description, created_at, NULL FROM global_tag "
        "WHERE name = 'GT'",
        "name",
        "state",
    ),
    "iov-of-open-tag": Rewrite(
        "iov",
        "id, tag_id, since, insertion_time, payload_hash",
        "SELECT id, tag_id, since, insertion_time, "
        "(SELECT hash FROM payload WHERE hash <> iov.payload_hash AND type_name = 'json') "
        "FROM iov WHERE tag_id = (SELECT id FROM tag WHERE name = 'open_tag')",
        "id",
        "payload_hash",
    ),
    "map-row-of-open-gt": Rewrite(
        "global_tag_map",
        "id, global_tag_id, record, tag_id, insertion_time",
        "SELECT id, global_tag_id, record, (SELECT id FROM tag WHERE name = 'locked_tag'), "
        "insertion_time FROM global_tag_map WHERE record = 'rec_of_open_gt'",
        "id",
        "tag_id",
    ),
    "campaign": Rewrite(
        "campaign",
        "id, name, kind, first_run, last_run, manifest_sha256, info, created_at",
        "SELECT id, name, 'forged', first_run, last_run, manifest_sha256, info, created_at "
        "FROM campaign WHERE name = 'weekly-run1000'",
        "id",
        "kind",
    ),
    "campaign-by-name": Rewrite(
        "campaign",
        "id, name, kind, first_run, last_run, manifest_sha256, info, created_at",
        "SELECT id + 1000, name, 'forged', first_run, last_run, manifest_sha256, info, "
        "created_at FROM campaign WHERE name = 'weekly-run1000'",
        "name",
        "kind",
    ),
    "campaign-payload": Rewrite(
        "campaign_payload",
        "campaign_id, record, payload_hash, tag_id, since",
        "SELECT campaign_id, record, payload_hash, tag_id, since + 1 FROM campaign_payload "
        "WHERE record = 'light_yield'",
        "campaign_id, record",
        "since",
    ),
}

LITERALS = {
    "sqlite": {"bytes": "X'00'", "tag_open": "'open'", "gt_open": "'open'"},
    "postgresql": {
        "bytes": "decode('00', 'hex')",
        "tag_open": "'open'::tag_state",
        "gt_open": "'open'::global_tag_state",
    },
}


def statements(rewrite: Rewrite, dialect: str) -> dict[str, str]:
    """Every form of the rewrite the dialect has: REPLACE (SQLite) and UPSERT (both)."""
    select = rewrite.select.format(**LITERALS[dialect])
    body = f"{rewrite.table} ({rewrite.columns}) {select}"
    upsert = (
        f"INSERT INTO {body} ON CONFLICT ({rewrite.key}) "
        f"DO UPDATE SET {rewrite.changed} = excluded.{rewrite.changed}"
    )
    if dialect == "postgresql":
        return {"upsert": upsert}
    return {
        "insert-or-replace": f"INSERT OR REPLACE INTO {body}",
        "replace-into": f"REPLACE INTO {body}",
        "upsert": upsert,
    }


def populate(engine: Engine) -> Engine:
    """One row of every guarded kind: payloads, an open and a locked tag with IOVs, a frozen and
    an open global tag with map rows, a campaign with its records."""
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
        h1 = store.put_payload(s, "json", b'{"v":1}').hash
        store.put_payload(s, "json", b'{"v":2}')
        for name in ("open_tag", "locked_tag"):
            store.create_tag(s, name, "json")
            store.append_iovs(s, name, [(1, h1)])
        store.lock_tag(s, "locked_tag")
        store.create_global_tag(s, "GT")
        store.set_record(s, "GT", "rec", "open_tag")
        publish(s, "GT")
        store.create_global_tag(s, "GT_open")
        store.set_record(s, "GT_open", "rec_of_open_gt", "open_tag")
        upload_campaign(s, constants())
    return engine


@pytest.fixture
def populated(engine: Engine) -> Engine:
    return populate(engine)


def table_rows(engine: Engine, table: str) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2"))]


def _cases(dialect: str) -> list[tuple[str, str]]:
    return [(name, form) for name, rw in REWRITES.items() for form in statements(rw, dialect)]


@pytest.mark.parametrize(("name", "form"), _cases("sqlite"))
def test_replace_and_upsert_cannot_rewrite_a_guarded_row(
    populated: Engine, name: str, form: str
) -> None:
    """SQLite: each form with ``recursive_triggers`` off (the default) and on."""
    dialect = populated.dialect.name
    forms = statements(REWRITES[name], dialect)
    if form not in forms:
        pytest.skip(f"{form} does not exist on {dialect}")
    rewrite = REWRITES[name]
    watched = ["payload", "tag", "iov", "global_tag", "global_tag_map", "campaign",
               "campaign_payload"]
    before = {t: table_rows(populated, t) for t in watched}
    assert any(before[rewrite.table]), "the fixture must hold the row the attack targets"
    for recursive in ("OFF", "ON") if dialect == "sqlite" else ("",):
        with pytest.raises(DBAPIError, match="conddb"), populated.begin() as conn:
            if recursive:
                conn.exec_driver_sql(f"PRAGMA recursive_triggers = {recursive}")
            conn.execute(text(forms[form]))
        assert {t: table_rows(populated, t) for t in watched} == before, recursive


def test_library_writes_still_pass_the_replace_guards(populated: Engine) -> None:
    """The guards refuse key collisions only: idempotent library writes of existing content and
    appends to open tags still work (they look the key up before inserting)."""
    with write_session(populated) as s:
        again = store.put_payload(s, "json", b'{"v":1}')
        assert not again.created
        assert store.create_tag(s, "open_tag", "json", exist_ok=True).name == "open_tag"
        assert store.append_iovs(s, "open_tag", [(9, again.hash)]).added == 1
        upload_campaign(s, constants())  # the same campaign again: a no-op
    with write_session(populated) as s:
        assert [i.since for i in store.list_iovs(s, "open_tag")] == [1, 9]
