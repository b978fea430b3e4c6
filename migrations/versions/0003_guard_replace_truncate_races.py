"""Guards against REPLACE (SQLite), TRUNCATE and the lock-vs-append race (PostgreSQL).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

The row triggers of 0001/0002 left three holes for a client writing raw SQL:

* **SQLite ``INSERT OR REPLACE`` / ``REPLACE INTO``** resolves a key conflict by deleting the
  old row *without* firing its DELETE triggers (unless the connection set
  ``PRAGMA recursive_triggers``), so a payload could be rewritten under its hash, a locked tag
  or a frozen global tag re-opened, an IOV or a map row rewritten.  A ``BEFORE INSERT`` trigger
  now refuses any insert whose key (primary key or unique name) collides with a guarded row:
  every payload, IOV, map row and campaign row, and a locked tag / a frozen global tag.  The
  trigger fires before conflict resolution, so it holds for ``OR REPLACE``, ``REPLACE INTO``
  and ``ON CONFLICT DO UPDATE`` alike, whatever ``recursive_triggers`` says.  (The library
  looks a key up before it inserts, so its own idempotent writes never reach these triggers.)
* **PostgreSQL ``TRUNCATE``** fires no row trigger: statement-level ``BEFORE TRUNCATE``
  triggers now refuse it on every guarded table (``TRUNCATE ... CASCADE`` included, since it
  fires the triggers of every table it empties).
* **PostgreSQL lock-vs-append race**: the IOV (map-row) guard read the tag (global tag) state
  from its snapshot, so an IOV inserted before a concurrent ``lock`` committed could land in the
  locked tag.  The guards now read the state ``FOR SHARE``: a lock waits for an uncommitted
  append, and an append waits for an uncommitted lock and then sees ``locked``.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: (table, condition on NEW that collides with a guarded row, message) for SQLite.
SQLITE_REPLACE_GUARDS = [
    ("payload", "EXISTS (SELECT 1 FROM payload WHERE hash = NEW.hash)", "payloads are immutable"),
    ("iov", "EXISTS (SELECT 1 FROM iov WHERE id = NEW.id)", "IOVs are append-only"),
    (
        "tag",
        "EXISTS (SELECT 1 FROM tag WHERE (id = NEW.id OR name = NEW.name) AND state = 'locked')",
        "tag is locked",
    ),
    (
        "global_tag",
        "EXISTS (SELECT 1 FROM global_tag "
        "WHERE (id = NEW.id OR name = NEW.name) AND state = 'frozen')",
        "global tag is frozen",
    ),
    (
        "global_tag_map",
        "EXISTS (SELECT 1 FROM global_tag_map WHERE id = NEW.id)",
        "map rows are append-only",
    ),
    (
        "campaign",
        "EXISTS (SELECT 1 FROM campaign WHERE id = NEW.id OR name = NEW.name)",
        "campaign records are immutable",
    ),
    (
        "campaign_payload",
        "EXISTS (SELECT 1 FROM campaign_payload "
        "WHERE campaign_id = NEW.campaign_id AND record = NEW.record)",
        "campaign records are immutable",
    ),
]

#: Tables PostgreSQL must never TRUNCATE (history, locked and frozen objects live in them).
TRUNCATE_GUARDED = (
    "payload",
    "iov",
    "tag",
    "global_tag",
    "global_tag_map",
    "campaign",
    "campaign_payload",
)


def _state_guard(function: str, table: str, parent: str, column: str, state: str, what: str,
                 lock: str) -> str:
    """plpgsql guard: refuse an insert into ``table`` whose ``parent`` row is in ``state``."""
    return f"""
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT state FROM {parent} WHERE id = NEW.{column}{lock}) = '{state}' THEN
        RAISE EXCEPTION 'conddb: INSERT on {table} refused: {what}'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;
"""


def _postgres_guards(lock: str) -> str:
    return _state_guard(
        "conddb_iov_guard", "iov", "tag", "tag_id", "locked", "tag is locked", lock
    ) + _state_guard(
        "conddb_gt_map_guard",
        "global_tag_map",
        "global_tag",
        "global_tag_id",
        "frozen",
        "global tag is frozen",
        lock,
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_postgres_guards(" FOR SHARE"))
        for table in TRUNCATE_GUARDED:
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION "
                "conddb_refuse('conditions history is never truncated')"
            )
        return
    for table, collides, message in SQLITE_REPLACE_GUARDS:
        op.execute(
            f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} FOR EACH ROW "
            f"WHEN {collides} BEGIN SELECT RAISE(ABORT, "
            f"'conddb: {table} change refused: {message} (key exists)'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TRUNCATE_GUARDED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute(_postgres_guards(""))  # the 0001 bodies (no row lock)
        return
    for table, *_ in SQLITE_REPLACE_GUARDS:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_replace")
